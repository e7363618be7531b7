import type { AcquireAttempt } from '../base/outcomes.js';

/** What the log reads of a failed attempt: whether its signal cut it off before its vote was decided. */
export interface LoggedAttempt {
  readonly isCutOff?: true;
}

/**
 * How many of the latest failed attempts an {@link AttemptLog} keeps, besides the first: with the default
 * `retryCount` (10), every attempt is kept.
 */
export const KEPT_LATEST_ATTEMPTS = 10;

/**
 * The failed attempts of one call (a lock's, a semaphore's or a read-write lock's), in bounded memory however
 * long it waits: the first, the latest {@link KEPT_LATEST_ATTEMPTS}, and a count of all. A call that retries
 * for an hour makes tens of thousands of attempts (about 380 bytes each); what a caller needs from them is
 * how it began and how it ended.
 */
export class AttemptLog<F extends LoggedAttempt = AcquireAttempt> {
  /** How many attempts were added, kept or not. */
  count = 0;
  #first: F | undefined;
  /** The latest attempts after the first, oldest first; made with the second attempt (most calls make one). */
  #latest: F[] | undefined;
  /** The latest attempt added that was not cut off (see {@link AcquireAttempt.isCutOff}), kept or not. */
  lastDecided: F | undefined;

  add(attempt: F): void {
    this.count += 1;
    if (attempt.isCutOff !== true) this.lastDecided = attempt;
    if (this.#first === undefined) {
      this.#first = attempt;
      return;
    }
    const latest = (this.#latest ??= []);
    latest.push(attempt);
    if (latest.length > KEPT_LATEST_ATTEMPTS) latest.shift();
  }

  /** The latest attempt added, if any. */
  get last(): F | undefined {
    return this.#latest?.at(-1) ?? this.#first;
  }

  /** The kept attempts, in order: the first, then the latest. */
  kept(): F[] {
    return this.#first === undefined ? [] : [this.#first, ...(this.#latest ?? [])];
  }
}
