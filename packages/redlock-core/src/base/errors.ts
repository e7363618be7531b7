import { describeResources } from './describe.js';
import type { AcquireAttempt, ExtendNodeOutcome, InspectNodeOutcome, NodeOutcome } from './outcomes.js';
import { defineBulkyField } from './error-summary.js';
import { type NodeError, RedlockError } from './redlock-error.js';

/**
 * The nodes are not a valid Redlock deployment: two nodes are the same Redis server (`'same-server'`, found from the
 * servers' run ids at first contact: every operation of that `Redlock` then rejects with it, since one server would
 * cast two votes), or a node's eviction policy may delete lock keys and `refuseEvictingNodes` is on
 * (`'evicting-policy'`, the `cause` of that node's errors). Fix the deployment: retrying cannot help.
 */
export class NodeConfigurationError extends RedlockError {
  override name = 'NodeConfigurationError';

  /** The nodes concerned, by index in the array passed to the `Redlock` constructor. */
  readonly nodeIndexes: readonly number[];
  /** What is wrong with them. */
  readonly problem: 'same-server' | 'evicting-policy';

  constructor(message: string, options: { nodeIndexes: readonly number[]; problem: 'same-server' | 'evicting-policy' }) {
    super(message);
    this.nodeIndexes = options.nodeIndexes;
    this.problem = options.problem;
  }
}

/**
 * Why the last acquisition attempt failed: other owners hold the lock on enough nodes to deny a quorum;
 * too many nodes timed out or failed; a quorum agreed too late for any validity to remain; or on enough
 * nodes to deny a quorum, a key of the lock holds something that is not a lock (or a fencing counter key
 * something that is not a counter). Such a `'foreign-key'` never goes away by itself, so `acquire()`
 * stops retrying at once: give lock keys a namespace of their own (`keyPrefix`).
 */
export type AcquireFailureReason = 'held-by-another-owner' | 'nodes-unreachable' | 'no-validity' | 'foreign-key';

/** `redlock.inspect()` could not tell whether the resource is locked: fewer than a quorum of nodes answered. */
export class LockInspectError extends RedlockError {
  override name = 'LockInspectError';

  /** The inspected resource, without the key prefix. */
  readonly resource: string;
  /** Each node's outcome. */
  readonly nodes!: readonly InspectNodeOutcome[];
  /** The errors among `nodes`. */
  readonly nodeErrors!: readonly NodeError[];

  constructor(message: string, options: { resource: string; nodes: readonly InspectNodeOutcome[] }) {
    super(message);
    this.resource = options.resource;
    defineBulkyField(this, 'nodes', options.nodes);
    defineBulkyField(this, 'nodeErrors', errorsOf(options.nodes));
  }
}

/**
 * `acquire()`, `using()` or `tryAcquire()` found no quorum with validity left within its attempts, or
 * within `waitMs` (then `waitMs` is set). `reason` tells contention apart from unreachable nodes and
 * foreign keys. On contention retry later, raise `retryCount` or `waitMs`; if nodes are unreachable,
 * check them; on a foreign key, keep lock keys apart from other data (`keyPrefix`).
 *
 * Memory stays bounded however long the call waited: `attempts` keeps the first attempt and the latest
 * 10, `attemptCount` counts them all, and `omittedAttemptCount` says how many are not kept.
 */
export class LockAcquireError extends RedlockError {
  override name = 'LockAcquireError';

  /** The resources that were asked for, without the key prefix. */
  readonly resources: readonly string[];
  /**
   * The kept attempts, in order, with each node's outcome: every attempt when there were at most 11,
   * else the first and the latest 10 (see {@link omittedAttemptCount}). Empty when the call gave up in
   * the local queue before any attempt was made while it waited.
   */
  readonly attempts!: readonly AcquireAttempt[];
  /** How many attempts were made, kept or not. */
  readonly attemptCount: number;
  /** How many attempts between the first and the latest 10 are not in `attempts`: `attemptCount − attempts.length`. */
  readonly omittedAttemptCount: number;
  /**
   * Why the last attempt failed; for one cut off by `waitMs` whose answers decide nothing (see
   * `AcquireAttempt.isCutOff`), why the latest attempt that ran to its vote did, if any.
   */
  readonly reason: AcquireFailureReason;
  /** The `waitMs` that ran out, in milliseconds, when that ended the call; `undefined` when its retries ran out or a single try failed. */
  readonly waitMs: number | undefined;
  /** Every node error of the kept attempts, in order. */
  readonly nodeErrors!: readonly NodeError[];

  constructor(
    message: string,
    options: {
      resources: readonly string[];
      attempts: readonly AcquireAttempt[];
      reason: AcquireFailureReason;
      attemptCount?: number;
      waitMs?: number;
    },
  ) {
    super(message);
    this.resources = options.resources;
    defineBulkyField(this, 'attempts', options.attempts);
    this.attemptCount = options.attemptCount ?? options.attempts.length;
    this.omittedAttemptCount = this.attemptCount - options.attempts.length;
    this.reason = options.reason;
    this.waitMs = options.waitMs;
    defineBulkyField(this, 'nodeErrors', options.attempts.flatMap((attempt) => errorsOf(attempt.nodes)));
  }
}

/**
 * `lock.extend()` could not extend the lock: it was no longer held (released, or its validity ran out),
 * a quorum of nodes no longer holds our token, or the extension took so long that no validity is left.
 */
export class LockExtendError extends RedlockError {
  override name = 'LockExtendError';

  /** The locked resources, without the key prefix. */
  readonly resources: readonly string[];
  /** Each node's outcome; empty when the lock was already released or expired and no node was asked. */
  readonly nodes!: readonly ExtendNodeOutcome[];
  /** Whether the lock is lost for sure: so many nodes lack our keys (missing, or another owner's) that no quorum is left. */
  readonly isLost: boolean;
  /** The errors among `nodes`. */
  readonly nodeErrors!: readonly NodeError[];

  constructor(message: string, options: { resources: readonly string[]; nodes: readonly ExtendNodeOutcome[]; isLost: boolean }) {
    super(message);
    this.resources = options.resources;
    defineBulkyField(this, 'nodes', options.nodes);
    this.isLost = options.isLost;
    defineBulkyField(this, 'nodeErrors', errorsOf(options.nodes));
  }
}

/**
 * `lock.release()` could not confirm on a quorum of nodes that our keys are gone: too many nodes failed
 * to answer. Whatever is left expires after its TTL; until then other owners may be refused.
 */
export class LockReleaseError extends RedlockError {
  override name = 'LockReleaseError';

  /** The locked resources, without the key prefix. */
  readonly resources: readonly string[];
  /** Each node's outcome. */
  readonly nodes!: readonly NodeOutcome<'released' | 'not-held'>[];
  /** The errors among `nodes`. */
  readonly nodeErrors!: readonly NodeError[];

  constructor(message: string, options: { resources: readonly string[]; nodes: readonly NodeOutcome<'released' | 'not-held'>[] }) {
    super(message);
    this.resources = options.resources;
    defineBulkyField(this, 'nodes', options.nodes);
    defineBulkyField(this, 'nodeErrors', errorsOf(options.nodes));
  }
}

/**
 * `using()` stopped extending its lock because a limit was reached: `maxExtensions` or `maxHoldMs`. It is
 * the `reason` of the signal handed to the routine. The lock stays valid for its remaining validity (see
 * `lock.remainingValidityMs`): finish or stop the work within it.
 */
export class LockLimitError extends RedlockError {
  override name = 'LockLimitError';

  /** The locked resources, without the key prefix. */
  readonly resources: readonly string[];
  /** The limit that was reached. */
  readonly limit: 'maxExtensions' | 'maxHoldMs';

  constructor(message: string, options: { resources: readonly string[]; limit: 'maxExtensions' | 'maxHoldMs' }) {
    super(message);
    this.resources = options.resources;
    this.limit = options.limit;
  }
}

/**
 * A lock can no longer be guaranteed: automatic extension failed, validity ran out, or an extension found that a quorum
 * of nodes no longer holds our token. It is the `reason` of `lock.signal` and of the signal handed to `using()`'s
 * routine; `cause` is the last {@link LockExtendError} when there was one. `using()` also rejects with one when the
 * lock was lost while its routine ran and the routine did not throw: `result` then holds what the routine returned, and
 * `cause` is the loss the routine's signal reported (or `undefined` when nothing reported it before the routine
 * returned). Stop the work, or make it safe with fencing.
 */
export class LockLostError extends RedlockError {
  override name = 'LockLostError';

  /** The locked resources, without the key prefix. */
  readonly resources: readonly string[];
  /**
   * What `using()`'s routine returned, when `using()` rejects with this error because the lock was lost
   * while the routine ran: the work may be done, but nothing kept others out meanwhile. `undefined`
   * everywhere else (and when the routine returned `undefined`).
   */
  readonly result: unknown;

  constructor(message: string, options: { resources: readonly string[]; cause?: unknown; result?: unknown }) {
    super(message, { cause: options.cause });
    this.resources = options.resources;
    this.result = options.result;
  }
}

/**
 * The `Redlock` was closed with `redlock.close()` (or disposed with `await using`): every `acquire()`,
 * `using()`, `inspect()` and `lock.extend()` called afterwards rejects with it before any node is called,
 * and so does every `acquire()` or `using()` still waiting or retrying at that moment. It is also the
 * `reason` of the signal of every lock still held at close (`lock.signal`, and the signal handed to
 * `using()`'s routine): their automatic extension has stopped, and the lock stays valid for its
 * `remainingValidityMs`. Unlike a {@link LockAcquireError}, retrying cannot help: this `Redlock` is done.
 */
export class RedlockClosedError extends RedlockError {
  override name = 'RedlockClosedError';

  /** The resources of the call or lock concerned, without the key prefix; empty when none. */
  readonly resources: readonly string[];

  constructor(message: string, options: { resources: readonly string[] }) {
    super(message);
    this.resources = options.resources;
  }
}

/** The node errors among `nodes`, in order. */
export function errorsOf(nodes: readonly (NodeOutcome<string> | InspectNodeOutcome)[]): NodeError[] {
  return nodes.flatMap((node) => ('error' in node ? [node.error] : []));
}

/**
 * A node replied to an acquisition (a lock's, a semaphore's permits, a read-write lock's read or write lock)
 * with an error that a correct setup never causes, so no retry can help and the call fails at once, before
 * anything is handed out on the other nodes' quorum; the keys set elsewhere are removed. Such a node
 * answered: it is never reported as unreachable. (A lock's node whose reply comes only after a quorum of the
 * other nodes granted cannot fail that call: the lock stands on them, and a process warning, code
 * `REDLOCK_MISCONFIGURED_NODE`, is emitted once per node.) The message quotes the first such node's reply,
 * which is also the `cause` of each of their {@link NodeError}s. `problem` says which:
 * - `'cross-slot'` (`CROSSSLOT`): the node is a Redis Cluster and the keys of one lock are in different
 *   hash slots. Give every resource of the lock a common hash tag, e.g. `{orders}:1` and `{orders}:2`;
 * - `'moved'` (`MOVED`): the node is one master of a Redis Cluster that does not serve the key's slot.
 *   Reach a cluster through a cluster client (which follows redirections), or use standalone servers;
 * - `'no-permission'` (`NOPERM`): the node's ACL forbids the scripts or the keys. Allow `EVALSHA`, `EVAL`
 *   and the keys to the user. A user without `EVAL` or `EVALSHA` gets it at its first call of any
 *   primitive, the reply naming the command (`NOPERM this user has no permissions to run the 'eval'
 *   command`), and nothing is written: a lock of one resource, a plain `SET` once the node is known, goes
 *   by script until the first-contact probe (a script) was answered;
 * - `'no-auth'` (`NOAUTH`, `WRONGPASS`): the connection is not authenticated. Fix the client's credentials.
 */
export class MisconfiguredNodeError extends RedlockError {
  override name = 'MisconfiguredNodeError';

  /** The resources that were asked for (a semaphore's or a read-write lock's one), without the key prefix. */
  readonly resources: readonly string[];
  /** The nodes that replied so, by index in the array passed to the `Redlock` constructor. */
  readonly nodeIndexes: readonly number[];
  /** What is wrong, from the first such node's reply. */
  readonly problem: 'cross-slot' | 'moved' | 'no-permission' | 'no-auth';
  /** The errors of those nodes, each with the node's reply as its `cause`. */
  readonly nodeErrors!: readonly NodeError[];

  constructor(
    message: string,
    options: { resources: readonly string[]; problem: MisconfiguredNodeError['problem']; nodeErrors: readonly NodeError[] },
  ) {
    super(message, { cause: options.nodeErrors[0] });
    this.resources = options.resources;
    this.problem = options.problem;
    defineBulkyField(this, 'nodeErrors', options.nodeErrors);
    this.nodeIndexes = options.nodeErrors.map((error) => error.nodeIndex);
  }
}

/**
 * Why a held lock (or what `what` names: a semaphore's permits) is no longer extended once its `Redlock`
 * closed: its signal's reason (see `Redlock.close`).
 */
export function lockClosedErrorOf(resources: readonly string[], what = `the lock on ${describeResources(resources)}`): RedlockClosedError {
  return new RedlockClosedError(`The Redlock was closed: ${what} is no longer extended`, { resources });
}

/** The error of a call refused because the `Redlock` is closed. */
export function closedErrorOf(operation: string, resources: readonly string[], when = ''): RedlockClosedError {
  return new RedlockClosedError(`Could not ${operation} ${describeResources(resources)}: the Redlock was closed${when}`, { resources });
}

/**
 * `error` as a public `method` rethrows it: when the engine made it for this call (a {@link RedlockError},
 * built after the call's first `await`, in code the caller's frames are not part of), its stack is made
 * anew from where the caller awaits `method`, without the engine's frames (`at async chargeOrder
 * (orders.js:12:16)`), so that Node's report of an uncaught one shows the caller's line, not a line of the
 * bundle. A caller that does not await it in an async function (a `.then()` chain) has no frame to show:
 * the stack stays where the error was made. Any other error is returned as it is.
 */
export function atCaller(error: unknown, method: (...args: never[]) => unknown): unknown {
  if (!(error instanceof RedlockError) || typeof Error.captureStackTrace !== 'function') return error;
  const { stack } = error;
  Error.captureStackTrace(error, method);
  // Left above the caller's frames: the runtime's own that ran the engine's continuation (Node's
  // `processTicksAndRejections`), which tell the caller nothing.
  const atCall = error.stack?.replace(RUNTIME_FRAMES, '');
  error.stack = atCall?.includes('\n    at ') === true ? atCall : stack;
  return error;
}

/** Synchronous stack frames in Node's own code. */
const RUNTIME_FRAMES = /\n {4}at (?!async )[^\n]*\(node:internal\/[^\n]*\)(?=\n|$)/g;
