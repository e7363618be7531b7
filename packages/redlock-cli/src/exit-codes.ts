import { constants } from 'node:os';

/**
 * The exit statuses of `redlock` besides the command's own, from `sysexits.h` where one fits, so that scripts
 * can tell "someone else holds the lock" (75) from "the Redis nodes are down" (69) and from "the lock was
 * lost while the command ran" (76). `redlock --help` and the README list them; change them in both.
 */
export const EXIT_CODES = {
  /** EX_USAGE: an unknown option, a missing resource or command, a bad duration or number. */
  usage: 64,
  /** EX_UNAVAILABLE: fewer than a quorum of nodes answered, or answered in time. */
  unavailable: 69,
  /** EX_SOFTWARE: an error redlock did not expect (a bug). */
  internal: 70,
  /**
   * EX_TEMPFAIL: the lock is held by another owner, all N permits are, or the read-write lock is taken for
   * the mode asked (`-n`), or `--timeout` passed; `-E` replaces it.
   */
  conflict: 75,
  /** The lock was lost while the command ran, so the command was stopped: never a success. */
  lockLost: 76,
  /**
   * EX_CONFIG: no nodes, a bad node URL, two nodes that are one server, a key that is not what the mode asks
   * for, a node that refuses the scripts (ACL, `NOPERM`) or the connection (`NOAUTH`), or is a cluster node.
   */
  configuration: 78,
  /** The command exists but could not be executed (as the shells report it). */
  cannotExecute: 126,
  /** The command was not found (as the shells report it). */
  notFound: 127,
} as const;

/** The status a shell reports for a process killed by `signal`: 128 + its number (143 for SIGTERM). */
export function exitCodeForSignal(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/**
 * For each error of an acquisition (a lock's, a semaphore's, a read-write lock's): the reason that means
 * "taken by others", and those that mean a deployment problem (a key of another kind, another limit).
 */
const ACQUISITION_REASONS: Readonly<Record<'LockAcquireError' | 'PermitError' | 'ReadWriteLockError', { readonly taken: string; readonly misconfigured: readonly string[] }>> = {
  LockAcquireError: { taken: 'held-by-another-owner', misconfigured: ['foreign-key'] },
  PermitError: { taken: 'no-permits-free', misconfigured: ['foreign-key', 'limit-mismatch'] },
  ReadWriteLockError: { taken: 'locked', misconfigured: ['foreign-key'] },
};

/**
 * The exit status for an error of the lock library, read from its public `name` and `reason` fields:
 * contention is {@link EXIT_CODES.conflict} (or `conflictExitCode`), nodes that failed or were too slow
 * for the TTL are {@link EXIT_CODES.unavailable}, a deployment problem (one server listed twice, a node whose ACL forbids
 * the scripts, a key
 * that is not a lock where the lock goes, nor a semaphore where `--permits` goes, nor a read-write lock
 * where `--read`/`--write` goes, a semaphore held with another `--permits`) is
 * {@link EXIT_CODES.configuration}, a resource the library refuses is {@link EXIT_CODES.usage}, anything
 * else {@link EXIT_CODES.internal}.
 */
export function exitCodeForLockError(error: unknown, conflictExitCode: number = EXIT_CODES.conflict): number {
  if (!(error instanceof Error)) return EXIT_CODES.internal;
  switch (error.name) {
    case 'LockAcquireError':
    case 'PermitError':
    case 'ReadWriteLockError': {
      const reasons = ACQUISITION_REASONS[error.name];
      const reason = String((error as { readonly reason?: unknown }).reason);
      if (reason === reasons.taken) return conflictExitCode;
      if (reason === 'nodes-unreachable' || reason === 'no-validity') return EXIT_CODES.unavailable;
      return reasons.misconfigured.includes(reason) ? EXIT_CODES.configuration : EXIT_CODES.internal;
    }
    // An election's leader could not write its value (a campaign) on a quorum of nodes.
    case 'LockExtendError':
    case 'LockInspectError':
      return EXIT_CODES.unavailable;
    case 'NodeConfigurationError':
    // A node that refuses the scripts (an ACL without EVAL), a cluster reached without a cluster client, a
    // connection not authenticated: the deployment, not the command, is to fix.
    case 'MisconfiguredNodeError':
      return EXIT_CODES.configuration;
    // The library checks a resource before calling any node (e.g. a key ending in ":fencing-counter").
    case 'TypeError':
    case 'RangeError':
      return EXIT_CODES.usage;
    default:
      return EXIT_CODES.internal;
  }
}
