// When the extensions fail (nodes down or paused), the library's signal aborts only as the validity ends,
// too late to stop the command while the lock is still ours. This watches the validity left and gives up a
// little before the end, so that SIGTERM and then SIGKILL both land within it.

/**
 * How much validity is left, in milliseconds, when redlock gives up on a lock no extension has renewed: the
 * command gets SIGTERM then, and SIGKILL {@link KILL_MARGIN_MS} before the end. `--ttl` is at least 1 s, so
 * the automatic extension, at half the TTL left, comes well before it.
 */
export const GIVE_UP_MS = 200;

/**
 * How long before the end of a lost lock's validity its command's group gets SIGKILL, in milliseconds: a
 * timer fires late on a busy machine, and the kill must land while the lock is still ours.
 */
export const KILL_MARGIN_MS = 100;

/** What {@link watchValidityEnd} reads of a lock, a permit or a read-write lock's hold. */
export interface Watched {
  /** Aborts when the library can no longer guarantee it: a quorum lost it, or its validity ran out. */
  readonly signal: AbortSignal;
  /** `'held'` while it is. */
  readonly state: string;
  /** By the monotonic clock; every successful extension raises it. */
  readonly remainingValidityMs: number;
}

/** A running {@link watchValidityEnd}. */
export interface ValidityEndWatch {
  /** Aborts with the library's reason when it aborts, or with a `'give-up'` error once {@link GIVE_UP_MS} or less is left. */
  readonly signal: AbortSignal;
  /** Stops watching (before a release, which ends the validity too). */
  stop(): void;
}

/**
 * Watches `held` for the end of its validity: a timer fires when {@link GIVE_UP_MS} of it would be left,
 * looks again (an extension since then moved the end: the timer waits for the new one), and aborts the
 * signal when no more is left than that. Its timer is unref'd and cleared by `stop()`.
 *
 * @param what - The hold as messages name it: `the lock on "res"`.
 */
export function watchValidityEnd(held: Watched, what: string): ValidityEndWatch {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    clearTimeout(timer);
    held.signal.removeEventListener('abort', onLibraryAbort);
  };
  function onLibraryAbort(): void {
    stop();
    controller.abort(held.signal.reason);
  }
  const look = (): void => {
    if (held.signal.aborted) return onLibraryAbort();
    const leftMs = held.state === 'held' ? held.remainingValidityMs : 0;
    if (leftMs <= GIVE_UP_MS) {
      stop();
      controller.abort(new Error(`Lost ${what}: no extension succeeded, and ${Math.max(0, Math.round(leftMs))} ms of its validity are left`));
      return;
    }
    timer = setTimeout(look, Math.ceil(leftMs - GIVE_UP_MS));
    timer.unref();
  };
  held.signal.addEventListener('abort', onLibraryAbort);
  look();
  return { signal: controller.signal, stop };
}
