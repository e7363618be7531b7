/**
 * The pause before the next attempt, in milliseconds: `baseMs` plus a uniform random jitter in
 * `[−jitterMs, +jitterMs]`, never below zero, so that clients that failed together do not collide again.
 */
export function retryDelayMs(baseMs: number, jitterMs: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(baseMs + (random() * 2 - 1) * jitterMs));
}

/**
 * The least wait, in milliseconds, after a woken attempt that failed; the wait is the longest of this, 9
 * times that attempt (woken attempts take at most a tenth of a waiter's time) and the crowd's share
 * (`KeyWatch.crowdRestMs`). Anyone who can PUBLISH can forge a wake: without a rest, a waiter would ask its
 * lead node as fast as it answers. Short enough that a hold handed on every few ms still wakes a waiter.
 */
export const WAKE_REST_MS = 4;

/**
 * Why the signal of a call with a finite `waitMs` aborted when that time ran out. The caller gets a
 * `LockAcquireError` instead: a wait that runs out is a failure to acquire, not a cancellation.
 */
export class WaitExpired {
  /** @param waitMs - The `waitMs` that ran out, in milliseconds. */
  constructor(readonly waitMs: number) {}
}
