import type { Clock } from '../base/clock.js';

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

/**
 * Starts the time limit of one call: returns a signal that aborts with the caller's reason when `signal`
 * aborts, or with a {@link WaitExpired} after `waitMs`; `stop()` clears the timer and the listener.
 */
export function startWaitDeadline(
  clock: Clock,
  waitMs: number,
  signal: AbortSignal | undefined,
): { readonly signal: AbortSignal; readonly stop: () => void } {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal?.reason);
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener('abort', onAbort, { once: true });
  const timer = clock.setTimeout(() => controller.abort(new WaitExpired(waitMs)), waitMs);
  return {
    signal: controller.signal,
    stop: () => {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}
