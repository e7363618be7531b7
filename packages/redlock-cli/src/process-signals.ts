/** The signals redlock handles instead of dying from them, so that it can always release the lock first. */
export const HANDLED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * Calls `listener` for each of {@link HANDLED_SIGNALS} the process receives, instead of the default
 * action (exiting without releasing the lock). Returns a function that removes the listeners and
 * restores the defaults.
 */
export function onHandledSignals(listener: (signal: NodeJS.Signals) => void): () => void {
  const handlers = HANDLED_SIGNALS.map((signal) => {
    const handler = (): void => listener(signal);
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}

/**
 * The signals a terminal stops a process with: Ctrl-Z (SIGTSTP), and a background job's read from it or,
 * under `stty tostop`, its write to it (SIGTTIN, SIGTTOU).
 */
const TERMINAL_STOPS: readonly NodeJS.Signals[] = ['SIGTSTP', 'SIGTTIN', 'SIGTTOU'];

/**
 * Ignores the terminal's stop signals ({@link TERMINAL_STOPS}) until the returned function is called. The
 * command runs in a process group of its own, which the terminal's do not reach: a stopped redlock would
 * stop extending the lock, and stop stopping the command when the lock is lost, while the command runs on.
 */
export function ignoreTerminalStop(): () => void {
  const ignore = (): void => undefined;
  for (const signal of TERMINAL_STOPS) process.on(signal, ignore);
  return () => {
    for (const signal of TERMINAL_STOPS) process.off(signal, ignore);
  };
}

/** Resolves with `signal.reason` once `signal` aborts (at once if it has). */
export function whenAborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
}
