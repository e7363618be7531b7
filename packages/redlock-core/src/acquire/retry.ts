/**
 * The pause before the next attempt, in milliseconds: `baseMs` plus a uniform random jitter in
 * `[−jitterMs, +jitterMs]`, never below zero, so that clients that failed together do not collide again.
 */
export function retryDelayMs(baseMs: number, jitterMs: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(baseMs + (random() * 2 - 1) * jitterMs));
}

/**
 * The least rest, in milliseconds, after an attempt a node's wake started failed (the rest is the longer of
 * this and 9 times that attempt): anyone who can PUBLISH can forge a wake, which must not make a waiter ask
 * a node as fast as it answers. Short enough that a hold handed on every few ms still wakes a waiter.
 */
export const WAKE_REST_MS = 4;

/**
 * Why the signal of a call with a finite `waitMs` (in milliseconds) aborted when that time ran out. The caller
 * gets a `LockAcquireError` instead: a wait that runs out is a failure to acquire, not a cancellation.
 */
export class WaitExpired {
  constructor(readonly waitMs: number) {}
}
