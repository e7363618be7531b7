import type { Redis } from 'ioredis';
import type { Contender } from '../contenders/contender.js';
import { NO_USAGE, takeUsageSnapshot, type UsageSnapshot, usageBetween } from '../measure/usage-snapshot.js';
import { LatencySamples } from '../measure/latency-samples.js';

/** When the loops stop: after a duration (S1, S2, S4) or a number of cycles in all (S5). */
export type LoopEnd = { readonly durationMs: number } | { readonly cycles: number };

/** What {@link runAcquireReleaseLoops} measured. */
export interface LoopsOutcome {
  /** Completed acquire+release cycles, over every loop. */
  readonly cycles: number;
  /** Cycles whose acquire or release rejected; they count neither as cycles nor in the latencies. */
  readonly errors: number;
  /** The first rejection's message, if any. */
  readonly firstError: string | undefined;
  readonly elapsedMs: number;
  /** Per cycle: from calling acquire() until release() resolved, in milliseconds. */
  readonly cycleLatency: LatencySamples;
  /** Per cycle: from calling acquire() until it resolved, in milliseconds. */
  readonly acquireLatency: LatencySamples;
  /** CPU and Redis commands spent over the run; zero when no monitors were given. */
  readonly usage: UsageSnapshot;
}

/**
 * One timed sample of S1, S2 or S4: runs the loops for `durationMs` and returns their figures, reporting
 * the first error on the log if any cycle failed.
 */
export async function sampleLoops(options: {
  readonly contender: Contender;
  readonly name: string;
  readonly resources: readonly string[];
  readonly durationMs: number;
  readonly monitors?: readonly Redis[];
  readonly log: (line: string) => void;
}): Promise<Record<string, number>> {
  const { name, log, durationMs, ...loops } = options;
  const outcome = await runAcquireReleaseLoops({ ...loops, end: { durationMs } });
  if (outcome.errors > 0) log(`  ${name}: ${outcome.errors} of ${outcome.errors + outcome.cycles} cycles failed, first: ${outcome.firstError}`);
  return loopFigures(outcome);
}

/** The figures S1, S2 and S4 report from one {@link LoopsOutcome}. */
export function loopFigures(outcome: LoopsOutcome): Record<string, number> {
  const [p50Ms = Number.NaN, p99Ms = Number.NaN] = outcome.cycleLatency.percentiles(50, 99);
  const [acquireP50Ms = Number.NaN] = outcome.acquireLatency.percentiles(50);
  return {
    opsPerSec: (outcome.cycles * 1000) / outcome.elapsedMs,
    errors: outcome.errors,
    p50Ms,
    p99Ms,
    acquireP50Ms,
    clientCpuUsPerOp: outcome.usage.clientCpuUs / outcome.cycles,
    redisCpuUsPerOp: outcome.usage.redisCpuUs / outcome.cycles,
    redisCallsPerOp: outcome.usage.redisCalls / outcome.cycles,
  };
}

/**
 * Runs one acquire+release loop per resource, all at once, each cycle right after the previous one, and
 * times every cycle on the monotonic clock. These resources are never contended, so a rejection is an
 * error (e.g. a per-node timeout firing on a saturated event loop): it is counted, and the loop goes on.
 */
export async function runAcquireReleaseLoops(options: {
  readonly contender: Contender;
  readonly resources: readonly string[];
  readonly end: LoopEnd;
  /** Clients for `INFO`; without them CPU and Redis commands are not measured. */
  readonly monitors?: readonly Redis[];
  /** Whether to keep latencies (S5 does not, so the bench's own arrays do not count as heap growth). */
  readonly recordLatency?: boolean;
}): Promise<LoopsOutcome> {
  const { contender, resources, end, monitors = [], recordLatency = true } = options;
  const cycleLatency = new LatencySamples();
  const acquireLatency = new LatencySamples();
  let started = 0;
  let cycles = 0;
  let errors = 0;
  let firstError: string | undefined;
  const usageStart = monitors.length > 0 ? await takeUsageSnapshot(monitors, false) : undefined;
  const start = performance.now();
  const deadline = 'durationMs' in end ? start + end.durationMs : Number.POSITIVE_INFINITY;
  const cycleLimit = 'cycles' in end ? end.cycles : Number.POSITIVE_INFINITY;

  const loop = async (resource: string): Promise<void> => {
    while (started < cycleLimit && performance.now() < deadline) {
      started += 1;
      const begin = performance.now();
      let acquired: number;
      try {
        const release = await contender.acquire(resource);
        acquired = performance.now();
        await release();
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
        continue;
      }
      cycles += 1;
      if (recordLatency) {
        cycleLatency.add(performance.now() - begin);
        acquireLatency.add(acquired - begin);
      }
    }
  };
  await Promise.all(resources.map(loop));

  const elapsedMs = performance.now() - start;
  const usage = usageStart === undefined ? NO_USAGE : usageBetween(usageStart, await takeUsageSnapshot(monitors, true));
  return { cycles, errors, firstError, elapsedMs, cycleLatency, acquireLatency, usage };
}
