// How crowded a release channel is, read from its announcements: how many processes listen there (the node
// counts them as it publishes) and how fast the resource changes hands. Waiters use it to spread their woken
// attempts when many wait (see `ReleaseCrowd.restMs`).

/** How many of the latest intervals between announcements are kept. */
const KEPT_INTERVALS = 5;

/** The most listeners an announcement is believed to report: beyond it, the message is not a count. */
const MAX_LISTENERS = 1_000_000;

/**
 * The announcements of one release channel on one node, as they are heard. Each carries the number of
 * connections subscribed to the channel when the node published it (the release scripts send `PUBSUB
 * NUMSUB`'s count); a message that is not such a count (an older release script sent `'1'`, or an adapter
 * passes no message) reports nothing.
 */
export class ReleaseCrowd {
  /** How many listened at the latest announcement; 0 when it did not say. */
  #listeners = 0;
  #lastHeardAt = Number.NaN;
  /** The latest intervals between announcements, in milliseconds, as a ring of {@link KEPT_INTERVALS}. */
  readonly #intervalsMs: number[] = [];
  #nextSlot = 0;

  /** Takes in one announcement, heard at `now` on the clock, with its message. */
  hear(message: string | undefined, now: number): void {
    const listeners = Number(message);
    this.#listeners = Number.isInteger(listeners) && listeners >= 1 && listeners <= MAX_LISTENERS ? listeners : 0;
    if (!Number.isNaN(this.#lastHeardAt)) {
      this.#intervalsMs[this.#nextSlot] = now - this.#lastHeardAt;
      this.#nextSlot = (this.#nextSlot + 1) % KEPT_INTERVALS;
    }
    this.#lastHeardAt = now;
  }

  /**
   * How long a waiter whose woken attempt failed lets announcements rest, for the crowd alone: the time in
   * which a quarter as many releases as there are listeners come, at the recent pace, spread at random by
   * ±50% so that waiters that failed together do not wake together. Each listener then tries again after
   * about that many releases, so about four woken attempts follow each release however many wait, where
   * every listener's would follow each release otherwise (and all but one find the lock taken). A quarter
   * rather than fewer: with a handful of listeners this is no longer than a waiter rests alone, and a
   * longer rest delays the hand-off when the lock is released and nobody retakes it (measured:
   * bench/RESULTS.md).
   *
   * The pace is the lower median of the latest intervals: a quiet spell before a burst of contention is an
   * outlier there, and must not make waiters rest through the burst's releases (a pace read too fast only
   * brings back some of the attempts the rest saves). 0 with fewer than three listeners, or before two
   * intervals are known: a waiter then rests as it would alone. The caller bounds it (a forged count must
   * not silence the wakes).
   */
  restMs(): number {
    const count = this.#intervalsMs.length;
    if (this.#listeners < 3 || count < 2) return 0;
    const paceMs = [...this.#intervalsMs].sort((a, b) => a - b)[(count - 1) >> 1] as number;
    return ((this.#listeners * paceMs) / 4) * (0.5 + Math.random());
  }
}
