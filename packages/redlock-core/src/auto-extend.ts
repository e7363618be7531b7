import { type Clock, unrefTimer } from './clock.js';
import { type LockExtendError, LockLostError } from './errors.js';
import { describeResources, type Lock } from './lock.js';

/** A running auto-extension; `stop()` ends it and waits for an extension in flight. */
export interface AutoExtension {
  stop(): Promise<void>;
}

/**
 * Keeps `lock` extended by `ttlMs` while a routine runs: each extension starts when half the TTL of
 * validity is left, so a failed one can be retried before validity runs out. Calls `onLost` once, the
 * moment the lock can no longer be guaranteed: a quorum of nodes no longer holds our token, or validity
 * ran out before an extension succeeded. Stops quietly if the routine releases the lock itself.
 */
export function keepExtended(
  lock: Lock,
  ttlMs: number,
  clock: Clock,
  onLost: (error: LockLostError) => void,
): AutoExtension {
  let isStopped = false;
  let extendTimer: unknown;
  let expiryTimer: unknown;
  let inFlight: Promise<void> | undefined;

  const setTimer = (callback: () => void, ms: number): unknown => {
    const handle = clock.setTimeout(callback, ms);
    unrefTimer(handle);
    return handle;
  };
  const stop = (): void => {
    isStopped = true;
    clock.clearTimeout(extendTimer);
    clock.clearTimeout(expiryTimer);
  };
  const lose = (message: string, cause?: LockExtendError): void => {
    if (isStopped) return;
    stop();
    onLost(new LockLostError(`Lost the lock on ${describeResources(lock.resources)}: ${message}`, { resources: lock.resources, cause }));
  };
  const extendNow = (): void => {
    inFlight = lock.extend(ttlMs).then(
      () => watch(),
      (error: LockExtendError) => {
        if (isStopped) return;
        if (lock.state === 'released') return stop();
        // After a stalled event loop this timer can fire past the expiry; say so, not "quorum lost".
        if (lock.state === 'expired') return lose('its validity ran out before it could be extended', error);
        if (error.isLost) return lose('a quorum of nodes no longer holds our token', error);
        // Nodes failed to answer: try again while validity remains; the expiry timer bounds the tries.
        clock.clearTimeout(extendTimer);
        extendTimer = setTimer(extendNow, Math.max(1, Math.floor(lock.remainingValidityMs / 2)));
      },
    );
  };
  const watch = (): void => {
    if (isStopped) return;
    clock.clearTimeout(extendTimer);
    clock.clearTimeout(expiryTimer);
    const remainingMs = lock.remainingValidityMs;
    expiryTimer = setTimer(() => lose('its validity ran out before it could be extended'), remainingMs);
    // When drift or a tiny TTL leaves less than half the TTL of validity, waiting for "half the TTL left"
    // would mean 0 ms, and extensions would run back to back; use a quarter of the validity then.
    extendTimer = setTimer(extendNow, Math.max(remainingMs / 4, remainingMs - ttlMs / 2));
  };

  watch();
  return {
    async stop() {
      stop();
      await inFlight;
    },
  };
}
