import type { Clock } from '../../../src/index.js';
import type { FakeClock } from '../fake-clock.js';

/** Where a clock's reading is, from one true instant on: local = `localMs` + rate × (true − `fromTrueMs`). */
interface Segment {
  readonly fromTrueMs: number;
  readonly localMs: number;
}

/** The wall-clock reading at local time 0, so `wallNow()` looks like a date. */
const WALL_START_MS = 1_700_000_000_000;

/**
 * One machine's view of the simulation's true timeline (a shared {@link FakeClock}): its clock runs at
 * `rate` local milliseconds per true millisecond (1.001 is 0.1 % fast) and may be stepped by {@link jump}.
 * A client's `Redlock` uses it as its `clock`; a simulated server expires keys by one.
 *
 * Timers are set in local milliseconds and fire after `ms / rate` true milliseconds: a step of the clock
 * does not move them, as Node's timers run on the monotonic clock whatever `now()` says.
 */
export class DriftingClock implements Clock {
  readonly trueClock: FakeClock;
  readonly rate: number;
  /** The clock's readings over time: one segment from the start, one more per jump. */
  readonly #segments: Segment[];

  constructor(trueClock: FakeClock, rate: number, startMs = 0) {
    if (!(rate > 0)) throw new RangeError(`Expected a positive clock rate, got ${rate}`);
    this.trueClock = trueClock;
    this.rate = rate;
    this.#segments = [{ fromTrueMs: trueClock.now(), localMs: startMs }];
  }

  now(): number {
    return this.localAt(this.trueClock.now());
  }

  wallNow(): number {
    return WALL_START_MS + this.now();
  }

  setTimeout(callback: () => void, ms: number): unknown {
    return this.trueClock.setTimeout(callback, Math.max(0, ms) / this.rate);
  }

  clearTimeout(handle: unknown): void {
    this.trueClock.clearTimeout(handle);
  }

  /** Steps the clock by `ms` (forward if positive) at the current true time: what NTP in step mode does. */
  jump(ms: number): void {
    this.#segments.push({ fromTrueMs: this.trueClock.now(), localMs: this.now() + ms });
  }

  /** The local reading at true time `trueMs`. */
  localAt(trueMs: number): number {
    const segment = this.#segmentAt(trueMs);
    return segment.localMs + this.rate * (trueMs - segment.fromTrueMs);
  }

  /**
   * The true-time intervals within [`fromTrueMs`, `untilTrueMs`) during which this clock reads less than
   * `localMs`: when a client that compares its clock with `localMs` believes it is still before it. One
   * interval unless the clock jumped back across `localMs`. Call it once the run is over, so every jump
   * is known.
   */
  intervalsBefore(localMs: number, fromTrueMs: number, untilTrueMs: number): { fromMs: number; untilMs: number }[] {
    const intervals: { fromMs: number; untilMs: number }[] = [];
    this.#segments.forEach((segment, index) => {
      const beginMs = Math.max(fromTrueMs, segment.fromTrueMs);
      const endMs = Math.min(untilTrueMs, this.#segments[index + 1]?.fromTrueMs ?? Infinity);
      if (beginMs >= endMs) return;
      const reachedAtMs = segment.fromTrueMs + (localMs - segment.localMs) / this.rate;
      const untilMs = Math.min(endMs, reachedAtMs);
      if (untilMs > beginMs) intervals.push({ fromMs: beginMs, untilMs });
    });
    return intervals;
  }

  #segmentAt(trueMs: number): Segment {
    let found = this.#segments[0] as Segment;
    for (const segment of this.#segments) if (segment.fromTrueMs <= trueMs) found = segment;
    return found;
  }
}
