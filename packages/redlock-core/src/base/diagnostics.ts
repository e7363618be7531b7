// The diagnostics channels the core publishes on, and the payload types subscribers receive. The publishing
// itself is in tracing.ts.
import type { LockLostError } from './errors.js';
import type { NodeError } from './redlock-error.js';
import type { AcquireNodeOutcome, ExtendNodeOutcome, PendingNodeOutcome, ReleaseNodeOutcome } from './outcomes.js';

/**
 * The names of the `node:diagnostics_channel` channels the core publishes on. `acquire`, `attempt`, `hold*`,
 * `extend` and `release` are tracing channels (`diagnostics_channel.tracingChannel(name)`: `start`,
 * `end`, `asyncStart`, `asyncEnd` and `error` events on one context object per call); `lockLost`,
 * `nodeError` and the `election*` channels are plain channels (`diagnostics_channel.subscribe(name, onMessage)`). No payload ever
 * holds a lock's token. With no subscriber, nothing is built and nothing is published.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * import { DIAGNOSTICS_CHANNELS, type NodeErrorMessage } from 'redlock-core';
 *
 * diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.nodeError, (message) => {
 *   const { nodeIndex, operation, error } = message as NodeErrorMessage;
 *   console.warn(`node ${nodeIndex} failed to ${operation}: ${error.message}`);
 * });
 * ```
 */
export const DIAGNOSTICS_CHANNELS = {
  /** Tracing channel: one call of `acquire()`, `tryAcquire()` or `using()` getting its lock; context {@link AcquireTraceContext}. */
  acquire: 'redlock-core.acquire',
  /** Tracing channel: one attempt (one round over the nodes), inside an acquisition; context {@link AttemptTraceContext}. */
  attempt: 'redlock-core.attempt',
  /** Tracing channel: one `lock.extend()` that asks the nodes, automatic or not; context {@link ExtendTraceContext}. */
  extend: 'redlock-core.extend',
  /** Tracing channel: one release of a lock's keys on the nodes; context {@link ReleaseTraceContext}. */
  release: 'redlock-core.release',
  /**
   * Tracing channel: one acquisition of a semaphore's permits or of a read-write lock (its `acquire…()`,
   * `tryAcquire…()` or `using…()`); context {@link HoldTraceContext}.
   */
  holdAcquire: 'redlock-core.hold.acquire',
  /** Tracing channel: one extension of a semaphore's permits or a read-write lock, automatic or not; context {@link HoldTraceContext}. */
  holdExtend: 'redlock-core.hold.extend',
  /** Tracing channel: one release of a semaphore's permits or a read-write lock; context {@link HoldTraceContext}. */
  holdRelease: 'redlock-core.hold.release',
  /** Channel: a held lock (or a semaphore's permits, a read-write lock) can no longer be guaranteed; message {@link LockLostMessage}. */
  lockLost: 'redlock-core.lock.lost',
  /** Channel: a node failed, timed out or was skipped as down, in any operation; message {@link NodeErrorMessage}. */
  nodeError: 'redlock-core.node.error',
  /** Channel: a campaign won an election (`election.campaign()`, `election.lead()`); message {@link ElectionMessage}. */
  electionCampaign: 'redlock-core.election.campaign',
  /** Channel: a leader lost its leadership before it resigned; message {@link ElectionLossMessage}. */
  electionLoss: 'redlock-core.election.loss',
  /** Channel: a leader resigned (`leadership.resign()`, or the end of `election.lead()`); message {@link ElectionMessage}. */
  electionResign: 'redlock-core.election.resign',
} as const;

/**
 * What every tracing channel's context has beside its own fields: the hook through which a `start`
 * subscriber runs the traced call inside a context of its own.
 */
export interface TracedCallContext {
  /**
   * Set by a `start` subscriber to run the traced call inside a context of its own: the core publishes
   * `start`, then calls the operation as `runInContext(call)` and carries on with what it returns, so
   * everything the call does (its attempts, the client's commands) runs in that context. An APM makes its
   * span the active context with it; in OpenTelemetry,
   * `message.runInContext = (call) => context.with(trace.setSpan(context.active(), span), call)`.
   * It must call `call` once, synchronously, and return what `call` returned. A subscriber that finds one
   * already set (another subscriber's) wraps it instead of replacing it, so both contexts hold:
   * `const inner = message.runInContext; message.runInContext = inner === undefined ? mine : (call) => mine(() => inner(call))`.
   * `undefined` unless a subscriber sets it; read only for a traced call, after `start`.
   */
  runInContext?: <T>(call: () => T) => T;
}

/**
 * Context of the `redlock-core.acquire` tracing channel, one per acquisition by `acquire()`,
 * `tryAcquire()` or `using()` (a re-entrant one included). The channel sets `result` when the call
 * resolves, or `error` (the rejection, e.g. a {@link LockAcquireError}) when it rejects.
 */
export interface AcquireTraceContext extends TracedCallContext {
  /** The method called. */
  readonly operation: 'acquire' | 'tryAcquire' | 'using';
  /** The resources asked for, without the key prefix. */
  readonly resources: readonly string[];
  /** The TTL asked for, in milliseconds. */
  readonly ttlMs: number;
  /** How many nodes must agree. */
  readonly quorum: number;
  /** How many nodes the `Redlock` has. */
  readonly nodeCount: number;
  /** Whether it re-enters a lock held by the same owner (`reentrant`): no attempt is made then. */
  readonly isReentrant: boolean;
  /** Set by the channel when the acquisition resolved. */
  result?: AcquireTraceResult;
  /** Set by the channel when it rejected. */
  error?: unknown;
}

/** How an acquisition ended, in {@link AcquireTraceContext.result}. */
export interface AcquireTraceResult {
  /** `true` with a lock; `false` only when `tryAcquire()` resolved with `undefined` (held by another owner). */
  readonly isAcquired: boolean;
  /** How many attempts the call made itself (0 for a re-entrant acquisition). */
  readonly attempts: number;
  /** Milliseconds of validity left when the lock was handed out; 0 without a lock. */
  readonly remainingValidityMs: number;
  /**
   * The lock's hold ({@link ExtendTraceContext.holdId}, {@link ReleaseTraceContext.holdId},
   * {@link LockLostMessage.holdId}); a re-entrant handle's is the hold it shares; `undefined` without a lock.
   * Names one hold in this process: not secret, the same from acquisition to release or loss (a process-wide counter).
   */
  readonly holdId: number | undefined;
  /**
   * Each node's outcome in the deciding attempt, by node index: `'pending'` for a node that had not
   * answered when the quorum was reached (see `lock.nodes`), or for `tryAcquire()`'s miss, when the
   * refusals had settled it (its error's `'timeout'` with `isTimeout` `false`: the node did not time out).
   */
  readonly nodes: readonly (AcquireNodeOutcome | PendingNodeOutcome)[];
}

/**
 * Context of the `redlock-core.attempt` tracing channel, one per attempt: a child of the acquisition's
 * `redlock-core.acquire` context (it starts and ends inside it, in its async context). The channel sets
 * `result` when the attempt ended, failed or not; `error` only for a bug.
 */
export interface AttemptTraceContext extends TracedCallContext {
  /** The resources asked for, without the key prefix. */
  readonly resources: readonly string[];
  /** 1 for the call's first attempt. */
  readonly attemptNumber: number;
  /** How many nodes must agree. */
  readonly quorum: number;
  /** How many nodes the `Redlock` has. */
  readonly nodeCount: number;
  /** Whether it asked one node alone first: the node whose wake started it (a waiter woken by a release). */
  readonly isWoken: boolean;
  /** Set by the channel when the attempt ended. */
  result?: AttemptTraceResult;
  /** Set by the channel if the attempt threw. */
  error?: unknown;
}

/** How one attempt ended, in {@link AttemptTraceContext.result}. */
export interface AttemptTraceResult {
  /** `'taken-where-woken'`: the node whose wake started it, asked alone first, refused, so no other node was asked. */
  readonly outcome: 'acquired' | 'failed' | 'taken-where-woken';
  /** Milliseconds from the start of the attempt to its end, cleanup of a failed attempt included. */
  readonly elapsedMs: number;
  /** Each node's part, by node index. */
  readonly nodes: readonly AttemptNodeReport[];
  /**
   * The waiter's place in the nodes' wait queues, from the attempt at whose end a quorum of nodes had queued
   * it there: a call that asks the nodes after that moment gets a later place. `undefined` before, and for a
   * call that does not wait (it listens for no wake).
   */
  readonly queuePlace?: number;
}

/** One node's part in one attempt. */
export interface AttemptNodeReport {
  /** Index of the node in the array passed to the `Redlock` constructor. */
  readonly nodeIndex: number;
  /**
   * The node's answer; `'pending'` when it had not answered when the lock was handed out, or when a failed
   * single try reported without waiting for it (its refusals had settled the failure); `'not-asked'` when
   * the node that woke it refused first, or the attempt was cut off before it asked the node.
   */
  readonly status: AcquireNodeOutcome['status'] | 'pending' | 'not-asked';
  /** Milliseconds from sending the call to its outcome (a timeout included); `undefined` while pending or not asked. */
  readonly latencyMs: number | undefined;
  /** The node's error, for `'error'` and `'timeout'`. */
  readonly error: NodeError | undefined;
}

/**
 * Context of the `redlock-core.extend` tracing channel, one per `lock.extend()` that asks the nodes
 * (automatic extensions included). `error` is the {@link LockExtendError} on failure.
 */
export interface ExtendTraceContext extends TracedCallContext {
  /** The locked resources, without the key prefix. */
  readonly resources: readonly string[];
  /** The hold extended, as {@link AcquireTraceResult.holdId} named it. */
  readonly holdId: number;
  /** The new TTL, in milliseconds. */
  readonly ttlMs: number;
  /** How many nodes must agree. */
  readonly quorum: number;
  /** How many nodes the `Redlock` has. */
  readonly nodeCount: number;
  /** Set by the channel when the extension succeeded. */
  result?: ExtendTraceResult;
  /** Set by the channel when the extension failed: the {@link LockExtendError}. */
  error?: unknown;
}

/** A successful extension, in {@link ExtendTraceContext.result}. */
export interface ExtendTraceResult {
  /** Milliseconds of validity left after it. */
  readonly remainingValidityMs: number;
  /** Each node's outcome, by node index; `'pending'` for a node still answering at the decision. */
  readonly nodes: readonly (ExtendNodeOutcome | PendingNodeOutcome)[];
}

/**
 * Context of the `redlock-core.release` tracing channel, one per release that calls the nodes (the last
 * handle's `release()`; a re-entrant handle that is not the last calls none). `error` is the
 * {@link LockReleaseError} when fewer than a quorum answered.
 */
export interface ReleaseTraceContext extends TracedCallContext {
  /** The locked resources, without the key prefix. */
  readonly resources: readonly string[];
  /** The hold released, as {@link AcquireTraceResult.holdId} named it. */
  readonly holdId: number;
  /** How many nodes must confirm. */
  readonly quorum: number;
  /** How many nodes the `Redlock` has. */
  readonly nodeCount: number;
  /** Set by the channel once a quorum confirmed the release. */
  result?: ReleaseTraceResult;
  /** Set by the channel when fewer than a quorum confirmed: the {@link LockReleaseError}. */
  error?: unknown;
}

/** A confirmed release, in {@link ReleaseTraceContext.result}. */
export interface ReleaseTraceResult {
  /** How many nodes had deleted our keys when a quorum confirmed. */
  readonly releasedCount: number;
  /** Each node's answer, by node index; `'pending'` for a node still answering. */
  readonly nodes: readonly (ReleaseNodeOutcome | PendingNodeOutcome)[];
}

/**
 * Context of the `redlock-core.hold.acquire`, `.extend` and `.release` tracing channels: one call on a
 * semaphore's permits or a read-write lock. The channel sets `result` when the call resolves, or `error`
 * (e.g. a `PermitError` or a `ReadWriteLockError`) when it rejects.
 */
export interface HoldTraceContext extends TracedCallContext {
  /** What is held: a semaphore's permits, or a read-write lock. */
  readonly primitive: 'semaphore' | 'read-write';
  /** The call: `'acquire'`, `'tryAcquire'` or `'using'` on `hold.acquire`, `'extend'` and `'release'` on the others. */
  readonly operation: 'acquire' | 'tryAcquire' | 'using' | 'extend' | 'release';
  /** The resource, without the key prefix. */
  readonly resource: string;
  /** For a read-write lock, `'read'` or `'write'`; `undefined` for a semaphore. */
  readonly mode: 'read' | 'write' | undefined;
  /**
   * For an extension or a release, the hold it extends or releases, as {@link HoldTraceResult.holdId}
   * named it at its acquisition; `undefined` for an acquisition (its hold is in its result).
   */
  readonly holdId: number | undefined;
  /** How many permits are asked for or held (1 for a read-write lock). */
  readonly permits: number;
  /** The TTL asked for, in milliseconds; `undefined` for a release. */
  readonly ttlMs: number | undefined;
  /** How many nodes must agree. */
  readonly quorum: number;
  /** How many nodes the `Redlock` has. */
  readonly nodeCount: number;
  /** Set by the channel when the call resolved. */
  result?: HoldTraceResult;
  /** Set by the channel when it rejected. */
  error?: unknown;
}

/** How a call on a semaphore's permits or a read-write lock ended, in {@link HoldTraceContext.result}. */
export interface HoldTraceResult {
  /** `false` only when a single try resolved with `undefined` (taken), or after a release. */
  readonly isHeld: boolean;
  /** How many attempts an acquisition made (0 for an extension or a release). */
  readonly attempts: number;
  /** Milliseconds of validity left when the call resolved; 0 after a release. */
  readonly remainingValidityMs: number;
  /**
   * For an acquisition that holds, the hold it acquired (extensions and releases name it in
   * {@link HoldTraceContext.holdId}, a loss in {@link LockLostMessage.holdId}); `undefined` otherwise.
   * Names one hold in this process, as {@link AcquireTraceResult.holdId} does.
   */
  readonly holdId: number | undefined;
}

/**
 * Message of the `redlock-core.lock.lost` channel, published once per lock (shared by its re-entrant
 * handles) when a held lock can no longer be guaranteed: an extension found that a quorum of nodes no
 * longer holds our token (`'quorum-lost'`), or its validity ran out while it was kept extended or its
 * `signal` was watched (`'validity-ran-out'`). A lock that simply expires unwatched publishes nothing.
 */
export interface LockLostMessage {
  /** The locked resources, without the key prefix. */
  readonly resources: readonly string[];
  /** Why: a quorum no longer holds our token, or the validity ran out before an extension succeeded. */
  readonly reason: 'quorum-lost' | 'validity-ran-out';
  /** Milliseconds of validity the lock had left by its own clock when the loss was found; 0 when it ran out. */
  readonly remainingValidityMs: number;
  /** The error that `lock.signal` aborts with. */
  readonly error: LockLostError;
  /** The hold lost, as its acquisition's result named it ({@link AcquireTraceResult.holdId}, {@link HoldTraceResult.holdId}). */
  readonly holdId: number;
}

/** Message of the election channels: which election, and the leadership it is about. */
export interface ElectionMessage {
  /** The election's name. */
  readonly election: string;
  /** The leader's value. */
  readonly value: string;
  /** The leadership's term. */
  readonly term: number;
}

/** Message of the `redlock-core.election.loss` channel. */
export interface ElectionLossMessage extends ElectionMessage {
  /** What the leadership's signal aborted with: a `LockLostError`, a `LockLimitError` or a `RedlockClosedError`. */
  readonly error: unknown;
}

/** The operation a node call was part of, in {@link NodeErrorMessage}. */
export type NodeOperation = 'acquire' | 'fence' | 'extend' | 'reseed' | 'release' | 'cleanup' | 'hand-off' | 'inspect';

/**
 * Message of the `redlock-core.node.error` channel: one node call failed (`error.isTimeout` false),
 * timed out (`isTimeout`), or was not sent because the node counts as down (`isDown`), in any operation:
 * `'cleanup'` is the removal of a failed attempt's keys, `'release'` a lock's release and its re-sends
 * in the background, `'reseed'` the re-setting of keys on a node that lost them, `'hand-off'` a fair lock's
 * releaser asking a node whether the waiter it woke took the lock.
 */
export interface NodeErrorMessage {
  /** Index of the node in the array passed to the `Redlock` constructor. */
  readonly nodeIndex: number;
  /** What the call was part of. */
  readonly operation: NodeOperation;
  /** What happened: `isTimeout`, `isDown`, and the client's own error as `cause`. */
  readonly error: NodeError;
}
