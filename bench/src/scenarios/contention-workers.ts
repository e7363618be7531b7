import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Contender } from '../contenders/contender.js';
import { takeUsageSnapshot, type UsageSnapshot, usageBetween } from '../measure/usage-snapshot.js';
import { LatencySamples } from '../measure/latency-samples.js';

/** How the workers of S3 behave. */
export interface ContentionSettings {
  /** How long a worker keeps the lock once it has it, in milliseconds (a timer: about 1.1 ms for 1). */
  readonly holdMs: number;
  /** How long a worker waits after its release before it asks again, in milliseconds. */
  readonly pauseAfterReleaseMs: number;
}

/** One time a worker held the lock. All times are `performance.now()` of this one process. */
interface Holding {
  readonly worker: number;
  readonly requestedAt: number;
  readonly acquiredAt: number;
  releaseCalledAt: number;
  releasedAt: number;
}

/** What {@link runContention} saw during its window. */
export interface ContentionOutcome {
  /** Every holding, in acquisition order, including those after the window (they close the last gap). */
  readonly holdings: readonly Holding[];
  /** When each give-up (a rejected acquire) happened. */
  readonly giveUpTimes: readonly number[];
  /** When each rejected release happened (the keys then stay until their TTL runs out). */
  readonly releaseErrorTimes: readonly number[];
  readonly windowStart: number;
  readonly windowEnd: number;
  /** CPU and Redis commands spent over the window. */
  readonly usage: UsageSnapshot;
  readonly workers: number;
}

/**
 * Runs one worker per entry of `workers`, in this process, contending for one resource: acquire (with the
 * contender's retry policy), hold, release, pause, again. Entries are separate instances with their own
 * clients, as separate processes would have, or the same instance repeated (`--s3-shared-clients`).
 * After the window, workers finish what they are waiting for and stop. Since every worker runs in one
 * process, one monotonic clock times them all, so "release resolved → next acquire resolved" is measured
 * exactly, without clock skew between processes.
 */
export async function runContention(options: {
  readonly workers: readonly Contender[];
  readonly resource: string;
  readonly durationMs: number;
  readonly settings: ContentionSettings;
  readonly monitors: readonly Redis[];
}): Promise<ContentionOutcome> {
  const { workers, resource, durationMs, settings, monitors } = options;
  const holdings: Holding[] = [];
  const giveUpTimes: number[] = [];
  const releaseErrorTimes: number[] = [];
  const usageStart = await takeUsageSnapshot(monitors, false);
  const windowStart = performance.now();
  const windowEnd = windowStart + durationMs;
  const usageAtWindowEnd = sleep(durationMs).then(() => takeUsageSnapshot(monitors, true));

  const work = async (contender: Contender, index: number): Promise<void> => {
    while (performance.now() < windowEnd) {
      const requestedAt = performance.now();
      let release: () => Promise<void>;
      try {
        release = await contender.acquire(resource);
      } catch {
        giveUpTimes.push(performance.now());
        continue;
      }
      const holding: Holding = { worker: index, requestedAt, acquiredAt: performance.now(), releaseCalledAt: Number.NaN, releasedAt: Number.NaN };
      holdings.push(holding);
      await sleep(settings.holdMs);
      holding.releaseCalledAt = performance.now();
      await release().catch(() => releaseErrorTimes.push(performance.now()));
      holding.releasedAt = performance.now();
      if (settings.pauseAfterReleaseMs > 0) await sleep(settings.pauseAfterReleaseMs);
    }
  };
  await Promise.all(workers.map(work));
  const usage = usageBetween(usageStart, await usageAtWindowEnd);
  return { holdings, giveUpTimes, releaseErrorTimes, windowStart, windowEnd, usage, workers: workers.length };
}

/** The figures S3 reports from one {@link ContentionOutcome}; see the S3 metric labels. */
export function contentionFigures(outcome: ContentionOutcome): Record<string, number> {
  const { holdings, windowStart, windowEnd } = outcome;
  const isInWindow = (at: number): boolean => at >= windowStart && at < windowEnd;
  const waits = new LatencySamples();
  const idleGaps = new LatencySamples();
  const releaseToNext = new LatencySamples();
  const perWorker = new Array<number>(outcome.workers).fill(0);
  let acquisitions = 0;
  let followers = 0;
  let handOffs = 0;
  let overlaps = 0;
  holdings.forEach((holding, index) => {
    if (!isInWindow(holding.acquiredAt)) return;
    acquisitions += 1;
    perWorker[holding.worker] = (perWorker[holding.worker] ?? 0) + 1;
    waits.add(holding.acquiredAt - holding.requestedAt);
    const previous = holdings[index - 1];
    if (previous === undefined) return;
    followers += 1;
    if (previous.worker !== holding.worker) handOffs += 1;
    // Acquired before the previous holder even called release(): two holders at once.
    if (holding.acquiredAt < previous.releaseCalledAt) overlaps += 1;
    // Acquired before the previous release() resolved (a library that answers release after every node,
    // while the next acquire needs only a quorum): no idle time at all.
    idleGaps.add(Math.max(0, holding.acquiredAt - previous.releasedAt));
    // The same gap measured from the release() call, which does not depend on when a library lets its
    // release() resolve: one release plus one acquire round trip at best.
    releaseToNext.add(holding.acquiredAt - previous.releaseCalledAt);
  });
  const seconds = (windowEnd - windowStart) / 1000;
  const [waitP50Ms = Number.NaN, waitP99Ms = Number.NaN, waitMaxMs = Number.NaN] = waits.percentiles(50, 99, 100);
  const [idleGapP50Ms = Number.NaN, idleGapP99Ms = Number.NaN] = idleGaps.percentiles(50, 99);
  const [releaseToNextP50Ms = Number.NaN] = releaseToNext.percentiles(50);
  return {
    acquisitionsPerSec: acquisitions / seconds,
    waitP50Ms,
    waitP99Ms,
    waitMaxMs,
    giveUps: outcome.giveUpTimes.filter(isInWindow).length,
    releaseErrors: outcome.releaseErrorTimes.filter(isInWindow).length,
    starvedWorkers: perWorker.filter((count) => count === 0).length,
    handOffPercent: (100 * handOffs) / followers,
    idleGapP50Ms,
    idleGapP99Ms,
    releaseToNextP50Ms,
    clientCpuUsPerAcquisition: outcome.usage.clientCpuUs / acquisitions,
    redisCpuUsPerAcquisition: outcome.usage.redisCpuUs / acquisitions,
    redisCallsPerAcquisition: outcome.usage.redisCalls / acquisitions,
    overlaps,
  };
}
