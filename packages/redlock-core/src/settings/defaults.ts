// The defaults of the options and the bounds of a duration: one place each.

/** The defaults of `RedlockOptions` (options.ts); `nodeTimeoutMs` is derived from each call's TTL instead. */
export const DEFAULT_OPTIONS = {
  driftFactor: 0.01,
  retryCount: 10,
  retryDelayMs: 200,
  retryJitterMs: 100,
  waitMs: Infinity,
  keyPrefix: '',
  restartGraceMs: 0,
  refuseEvictingNodes: false,
  shortTtlMs: 1_000,
} as const;

/**
 * The longest TTL, in milliseconds (about 24.8 days): the largest delay a Node.js timer accepts, which
 * automatic extension needs.
 */
export const MAX_TTL_MS = 2 ** 31 - 1;

/**
 * How much longer the default node timeout gets per key a call carries, in milliseconds: a script runs
 * over every key of a lock, and the client encodes them all (about 7-11 µs a key on a local node, measured
 * with 1,000 to 50,000 keys), so a lock of 10,000 resources would outgrow a timeout made for one.
 */
export const NODE_TIMEOUT_MS_PER_KEY = 0.025;

/** The per-node timeout for a TTL and a call over `keyCount` keys when none is set: see {@link RedlockOptions.nodeTimeoutMs}. */
export function defaultNodeTimeoutMs(ttlMs: number, keyCount = 1): number {
  // The spec suggests 5-50 ms for a 10 s TTL. We take the top of that range and never go below 50 ms:
  // after the event loop stalls, Node runs due timers before reading sockets, so a shorter timeout would
  // fire on replies that already arrived.
  const forTtlMs = Math.min(1000, Math.max(50, Math.round(ttlMs / 200)));
  return forTtlMs + Math.ceil((keyCount - 1) * NODE_TIMEOUT_MS_PER_KEY);
}
