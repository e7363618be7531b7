/**
 * The pause before the next attempt, in milliseconds: `baseMs` plus a uniform random jitter in
 * `[−jitterMs, +jitterMs]`, never below zero, so that clients that failed together do not collide again.
 */
export function retryDelayMs(baseMs: number, jitterMs: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(baseMs + (random() * 2 - 1) * jitterMs));
}

/**
 * How long a waiter waits before it acts on a wake, in milliseconds, once `failures` woken attempts in a row
 * failed: not at all after the first three (a releaser that took the hold back, or another waiter that won
 * it, now and then: the next release is likely a hand-off, as in S3 tuned), then 1, 2, 4, 8 and 16 ms, and
 * 16 ms from then on. A releaser that takes the hold back at once, every time (S3 at the defaults), then
 * costs an ask every 16 ms, not one per release, and still hands the hold on within 16 ms of the release it
 * does not take back; wakes forged by anyone who can PUBLISH on a node never make a waiter ask as fast as
 * the node answers. A due timed retry ends any rest.
 */
export function wakeRestMs(failures: number): number {
  return failures <= 3 ? 0 : 2 ** Math.min(failures - 4, WAKE_REST_DOUBLINGS);
}

/** How many times the rest of {@link wakeRestMs} doubles, from 1 ms: to 16 ms. */
const WAKE_REST_DOUBLINGS = 4;

/**
 * Why the signal of a call with a finite `waitMs` (in milliseconds) aborted when that time ran out. The caller
 * gets a `LockAcquireError` instead: a wait that runs out is a failure to acquire, not a cancellation.
 */
export class WaitExpired {
  constructor(readonly waitMs: number) {}
}
