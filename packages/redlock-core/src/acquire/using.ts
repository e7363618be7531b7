// `using()` once its lock is held: the routine runs with a signal for the lock's loss, the lock is kept
// extended, always released at the end, and a loss or a failed release is never silent.
import { onAbort } from '../base/abort-listeners.js';
import { describeResources } from '../base/describe.js';
import { lockClosedErrorOf, LockLostError } from '../base/errors.js';
import { emitErrorWarning, reportWith } from '../base/warnings.js';
import type { NodeSet } from '../nodes/node-state.js';
import { type Extendable, type ExtensionLimits, keepExtended } from './auto-extend.js';

/** What `using()` needs of what its routine holds: a lock, or a semaphore's `Permit`. */
export interface Held extends Extendable {
  release(): Promise<unknown>;
  /** Throws a {@link LockLostError} unless it is held at this very moment. */
  assertValid(): void;
  /** The loss it had suffered when `release()` was first called, if it expired or was lost by then. */
  lossBeforeRelease(): LockLostError | undefined;
}

/**
 * Runs `routine` under `lock` (acquired for `ttlMs`; or a semaphore's permits, named `what` in messages),
 * kept extended within `limits`, and releases it; see `Redlock.using` for what it resolves and rejects
 * with. `callerSignal` is the caller's own signal, if any.
 */
export async function runUnderLock<T, H extends Held>(
  set: NodeSet,
  lock: H,
  ttlMs: number,
  callerSignal: AbortSignal | undefined,
  limits: ExtensionLimits,
  routine: (signal: AbortSignal, lock: H) => Promise<T> | T,
  what = `the lock on ${describeResources(lock.resources)}`,
): Promise<T> {
  const { lifecycle, options: settings } = set;
  // The routine's signal aborts on a lost lock, at a limit, at close() or on the caller's signal (by
  // hand: AbortSignal.any needs Node 20.3).
  const routineAbort = new AbortController();
  // One listener on the caller's signal however many calls share it (see `onAbort`).
  const stopWatchingCaller = callerSignal === undefined ? undefined : onAbort(callerSignal, () => routineAbort.abort(callerSignal.reason));
  let reportedLoss: LockLostError | undefined;
  const extension = keepExtended(lock, ttlMs, settings.clock, limits, (error) => {
    if (error instanceof LockLostError) reportedLoss = error;
    routineAbort.abort(error);
  }, what);
  const stopWatchingClose = lifecycle.onClose(() => {
    lifecycle.track(extension.stop());
    routineAbort.abort(lockClosedErrorOf(lock.resources, what));
  });
  let outcome: { readonly value: T } | { readonly error: unknown };
  try {
    outcome = { value: await routine(routineAbort.signal, lock) };
  } catch (error) {
    outcome = { error };
  }
  const loss = reportedLoss ?? lossAtEnd(lock);
  stopWatchingCaller?.();
  stopWatchingClose();
  await extension.stop();
  const releaseError = await lock.release().then(() => undefined, (failure: unknown) => failure);
  if ('error' in outcome) {
    const { error } = outcome;
    if (loss !== undefined && !(error instanceof LockLostError)) reportWith(error, 'lockLostError', loss);
    if (releaseError !== undefined) reportWith(error, 'releaseError', releaseError);
    throw error;
  }
  if (loss !== undefined) {
    const message = `Lost ${what} while the routine ran; what it returned is in \`result\``;
    const rejection = new LockLostError(message, { resources: lock.resources, cause: loss, result: outcome.value });
    if (releaseError !== undefined) reportWith(rejection, 'releaseError', releaseError);
    throw rejection;
  }
  if (releaseError !== undefined) emitErrorWarning(releaseError);
  return outcome.value;
}

/**
 * The loss of a lock that `using()`'s routine held, found when the routine settled, though no extension
 * reported it before: the lock is lost or expired, or the routine released it itself only after that.
 */
function lossAtEnd(lock: Held): LockLostError | undefined {
  const state = lock.state;
  if (state === 'released') return lock.lossBeforeRelease();
  if (state !== 'lost' && state !== 'expired') return undefined;
  try {
    lock.assertValid();
  } catch (error) {
    return error as LockLostError;
  }
  return undefined;
}
