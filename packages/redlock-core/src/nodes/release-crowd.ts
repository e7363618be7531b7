// How crowded a release channel is: how many processes listen there (counted on the node now and then) and
// how fast the resource changes hands (read from the announcements). Waiters use it to spread their woken
// attempts when many wait (see `ReleaseCrowd.restMs`).

/** How many of the latest intervals between announcements are kept. */
const KEPT_INTERVALS = 5;

/** How often the listeners are counted again at most, in milliseconds. */
export const LISTENER_COUNT_EVERY_MS = 250;

/**
 * One release channel on one node, as a `Redlock` hears it: the intervals between its announcements, and
 * the number of connections subscribed to it, which `count` asks the node for (`PUBSUB NUMSUB`). It is
 * counted only when a waiter asks how long to rest (its woken attempt found the lock taken), at most every
 * {@link LISTENER_COUNT_EVERY_MS}: a release never pays for it, and an uncontended lock never counts.
 */
export class ReleaseCrowd {
  readonly #count: () => Promise<number>;
  /** How many listened at the latest count; 0 before one answered, or when it failed. */
  #listeners = 0;
  #countedAt = -Infinity;
  #lastHeardAt = Number.NaN;
  /** The latest intervals between announcements, in milliseconds, as a ring of {@link KEPT_INTERVALS}. */
  readonly #intervalsMs: number[] = [];
  #nextSlot = 0;

  /** @param count - Counts the channel's subscribers on the node; may reject. */
  constructor(count: () => Promise<number>) {
    this.#count = count;
  }

  /** Takes in one announcement, heard at `now` on the clock. */
  hear(now: number): void {
    if (!Number.isNaN(this.#lastHeardAt)) {
      this.#intervalsMs[this.#nextSlot] = now - this.#lastHeardAt;
      this.#nextSlot = (this.#nextSlot + 1) % KEPT_INTERVALS;
    }
    this.#lastHeardAt = now;
  }

  /**
   * How long a waiter whose woken attempt failed, at `now` on the clock, lets announcements rest for the
   * crowd alone: the time in which a quarter as many releases as there are listeners come, at the recent
   * pace, spread at random by ±50% so that waiters that failed together do not wake together. Each
   * listener then tries again after about that many releases, so about four woken attempts follow each
   * release however many wait, where every listener's would follow each release otherwise (and all but one
   * find the lock taken). A quarter rather than fewer: with a handful of listeners this is no longer than a
   * waiter rests alone, and a longer rest delays the hand-off when the lock is released and nobody retakes
   * it (measured: bench/RESULTS.md).
   *
   * The pace is the lower median of the latest intervals: a quiet spell before a burst of contention is an
   * outlier there, and must not make waiters rest through the burst's releases (a pace read too fast only
   * brings back some of the attempts the rest saves). Counts the listeners again when the count is older
   * than {@link LISTENER_COUNT_EVERY_MS}, for the next call: this one uses the count it has. 0 with fewer
   * than three listeners, or before two intervals are known: a waiter then rests as it would alone. The
   * caller bounds it.
   */
  restMs(now: number): number {
    if (now - this.#countedAt >= LISTENER_COUNT_EVERY_MS) this.#recount(now);
    const count = this.#intervalsMs.length;
    if (this.#listeners < 3 || count < 2) return 0;
    const paceMs = [...this.#intervalsMs].sort((a, b) => a - b)[(count - 1) >> 1] as number;
    return ((this.#listeners * paceMs) / 4) * (0.5 + Math.random());
  }

  #recount(now: number): void {
    this.#countedAt = now;
    // A count that fails (a node down, an adapter that cannot run it, or one that throws instead of
    // rejecting) leaves the waiters resting as alone; it never fails the waiter that asked.
    let counting: Promise<number>;
    try {
      counting = this.#count();
    } catch {
      this.#listeners = 0;
      return;
    }
    counting.then(
      (listeners) => {
        this.#listeners = listeners;
      },
      () => {
        this.#listeners = 0;
      },
    );
  }
}
