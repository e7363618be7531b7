/**
 * The time source of a `Redlock`. All timing goes through it, so tests and simulations can replace it
 * with a virtual clock (including one that drifts). The default is {@link SYSTEM_CLOCK}.
 */
export interface Clock {
  /** Monotonic milliseconds, used for every elapsed time: it never jumps when the wall clock is set. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch, used only to report `lock.expiresAt`. */
  wallNow(): number;
  /** Calls `callback` after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a callback scheduled with `setTimeout`; ignores handles that already fired. */
  clearTimeout(handle: unknown): void;
}

/**
 * `performance`, read once. Node defines the global as a lazy accessor: every read of `performance` runs its
 * getter and a check of the receiver, some 400 instructions, many times what `now()` itself costs. `now()`
 * itself still costs some 275 (its own receiver check): a lock reads it 3 to 4 times per acquire+release, at
 * the attempt's start and vote, at the release, and for a node's round trip every 4 ms (bench/RESULTS.md).
 */
const monotonic = globalThis.performance;

/** The real clock: `performance.now()`, `Date.now()` and Node's timers. */
export const SYSTEM_CLOCK: Clock = {
  now: () => monotonic.now(),
  wallNow: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Lets a background timer (auto-extension) not keep the process alive; a no-op for virtual clocks. */
export function unrefTimer(handle: unknown): void {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle && typeof handle.unref === 'function') {
    handle.unref();
  }
}

/**
 * The clock drift allowance for a TTL, in milliseconds: `round(ttlMs × driftFactor) + 2`. The 2 ms cover
 * Redis' 1 ms expiry precision (a key may go up to 1 ms early) plus 1 ms for rounding on our side.
 */
export function driftMs(ttlMs: number, driftFactor: number): number {
  return Math.round(ttlMs * driftFactor) + 2;
}

/**
 * The time we may rely on a lock, in milliseconds: `ttlMs − elapsedMs − drift`, where `elapsedMs` runs
 * from the start of the attempt that reached quorum. Zero or less means the lock must not be used.
 */
export function validityMs(input: { ttlMs: number; elapsedMs: number; driftFactor: number }): number {
  return input.ttlMs - input.elapsedMs - driftMs(input.ttlMs, input.driftFactor);
}
