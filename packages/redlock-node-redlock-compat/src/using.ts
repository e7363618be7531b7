// `using()`'s schedule, as node-redlock's: extend the lock each time its expiration comes within the
// threshold, abort the routine's signal when that fails, release when the routine settles.
import { LockExtendError, MAX_TTL_MS } from 'redlock-core';
import { ExecutionError } from './errors.js';

/** The signal `using()` passes its routine: aborted when the lock can no longer be guaranteed, with why in `error`. */
export type RedlockAbortSignal = AbortSignal & {
  /**
   * Why the signal aborted, an `ExecutionError` as with node-redlock: the failed extension's, or one whose
   * `cause` is the core's `LockLostError` (the lock was lost, or its validity ran out) or `RedlockClosedError`
   * (`quit()` while the routine ran).
   */
  error?: Error;
};

/** The part of a `Lock` that `using()` drives. */
interface ExtendableLock<L> {
  readonly expiration: number;
  extend(duration: number): Promise<L>;
  release(): Promise<unknown>;
}

/**
 * Runs `routine` while `lock` is extended by `duration` at `extendAt(lock)` (milliseconds since the epoch:
 * its expiration less the threshold, as a rule); aborts the routine's signal when an extension fails for
 * good or `lost` (the core lock's own signal, which aborts when the lock is lost or its validity runs out)
 * aborts; `pause` waits between two failed rounds of extend()'s own retries. Once `routine` settles, stops
 * extending, waits for an extension in flight, and releases the latest lock; its error, if any, is what
 * rejects.
 */
export async function runWithExtension<L extends ExtendableLock<L>, T>(
  first: L,
  lost: AbortSignal,
  duration: number,
  extendAt: (lock: L) => number,
  pause: () => Promise<void>,
  routine: (signal: RedlockAbortSignal) => Promise<T>,
): Promise<T> {
  let lock = first;
  const controller = new AbortController();
  const signal = controller.signal as RedlockAbortSignal;
  const abort = (error: unknown): void => {
    if (signal.aborted) return;
    signal.error = error instanceof Error ? error : new Error(String(error));
    controller.abort(signal.error);
  };
  let timer: NodeJS.Timeout | undefined;
  let extension: Promise<void> | undefined;
  let isDone = false;
  // node-redlock's signal carries an `ExecutionError`: code that tests its class finds one here too.
  const onLost = (): void => {
    const reason: unknown = lost.reason;
    abort(new ExecutionError(`The lock can no longer be guaranteed: ${reason instanceof Error ? reason.message : String(reason)}`, [], { cause: reason }));
  };
  const schedule = (): void => {
    const delayMs = Math.max(0, extendAt(lock) - Date.now());
    // A timer holds at most 2³¹−1 ms (node-redlock's fired at once for longer, and extended a lock of
    // centuries without pause): a later extension waits through several. `using()` asks for none so far
    // off, since it extends before the core lock's validity ends; a caller that did would still be safe.
    const isTooLong = delayMs > MAX_TTL_MS;
    timer = setTimeout(
      () => {
        timer = undefined;
        if (isTooLong) schedule();
        else extension = extend();
      },
      isTooLong ? MAX_TTL_MS : delayMs,
    );
  };
  const extend = async (): Promise<void> => {
    // Each extend() retries by itself; another round only while validity remains, as node-redlock.
    while (!isDone) {
      try {
        lock = await lock.extend(duration);
        if (!isDone) schedule();
        return;
      } catch (error) {
        // Only a failure on the nodes can pass: a `RangeError` or `TypeError` (a duration one of the
        // Redlock's settings refuses) never will.
        if (!(error instanceof ExecutionError) || lock.expiration <= Date.now() || signal.aborted || isLostIn(error)) return abort(error);
        await pause();
      }
    }
  };
  if (lost.aborted) onLost();
  else lost.addEventListener('abort', onLost, { once: true });
  schedule();
  try {
    return await routine(signal);
  } finally {
    isDone = true;
    lost.removeEventListener('abort', onLost);
    if (timer !== undefined) clearTimeout(timer);
    // Let an extension in flight finish: releasing beside it could race with it on the nodes.
    await extension?.catch(() => undefined);
    await lock.release();
  }
}

/** Whether `error` comes from an extension that found the lock taken by another owner: no retry can help. */
function isLostIn(error: unknown): boolean {
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  return cause instanceof LockExtendError && cause.isLost;
}
