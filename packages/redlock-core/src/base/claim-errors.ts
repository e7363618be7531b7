// The errors of semaphores and read-write locks: what their acquisitions, extensions, releases and
// inspections reject with. The lock's errors, and what every primitive shares, are in errors.ts.
import type { NodeOutcome, PermitAttempt, ReadWriteAttempt } from './outcomes.js';
import { defineBulkyField } from './error-summary.js';
import { type NodeError, RedlockError } from './redlock-error.js';
import { errorsOf } from './errors.js';

/**
 * Why a semaphore's permits could not be taken, extended or released:
 * - `'no-permits-free'`: enough nodes had too few permits free to deny a quorum;
 * - `'nodes-unreachable'`: nodes that timed out, failed or were in their restart grace made the difference;
 * - `'no-validity'`: a quorum agreed too late for any validity to remain;
 * - `'foreign-key'`: on enough nodes to deny a quorum, the key holds something that is not a semaphore
 *   (a lock on the same resource, another type), which never goes away by itself;
 * - `'limit-mismatch'`: on enough nodes to deny a quorum, the semaphore is held with another limit
 *   (`recordedLimit`): its holders and this call disagree on what the resource means, which retrying cannot
 *   mend (fewer such nodes, such as one left over from an earlier configuration, refuse as a full node does);
 * - `'not-held'`: extending permits that are released, expired or gone from a quorum of nodes.
 */
export type PermitFailureReason = 'no-permits-free' | 'nodes-unreachable' | 'no-validity' | 'foreign-key' | 'limit-mismatch' | 'not-held';

/** What builds a {@link ClaimError}: what failed, where, why, and the nodes' answers. */
export interface ClaimErrorOptions<R extends string, A extends PermitAttempt | ReadWriteAttempt> {
  /** See {@link ClaimError.operation}. */
  operation: 'acquire' | 'extend' | 'release' | 'inspect';
  /** See {@link ClaimError.resource}. */
  resource: string;
  /** See {@link ClaimError.reason}. */
  reason: R;
  /** See {@link ClaimError.attempts}; none by default. */
  attempts?: readonly A[];
  /** See {@link ClaimError.attemptCount}; by default, how many `attempts` holds. */
  attemptCount?: number;
  /** See {@link ClaimError.nodes}; none by default. */
  nodes?: readonly NodeOutcome<string>[];
  /** See {@link ClaimError.waitMs}. */
  waitMs?: number;
}

/**
 * What the errors of a semaphore's permits ({@link PermitError}) and of a read-write lock
 * ({@link ReadWriteLockError}) share: `error instanceof ClaimError` catches both. Memory stays bounded
 * however long the call waited: `attempts` keeps the first attempt and the latest 10.
 */
export abstract class ClaimError<R extends string, A extends PermitAttempt | ReadWriteAttempt> extends RedlockError {
  /** What failed. */
  readonly operation: 'acquire' | 'extend' | 'release' | 'inspect';
  /** The resource of the semaphore or the read-write lock, without the key prefix. */
  readonly resource: string;
  /** Why it failed: see {@link PermitFailureReason} and {@link ReadWriteFailureReason}. */
  readonly reason: R;
  /** For `'acquire'`: the kept attempts, in order, each with every node's answer (empty for the others). */
  readonly attempts!: readonly A[];
  /** For `'acquire'`: how many attempts were made, kept or not. */
  readonly attemptCount: number;
  /** For `'extend'`, `'release'` and `'inspect'`: each node's answer (empty for `'acquire'`). */
  readonly nodes!: readonly NodeOutcome<string>[];
  /** The `waitMs` that ran out, in milliseconds, when that ended an acquisition. */
  readonly waitMs: number | undefined;
  /** For `'extend'`: whether the claim is not held any more (`'not-held'`), so stop relying on it. */
  readonly isLost: boolean;
  /** Every node error among `attempts` and `nodes`, in order. */
  readonly nodeErrors!: readonly NodeError[];

  constructor(message: string, options: ClaimErrorOptions<R, A>) {
    super(message);
    this.operation = options.operation;
    this.resource = options.resource;
    this.reason = options.reason;
    const attempts = options.attempts ?? [];
    const nodes = options.nodes ?? [];
    defineBulkyField(this, 'attempts', attempts);
    this.attemptCount = options.attemptCount ?? attempts.length;
    defineBulkyField(this, 'nodes', nodes);
    this.waitMs = options.waitMs;
    this.isLost = options.operation === 'extend' && options.reason === 'not-held';
    defineBulkyField(this, 'nodeErrors', [...attempts.flatMap((attempt) => errorsOf(attempt.nodes)), ...errorsOf(nodes)]);
  }
}

/**
 * A semaphore's `acquire()` or `tryAcquire()` found no quorum with validity left within its attempts (or
 * within `waitMs`), `permit.extend()` or `permit.release()` found no quorum, or fewer than a quorum of
 * nodes answered `semaphore.inspect()` (`'nodes-unreachable'`). `reason` tells why; the
 * `'foreign-key'` and `'limit-mismatch'` reasons end `acquire()` at once, without retrying.
 */
export class PermitError extends ClaimError<PermitFailureReason, PermitAttempt> {
  override name = 'PermitError';

  /** How many permits the call asked for or held. */
  readonly permits: number;
  /** For `'limit-mismatch'`: the limit a node holds the semaphore with. */
  readonly recordedLimit: number | undefined;

  constructor(message: string, options: ClaimErrorOptions<PermitFailureReason, PermitAttempt> & { permits: number; recordedLimit?: number }) {
    super(message, options);
    this.permits = options.permits;
    this.recordedLimit = options.recordedLimit;
  }
}

/**
 * Why a read-write lock could not be taken, extended or released:
 * - `'locked'`: enough nodes refused (a writer held it, readers held it from a writer, or a writer waited
 *   for it, refusing a reader) to deny a quorum;
 * - `'nodes-unreachable'`, `'no-validity'`, `'foreign-key'` and `'not-held'`: as for a semaphore's permits
 *   (see {@link PermitFailureReason}); a foreign key is a lock or a semaphore on the same resource.
 */
export type ReadWriteFailureReason = 'locked' | 'nodes-unreachable' | 'no-validity' | 'foreign-key' | 'not-held';

/**
 * A read-write lock's `acquireRead()`, `acquireWrite()` or their `tryAcquire…()` found no quorum with
 * validity left within its attempts (or within `waitMs`), `extend()` or `release()` of its handle found no
 * quorum, or fewer than a quorum of nodes answered `inspect()` (`'nodes-unreachable'`). `reason` tells
 * why; `'foreign-key'` ends an acquisition at once, without retrying.
 */
export class ReadWriteLockError extends ClaimError<ReadWriteFailureReason, ReadWriteAttempt> {
  override name = 'ReadWriteLockError';

  /** Whether the call read or wrote; `undefined` for `'inspect'`. */
  readonly mode: 'read' | 'write' | undefined;

  constructor(message: string, options: ClaimErrorOptions<ReadWriteFailureReason, ReadWriteAttempt> & { mode: 'read' | 'write' | undefined }) {
    super(message, options);
    this.mode = options.mode;
  }
}
