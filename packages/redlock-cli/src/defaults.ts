// The command line's own defaults and bounds: what `redlock --help` shows, kept apart from the argument
// parser so that `--help` and `--version` load neither the lock library nor a Redis client.

/** The TTL when `--ttl` is not given, in milliseconds; it is extended while the command runs. */
export const DEFAULT_TTL_MS = 30_000;

/**
 * The shortest `--ttl`, in milliseconds: the lock is extended when half of it is left, and redlock gives up
 * on a lock no extension renewed 200 ms before its end, to stop the command within it.
 */
export const MIN_TTL_MS = 1_000;

/**
 * The longest `--kill-after` grace when none is given, in milliseconds; it is capped by the validity the
 * lost lock had left.
 */
export const DEFAULT_KILL_AFTER_MS = 10_000;

/** The environment variable read for the nodes when `--nodes` is not given. */
export const NODES_VARIABLE = 'REDLOCK_NODES';
