import { type Clock, unrefTimer } from '../base/clock.js';
import { LockLimitError, LockLostError, RedlockClosedError } from '../base/errors.js';
import { describeResources } from '../base/describe.js';
import type { HoldHandle } from '../lock/handle.js';
import type { HandleExtension } from '../lock/hold.js';
import type { ExtensionLimits } from '../settings/resolve-options.js';

export type { ExtensionLimits };

/** What automatic extension needs of what it keeps: a `Lock`, or a claim (`Permit`, `ReadWriteHandle`). */
export interface Extendable {
  readonly resources: readonly string[];
  /** Read for `'released'` and `'expired'`. */
  readonly state: string;
  readonly remainingValidityMs: number;
  /** Aborts when it can no longer be relied on; the hold re-arms it whenever its validity comes to end earlier. */
  readonly signal: AbortSignal;
  /** Extends it by `ttlMs`; when a quorum no longer holds it, tells `onLost` before it rejects. */
  extend(ttlMs: number): Promise<unknown>;
  /** Calls `listener` once when it is found lost; returns the function that removes the listener. */
  onLost(listener: (error: LockLostError) => void): () => void;
  /** Calls `listener` whenever its validity comes to end earlier; returns the function that removes it. */
  onEarlierEnd?(listener: () => void): () => void;
  /** Publishes on `redlock-core.lock.lost` that it can no longer be guaranteed. */
  publishLoss(reason: 'quorum-lost' | 'validity-ran-out', error: LockLostError): void;
}

/** A handle that automatic extension can keep: a lock's, or a claim's (named in messages by its `what`). */
export type ExtendableHandle = HoldHandle & Extendable & { readonly what?: string };

/** Starts the automatic extension of a new handle when its call asked for it (`autoExtend`), by the call's TTL. */
export function extendIfAsked(
  held: ExtendableHandle,
  request: { readonly autoExtend: boolean; readonly ttlMs: number; readonly limits: ExtensionLimits },
  clock: Clock,
): void {
  if (request.autoExtend) held.keepExtendedBy((onStop) => keepExtended(held, request.ttlMs, clock, request.limits, onStop, held.what));
}

/**
 * Keeps `lock` (or a semaphore's permits, named `what` in messages) extended by `ttlMs`, while `using()`'s
 * routine runs or, with `autoExtend`, until the lock is released: each extension starts when half the TTL
 * of validity is left, so a failed one can be retried before validity runs out. Calls `onStop` once, the
 * moment the lock can no longer be guaranteed (a {@link LockLostError}: a quorum of nodes no longer holds
 * our token, or validity ran out before an extension succeeded) or a limit ends the extensions (a
 * {@link LockLimitError}; the lock then stays valid until its validity runs out). Stops quietly if the
 * lock is released (at the next extension, or at once through `stop()`). Its timers are unref'd.
 */
export function keepExtended(
  lock: Extendable,
  ttlMs: number,
  clock: Clock,
  limits: ExtensionLimits,
  onStop: (error: LockLostError | LockLimitError) => void,
  what = `the lock on ${describeResources(lock.resources)}`,
): HandleExtension {
  let isStopped = false;
  let extensions = 0;
  let holdTimer: unknown;
  let extendTimer: unknown;
  let inFlight: Promise<void> | undefined;
  // A loss found by any extension, this one's or the routine's own `lock.extend()`, stops it at once.
  let stopListeningForLoss: () => void = () => undefined;
  // A shorter extension (the routine's own, or another re-entrant handle's) moves the end earlier: the
  // next extension is scheduled from the new end, or the lock would run out before it.
  let stopListeningForEarlierEnd: () => void = () => undefined;
  // The end of validity is the lock's signal's, which follows the hold's validity wherever it was set
  // (this extension, another handle's of a shared re-entrant hold, the routine's own `lock.extend()`),
  // rather than a timer of this extension's own, which knew only what this extension set.
  const { signal } = lock;
  const onSignalAbort = (): void => {
    if (lock.state === 'expired') runOut();
  };

  const setTimer = (callback: () => void, ms: number): unknown => {
    const handle = clock.setTimeout(callback, ms);
    unrefTimer(handle);
    return handle;
  };
  const stop = (): void => {
    isStopped = true;
    stopListeningForLoss();
    stopListeningForEarlierEnd();
    signal.removeEventListener('abort', onSignalAbort);
    clock.clearTimeout(extendTimer);
    clock.clearTimeout(holdTimer);
  };
  /** Stops for good and tells `onStop` why, once; `error` is made only then. */
  const end = (error: () => LockLostError | LockLimitError): void => {
    if (isStopped) return;
    stop();
    onStop(error());
  };
  const reachLimit = (limit: LockLimitError['limit'], detail: string): void =>
    end(() => new LockLimitError(`Stopped extending ${what}: ${detail}`, { resources: lock.resources, limit }));
  const runOut = (cause?: unknown): void =>
    end(() => {
      const error = new LockLostError(`Lost ${what}: its validity ran out before it could be extended`, { resources: lock.resources, cause });
      lock.publishLoss('validity-ran-out', error);
      return error;
    });
  const extendNow = (): void => {
    if (limits.maxExtensions !== undefined && extensions >= limits.maxExtensions) {
      return reachLimit('maxExtensions', `it was extended ${extensions} times, the most \`maxExtensions\` allows`);
    }
    inFlight = lock.extend(ttlMs).then(
      () => {
        inFlight = undefined;
        extensions += 1;
        watch();
      },
      (error: unknown) => {
        inFlight = undefined;
        // A quorum lost: the hold told `onLost` before the extension rejected, which stopped this.
        if (isStopped) return;
        // Released, or the Redlock closed (its close() stops every extension; this one lost the race).
        if (lock.state === 'released' || error instanceof RedlockClosedError) return stop();
        // After a stalled event loop this timer can fire past the expiry; say so, not "quorum lost".
        if (lock.state === 'expired') return runOut(error);
        // Nodes failed to answer: try again while validity remains; the end of validity (the lock's signal) bounds the tries.
        clock.clearTimeout(extendTimer);
        extendTimer = setTimer(extendNow, Math.max(1, Math.floor(lock.remainingValidityMs / 2)));
      },
    );
  };
  const watch = (): void => {
    if (isStopped) return;
    clock.clearTimeout(extendTimer);
    const remainingMs = lock.remainingValidityMs;
    // When drift or a tiny TTL leaves less than half the TTL of validity, waiting for "half the TTL left"
    // would mean 0 ms, and extensions would run back to back; use a quarter of the validity then.
    extendTimer = setTimer(extendNow, Math.max(remainingMs / 4, remainingMs - ttlMs / 2));
  };

  stopListeningForLoss = lock.onLost((error) => end(() => error));
  if (isStopped) return { stop: async () => undefined };
  // While one is in flight, its end schedules the next: two at once could apply out of order.
  stopListeningForEarlierEnd = lock.onEarlierEnd?.(() => {
    if (inFlight === undefined) watch();
  }) ?? stopListeningForEarlierEnd;
  signal.addEventListener('abort', onSignalAbort);
  if (limits.maxHoldMs !== undefined) {
    holdTimer = setTimer(() => reachLimit('maxHoldMs', `it was held for ${limits.maxHoldMs} ms, the most \`maxHoldMs\` allows`), limits.maxHoldMs);
  }
  watch();
  return {
    async stop() {
      stop();
      await inFlight;
    },
  };
}
