/** The one listener this module keeps on a signal, and the callbacks it calls when the signal aborts. */
interface SignalListener {
  readonly callbacks: Set<() => void>;
  readonly listener: () => void;
}

/**
 * The callbacks waiting for each caller's signal to abort, by signal. A signal the caller shares between
 * many concurrent calls gets one listener of ours, not one per call: Node warns
 * (`MaxListenersExceededWarning`) from the eleventh listener on one signal, and a caller's signal is not
 * ours to raise its limit on.
 */
const listeners = new WeakMap<AbortSignal, SignalListener>();

/**
 * Calls `callback` once when `signal` aborts, through the one listener this module keeps on the signal
 * (added with `{ once: true }` with the first callback, removed with the last). Returns the function that
 * removes `callback`: call it once the call it serves has settled. Like `addEventListener`, a callback
 * added after the signal aborted is never called: check `signal.aborted` first. Give each call a function
 * of its own, and one that does not throw (a throw would skip the callbacks after it).
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let entry = listeners.get(signal);
  if (entry === undefined) {
    const callbacks = new Set<() => void>();
    const listener = (): void => {
      listeners.delete(signal);
      // A copy: a callback may remove others while they are called.
      const called = [...callbacks];
      callbacks.clear();
      for (const each of called) each();
    };
    entry = { callbacks, listener };
    listeners.set(signal, entry);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { callbacks, listener } = entry;
  callbacks.add(callback);
  return () => {
    if (!callbacks.delete(callback) || callbacks.size > 0) return;
    // The last callback gone: no listener of ours is left on the signal.
    if (listeners.get(signal)?.listener === listener) listeners.delete(signal);
    signal.removeEventListener('abort', listener);
  };
}

/** What `settling` settles with, or `aborted` as soon as `signal` aborts first (at once if it has); `settling` must not reject. */
export function unlessAborted<T, A>(settling: Promise<T>, signal: AbortSignal | undefined, aborted: A): Promise<T | A> {
  if (signal === undefined) return settling;
  if (signal.aborted) return Promise.resolve(aborted);
  return new Promise((resolve) => {
    const stopListening = onAbort(signal, () => resolve(aborted));
    void settling.then((value) => {
      stopListening();
      resolve(value);
    });
  });
}

/**
 * What `settling` settles with, or a rejection with `signal.reason` as soon as `signal` aborts first. The
 * work behind `settling` runs on, and its later rejection is handled here: whoever started it learns how it
 * ended some other way (a re-entry's extension, from its hold).
 */
export function untilAborted<T>(settling: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    settling.catch(() => undefined);
    return Promise.reject(signal.reason as unknown);
  }
  return new Promise((resolve, reject) => {
    const stopListening = onAbort(signal, () => reject(signal.reason as unknown));
    settling.then(
      (value) => {
        stopListening();
        resolve(value);
      },
      (error: unknown) => {
        stopListening();
        reject(error);
      },
    );
  });
}
