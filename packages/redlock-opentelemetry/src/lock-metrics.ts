// The metrics: instruments made from one meter, and what each traced call and each message adds to them.
// Durations are histograms in seconds, as OpenTelemetry's semantic conventions have them.
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { REDLOCK_ATTRIBUTES as A } from './attributes.js';
import type { EndedHold, HoldTimes } from './hold-times.js';
import type { OperationFacts } from './operations.js';

/** The names of the metrics this instrumentation records. */
export const REDLOCK_METRICS = {
  /** Counter (`{acquisition}`): acquisitions that got their lock, semaphore permits or read-write lock, by `redlock.primitive`. */
  acquisitions: 'redlock.acquisitions',
  /** Counter (`{failure}`): acquisitions that did not, by `redlock.primitive` and `redlock.failure.reason`. */
  acquireFailures: 'redlock.acquire.failures',
  /** Histogram (`s`): the wait, from the call to its lock or to giving up, by `redlock.primitive`, `redlock.operation`, `redlock.outcome`. */
  acquireDuration: 'redlock.acquire.duration',
  /** Histogram (`s`): how long a hold lasted, from its acquisition to its release or loss, by `redlock.primitive` and `redlock.hold.end`. */
  holdDuration: 'redlock.hold.duration',
  /** Counter (`{error}`): failed node calls, by `redlock.node.index`, `redlock.node.operation` and `error.type`. */
  nodeErrors: 'redlock.node.errors',
  /** Counter (`{lock}`): held locks that could no longer be guaranteed, by `redlock.lost.reason`. */
  locksLost: 'redlock.locks.lost',
} as const;

/** Bucket boundaries for a wait, in seconds: from a free lock on a near node to a long contended wait. */
const WAIT_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Bucket boundaries for a hold, in seconds: from a short critical section to a long job. */
const HOLD_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** The instruments of one meter, and the holds they are timing. */
export class LockMetrics {
  readonly #acquisitions: Counter;
  readonly #acquireFailures: Counter;
  readonly #acquireDuration: Histogram;
  readonly #holdDuration: Histogram;
  readonly #nodeErrors: Counter;
  readonly #locksLost: Counter;
  readonly #holds: HoldTimes;
  /** The attribute sets recorded so far, by what they hold: made once each, not per call (see {@link #attributes}). */
  readonly #attributeSets = new Map<string, Attributes>();

  /** Makes the instruments from `meter`; `holds` outlives them when the meter provider changes. */
  constructor(meter: Meter, holds: HoldTimes) {
    this.#holds = holds;
    this.#acquisitions = meter.createCounter(REDLOCK_METRICS.acquisitions, { unit: '{acquisition}', description: 'Acquisitions that got what they asked for' });
    this.#acquireFailures = meter.createCounter(REDLOCK_METRICS.acquireFailures, { unit: '{failure}', description: 'Acquisitions that did not, by reason' });
    this.#acquireDuration = meter.createHistogram(REDLOCK_METRICS.acquireDuration, {
      unit: 's',
      description: 'Time from an acquisition call to its lock, or to giving up',
      advice: { explicitBucketBoundaries: WAIT_BUCKETS_S },
    });
    this.#holdDuration = meter.createHistogram(REDLOCK_METRICS.holdDuration, {
      unit: 's',
      description: 'Time from an acquisition to its release or loss',
      advice: { explicitBucketBoundaries: HOLD_BUCKETS_S },
    });
    this.#nodeErrors = meter.createCounter(REDLOCK_METRICS.nodeErrors, { unit: '{error}', description: 'Node calls that failed, timed out or were skipped as down' });
    this.#locksLost = meter.createCounter(REDLOCK_METRICS.locksLost, { unit: '{lock}', description: 'Held locks that could no longer be guaranteed' });
  }

  /**
   * Records one acquisition that ended after `durationMs`, holding hold `holdId` or failing for `reason`;
   * a re-entrant one starts no hold of its own.
   */
  acquired(facts: OperationFacts, holdId: number | undefined, reason: string | undefined, durationMs: number, nowMs: number): void {
    const { primitive, operation } = facts;
    const key = `${primitive} ${operation} ${reason ?? ''}`;
    this.#acquireDuration.record(
      durationMs / 1_000,
      this.#attributes(`wait ${key}`, () => ({
        [A.primitive]: primitive,
        [A.operation]: operation,
        [A.outcome]: reason === undefined ? 'acquired' : 'failed',
        ...(reason === undefined ? {} : { [A.failureReason]: reason }),
      })),
    );
    if (reason !== undefined) {
      this.#acquireFailures.add(1, this.#attributes(`failure ${key}`, () => ({ [A.primitive]: primitive, [A.failureReason]: reason })));
      return;
    }
    this.#acquisitions.add(1, this.#attributes(`primitive ${primitive}`, () => ({ [A.primitive]: primitive })));
    if (!facts.isReentrant && holdId !== undefined) this.#holds.start(holdId, primitive, nowMs);
  }

  /** Records the end of hold `holdId` by a release, confirmed or not. */
  released(holdId: number, nowMs: number): void {
    this.#recordHold(this.#holds.end(holdId, nowMs), 'released');
  }

  /** Records a lost lock, and the end of its hold `holdId`. */
  lost(holdId: number, reason: string, nowMs: number): void {
    this.#locksLost.add(1, { [A.lostReason]: reason });
    this.#recordHold(this.#holds.end(holdId, nowMs), 'lost');
  }

  /** Records one failed node call. */
  nodeFailed(attributes: Attributes): void {
    this.#nodeErrors.add(1, attributes);
  }

  #recordHold(ended: EndedHold | undefined, end: 'released' | 'lost'): void {
    if (ended === undefined) return;
    const { primitive } = ended;
    this.#holdDuration.record(ended.heldMs / 1_000, this.#attributes(`hold ${primitive} ${end}`, () => ({ [A.primitive]: primitive, [A.holdEnd]: end })));
  }

  /**
   * The attribute set named `key`, made by `make` the first time: the values are a few fixed names
   * (primitives, operations, failure reasons), so the sets stay few, and the SDK only reads them.
   */
  #attributes(key: string, make: () => Attributes): Attributes {
    let attributes = this.#attributeSets.get(key);
    if (attributes === undefined) {
      attributes = Object.freeze(make());
      this.#attributeSets.set(key, attributes);
    }
    return attributes;
  }
}
