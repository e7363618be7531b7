import type { RetryPolicy } from '../contenders/contender.js';
import { describeSampling, runInterleavedRounds } from '../interleaved-rounds.js';
import type { SamplePlan } from '../plan.js';
import { type ContentionSettings, contentionFigures, runContention } from './contention-workers.js';
import type { ScenarioId } from '../scenario-ids.js';
import type { MetricSpec, Scenario } from '../scenario.js';

/** How many workers contend for the one resource. */
export const S3_WORKERS = 8;
/** How long each worker holds the lock, in milliseconds. */
export const S3_HOLD_MS = 1;
/** The tuned variant's pause after each release, in milliseconds: the releaser steps back, so nearly every acquisition is a hand-off. */
export const S3_TUNED_PAUSE_MS = 10;

const S3_METRICS: readonly MetricSpec[] = [
  { key: 'acquisitionsPerSec', label: 'acq/s', better: 'higher', digits: 0 },
  { key: 'waitP50Ms', label: 'wait p50 ms', better: 'lower', digits: 2 },
  { key: 'waitP99Ms', label: 'wait p99 ms', better: 'lower', digits: 1 },
  { key: 'giveUps', label: 'give-ups', digits: 0 },
  { key: 'starvedWorkers', label: 'starved workers', digits: 0 },
  { key: 'handOffPercent', label: 'hand-offs %', digits: 1 },
  { key: 'idleGapP50Ms', label: 'idle gap p50 ms', better: 'lower', digits: 2 },
  { key: 'idleGapP99Ms', label: 'idle gap p99 ms', better: 'lower', digits: 2 },
  { key: 'releaseToNextP50Ms', label: 'release call → next acq p50 ms', better: 'lower', digits: 2 },
  { key: 'clientCpuUsPerAcquisition', label: 'client CPU µs/acq', better: 'lower', digits: 0 },
  { key: 'redisCpuUsPerAcquisition', label: 'Redis CPU µs/acq', better: 'lower', digits: 0 },
  { key: 'redisCallsPerAcquisition', label: 'Redis cmds/acq', better: 'lower', digits: 1 },
  { key: 'releaseErrors', label: 'release errors', digits: 0 },
];

/** S3 at every library's documented defaults, each worker asking again right after its release. */
export const s3Defaults = contentionScenario({
  id: 'S3-defaults',
  title: `S3: ${S3_WORKERS} workers contending for one resource, holding ~${S3_HOLD_MS} ms, documented defaults`,
  retry: 'defaults',
  settings: { holdMs: S3_HOLD_MS, pauseAfterReleaseMs: 0 },
  plan: (context) => context.plan.s3Defaults,
});

/** S3 tuned: a 50 ms retry delay everywhere, each worker pausing 10 ms after its release. */
export const s3Tuned = contentionScenario({
  id: 'S3-tuned',
  title: `S3: ${S3_WORKERS} workers, ~${S3_HOLD_MS} ms holds, 50 ms retry delay, ${S3_TUNED_PAUSE_MS} ms pause after each release`,
  retry: 'tuned',
  settings: { holdMs: S3_HOLD_MS, pauseAfterReleaseMs: S3_TUNED_PAUSE_MS },
  plan: (context) => context.plan.s3Tuned,
});

function contentionScenario(variant: {
  readonly id: ScenarioId;
  readonly title: string;
  readonly retry: RetryPolicy;
  readonly settings: ContentionSettings;
  readonly plan: (context: Parameters<Scenario['run']>[0]) => SamplePlan;
}): Scenario {
  return {
    id: variant.id,
    title: variant.title,
    async run(context) {
      const plan = variant.plan(context);
      const isShared = context.plan.s3Clients === 'shared';
      const contenders = await runInterleavedRounds(
        context,
        { topology: 'near', retry: variant.retry, plan, label: variant.id, instances: isShared ? 1 : S3_WORKERS },
        async ({ definition, contender, instances, round, durationMs }) => {
          const figures = contentionFigures(
            await runContention({
              workers: isShared ? Array.from({ length: S3_WORKERS }, () => contender) : instances,
              resource: `bench:${variant.id}:${definition.name}:${round}`,
              durationMs,
              settings: variant.settings,
              monitors: context.nodes.monitors,
            }),
          );
          if ((figures['overlaps'] ?? 0) > 0) {
            context.log(`  ${definition.name}: ${figures['overlaps']} acquisitions overlapped the previous holder (mutual exclusion broken)`);
          }
          return figures;
        },
      );
      const clients = isShared ? 'all workers share one instance and its clients' : 'each worker has its own instance and clients';
      return { id: variant.id, title: variant.title, sampling: `${describeSampling(plan)}; ${clients}`, metrics: S3_METRICS, contenders };
    },
  };
}
