import { channel, type TracingChannel, tracingChannel } from 'node:diagnostics_channel';
import type { Clock } from './clock.js';
import { LockAcquireError, type LockLostError } from './errors.js';
import { type NodeError } from './redlock-error.js';
import type { AcquireNodeOutcome, ExtendNodeOutcome, NodeOutcome, ReleaseNodeOutcome } from './outcomes.js';

/**
 * The names of the `node:diagnostics_channel` channels the core publishes on. `acquire`, `attempt`,
 * `extend` and `release` are tracing channels (`diagnostics_channel.tracingChannel(name)`: `start`,
 * `end`, `asyncStart`, `asyncEnd` and `error` events on one context object per call); `lockLost` and
 * `nodeError` are plain channels (`diagnostics_channel.subscribe(name, onMessage)`). No payload ever
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
  /** Channel: a held lock can no longer be guaranteed; message {@link LockLostMessage}. */
  lockLost: 'redlock-core.lock.lost',
  /** Channel: a node failed, timed out or was skipped as down, in any operation; message {@link NodeErrorMessage}. */
  nodeError: 'redlock-core.node.error',
} as const;

/**
 * Context of the `redlock-core.acquire` tracing channel, one per acquisition by `acquire()`,
 * `tryAcquire()` or `using()` (a re-entrant one included). The channel sets `result` when the call
 * resolves, or `error` (the rejection, e.g. a {@link LockAcquireError}) when it rejects.
 */
export interface AcquireTraceContext {
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
   * Each node's outcome in the deciding attempt, by node index: `undefined` for a node that had not
   * answered when the quorum was reached (see `lock.nodes`).
   */
  readonly nodes: readonly (AcquireNodeOutcome | undefined)[];
}

/**
 * Context of the `redlock-core.attempt` tracing channel, one per attempt: a child of the acquisition's
 * `redlock-core.acquire` context (it starts and ends inside it, in its async context). The channel sets
 * `result` when the attempt ended, failed or not; `error` only for a bug.
 */
export interface AttemptTraceContext {
  /** The resources asked for, without the key prefix. */
  readonly resources: readonly string[];
  /** 1 for the call's first attempt. */
  readonly attemptNumber: number;
  /** How many nodes must agree. */
  readonly quorum: number;
  /** How many nodes the `Redlock` has. */
  readonly nodeCount: number;
  /** Whether it asked the lead node alone first (a waiter woken by a release). */
  readonly asksLeadFirst: boolean;
  /** Set by the channel when the attempt ended. */
  result?: AttemptTraceResult;
  /** Set by the channel if the attempt threw. */
  error?: unknown;
}

/** How one attempt ended, in {@link AttemptTraceContext.result}. */
export interface AttemptTraceResult {
  /** `'held-at-lead'`: the lead node, asked alone first, refused, so no other node was asked. */
  readonly outcome: 'acquired' | 'failed' | 'held-at-lead';
  /** Milliseconds from the start of the attempt to its end, cleanup of a failed attempt included. */
  readonly elapsedMs: number;
  /** Each node's part, by node index. */
  readonly nodes: readonly AttemptNodeReport[];
}

/** One node's part in one attempt. */
export interface AttemptNodeReport {
  /** Index of the node in the array passed to the `Redlock` constructor. */
  readonly nodeIndex: number;
  /**
   * The node's answer; `'pending'` when it had not answered when the lock was handed out; `'not-asked'`
   * when the lead node refused first.
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
export interface ExtendTraceContext {
  /** The locked resources, without the key prefix. */
  readonly resources: readonly string[];
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
  /** Each node's outcome, by node index; `undefined` for a node still answering at the decision. */
  readonly nodes: readonly (ExtendNodeOutcome | undefined)[];
}

/**
 * Context of the `redlock-core.release` tracing channel, one per release that calls the nodes (the last
 * handle's `release()`; a re-entrant handle that is not the last calls none). `error` is the
 * {@link LockReleaseError} when fewer than a quorum answered.
 */
export interface ReleaseTraceContext {
  /** The locked resources, without the key prefix. */
  readonly resources: readonly string[];
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
  /** Each node's answer, by node index; `undefined` for a node still answering. */
  readonly nodes: readonly (ReleaseNodeOutcome | undefined)[];
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
}

/** The operation a node call was part of, in {@link NodeErrorMessage}. */
export type NodeOperation = 'acquire' | 'fence' | 'extend' | 'reseed' | 'release' | 'cleanup' | 'inspect';

/**
 * Message of the `redlock-core.node.error` channel: one node call failed (`error.isTimeout` false),
 * timed out (`isTimeout`), or was not sent because the node counts as down (`isDown`), in any operation:
 * `'cleanup'` is the removal of a failed attempt's keys, `'release'` a lock's release and its re-sends
 * in the background, `'reseed'` the re-setting of keys on a node that lost them.
 */
export interface NodeErrorMessage {
  /** Index of the node in the array passed to the `Redlock` constructor. */
  readonly nodeIndex: number;
  /** What the call was part of. */
  readonly operation: NodeOperation;
  /** What happened: `isTimeout`, `isDown`, and the client's own error as `cause`. */
  readonly error: NodeError;
}

const acquireChannel = tracingChannel<unknown, AcquireTraceContext>(DIAGNOSTICS_CHANNELS.acquire);
const attemptChannel = tracingChannel<unknown, AttemptTraceContext>(DIAGNOSTICS_CHANNELS.attempt);
const extendChannel = tracingChannel<unknown, ExtendTraceContext>(DIAGNOSTICS_CHANNELS.extend);
const releaseChannel = tracingChannel<unknown, ReleaseTraceContext>(DIAGNOSTICS_CHANNELS.release);
const lockLostChannel = channel(DIAGNOSTICS_CHANNELS.lockLost);
const nodeErrorChannel = channel(DIAGNOSTICS_CHANNELS.nodeError);

/**
 * Whether anyone listens to a tracing channel. Node 20.0–20.12 lack `TracingChannel.hasSubscribers`:
 * then any of its five channels having subscribers counts, as the Node docs suggest.
 */
function isTraced(traced: TracingChannel<unknown, object>): boolean {
  const { hasSubscribers } = traced as { readonly hasSubscribers?: boolean };
  if (hasSubscribers !== undefined) return hasSubscribers;
  return (
    traced.start.hasSubscribers ||
    traced.end.hasSubscribers ||
    traced.asyncStart.hasSubscribers ||
    traced.asyncEnd.hasSubscribers ||
    traced.error.hasSubscribers
  );
}

/** Whether the acquire channel has subscribers: only then is an acquisition traced. */
export function isAcquireTraced(): boolean {
  return isTraced(acquireChannel);
}

/** Whether the release channel has subscribers: only then is a release traced. */
export function isReleaseTraced(): boolean {
  return isTraced(releaseChannel);
}

/** Whether the attempt channel has subscribers: only then does an attempt time its node calls. */
export function isAttemptTraced(): boolean {
  return isTraced(attemptChannel);
}

/**
 * Runs `run` as one traced call on `traced`, with the events `tracePromise()` publishes (`start`, `end`,
 * then `asyncStart` and `asyncEnd`, after `error` on a rejection), and `run` inside `start.runStores()`
 * so that stores bound on `start` are the async context of everything it does. Published by hand rather
 * than through `tracePromise()`, which on Node 20.13 and later runs `run` untraced when
 * `TracingChannel.hasSubscribers` is false, and so trusts it where {@link isTraced} does not. Its `result`
 * is `resultOf(value)`, never the value itself: a `Lock` would hand subscribers its token.
 */
function traceCall<C extends { result?: R; error?: unknown }, T, R>(
  traced: TracingChannel<unknown, C>,
  context: C,
  run: () => Promise<T>,
  resultOf: (value: T) => R,
): Promise<T> {
  const { start, end, asyncStart, asyncEnd, error } = traced;
  const settle = (): void => {
    asyncStart.publish(context);
    asyncEnd.publish(context);
  };
  return start.runStores(context, () => {
    let pending: Promise<T>;
    try {
      pending = run();
    } catch (thrown) {
      context.error = thrown;
      error.publish(context);
      throw thrown;
    } finally {
      end.publish(context);
    }
    return pending.then(
      (value) => {
        context.result = resultOf(value);
        settle();
        return value;
      },
      (rejection: unknown) => {
        context.error = rejection;
        error.publish(context);
        settle();
        throw rejection;
      },
    );
  });
}

/** What an acquisition asked for, for its trace context. */
export interface AcquireTraceRequest {
  readonly operation: AcquireTraceContext['operation'];
  readonly resources: readonly string[];
  readonly ttlMs: number;
  readonly isReentrant: boolean;
}

/** What the acquire and extend traces read of a lock (a `Lock`, lock/lock.ts): never its token. */
export interface TracedLock {
  readonly attempts: number;
  readonly remainingValidityMs: number;
  readonly nodes: readonly (AcquireNodeOutcome | undefined)[];
}

/**
 * Runs one acquisition, traced on `redlock-core.acquire` when someone listens. `tryAcquire()`'s miss
 * (a {@link LockAcquireError} with reason `'held-by-another-owner'`) ends the trace as a result with
 * `isAcquired: false`, not as an error, and is rethrown for `tryAcquire()` to resolve with `undefined`.
 */
export function traceAcquire<L extends TracedLock>(request: AcquireTraceRequest, quorum: number, nodeCount: number, run: () => Promise<L>): Promise<L> {
  // Not async: an untraced acquisition gets no promise of its own wrapped around it.
  if (!isTraced(acquireChannel)) return run();
  return traceAcquireOn(request, quorum, nodeCount, run);
}

/** {@link traceAcquire} when someone listens. */
async function traceAcquireOn<L extends TracedLock>(request: AcquireTraceRequest, quorum: number, nodeCount: number, run: () => Promise<L>): Promise<L> {
  const context: AcquireTraceContext = { ...request, quorum, nodeCount };
  let miss: LockAcquireError | undefined;
  const lock = await traceCall(
    acquireChannel,
    context,
    async (): Promise<L | undefined> => {
      try {
        return await run();
      } catch (error) {
        if (request.operation !== 'tryAcquire' || !(error instanceof LockAcquireError) || error.reason !== 'held-by-another-owner') throw error;
        miss = error;
        return undefined;
      }
    },
    (acquired): AcquireTraceResult =>
      acquired === undefined
        ? { isAcquired: false, attempts: miss?.attemptCount ?? 0, remainingValidityMs: 0, nodes: miss?.attempts.at(-1)?.nodes ?? [] }
        : { isAcquired: true, attempts: acquired.attempts, remainingValidityMs: acquired.remainingValidityMs, nodes: acquired.nodes },
  );
  if (lock === undefined) throw miss as LockAcquireError;
  return lock;
}

/**
 * Times the node calls of one attempt, for its trace: each call's latency from when it was sent to its
 * outcome. Made only when the attempt channel has subscribers.
 */
export class AttemptTiming {
  readonly #clock: Clock;
  readonly #latencies: (number | undefined)[] = [];
  /** The outcomes as they came, by node index. */
  readonly answered: (AcquireNodeOutcome | undefined)[] = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Starts timing node `nodeIndex`'s call, sent now. */
  watch(nodeIndex: number, outcome: Promise<AcquireNodeOutcome>): void {
    const sentAtMs = this.#clock.now();
    this.#latencies[nodeIndex] = undefined;
    void outcome.then((answer) => {
      this.#latencies[nodeIndex] = this.#clock.now() - sentAtMs;
      this.answered[nodeIndex] = answer;
    });
  }

  /**
   * The nodes' reports, from the outcomes that count for the attempt (`known`): a node missing there
   * is `'pending'` if it was asked, else `'not-asked'`.
   */
  reportOf(known: readonly (AcquireNodeOutcome | undefined)[], nodeCount: number): AttemptNodeReport[] {
    return Array.from({ length: nodeCount }, (_, nodeIndex): AttemptNodeReport => {
      const outcome = known[nodeIndex];
      if (outcome === undefined) {
        return { nodeIndex, status: nodeIndex in this.#latencies ? 'pending' : 'not-asked', latencyMs: undefined, error: undefined };
      }
      return { nodeIndex, status: outcome.status, latencyMs: this.#latencies[nodeIndex], error: 'error' in outcome ? outcome.error : undefined };
    });
  }
}

/** What one attempt asked for, for its trace context. */
export type AttemptTraceRequest = Omit<AttemptTraceContext, 'result' | 'error'>;

/**
 * Runs one attempt traced on `redlock-core.attempt` (call it only when {@link isAttemptTraced}):
 * `run` gets the timing to record its node calls in, and `resultOf` turns its outcome into the result.
 */
export function traceAttempt<T>(
  request: AttemptTraceRequest,
  timing: AttemptTiming,
  run: () => Promise<T>,
  resultOf: (value: T, timing: AttemptTiming) => AttemptTraceResult,
): Promise<T> {
  return traceCall(attemptChannel, { ...request }, run, (value) => resultOf(value, timing));
}

/** Runs one extension, traced on `redlock-core.extend` when someone listens. */
export function traceExtend<L extends Pick<TracedLock, 'remainingValidityMs'>>(
  request: Omit<ExtendTraceContext, 'result' | 'error'>,
  run: () => Promise<L>,
  nodesOf: () => readonly (ExtendNodeOutcome | undefined)[],
): Promise<L> {
  if (!isTraced(extendChannel)) return run();
  return traceCall(extendChannel, { ...request }, run, (lock) => ({ remainingValidityMs: lock.remainingValidityMs, nodes: nodesOf() }));
}

/** Runs one release on the nodes, traced on `redlock-core.release` when someone listens. */
export function traceRelease<T extends { readonly releasedCount: number; readonly nodes: readonly (ReleaseNodeOutcome | undefined)[] }>(
  request: Omit<ReleaseTraceContext, 'result' | 'error'>,
  run: () => Promise<T>,
): Promise<T> {
  if (!isTraced(releaseChannel)) return run();
  return traceCall(releaseChannel, { ...request }, run, (released) => ({ releasedCount: released.releasedCount, nodes: released.nodes }));
}

/** Publishes a lost lock on `redlock-core.lock.lost`, if anyone listens. */
export function publishLockLost(message: () => LockLostMessage): void {
  if (lockLostChannel.hasSubscribers) lockLostChannel.publish(message());
}

/** Publishes a node's failed call on `redlock-core.node.error`, if anyone listens. */
export function publishNodeError(operation: NodeOperation, outcome: NodeOutcome<string>): void {
  if (!('error' in outcome) || !nodeErrorChannel.hasSubscribers) return;
  const message: NodeErrorMessage = { nodeIndex: outcome.nodeIndex, operation, error: outcome.error };
  nodeErrorChannel.publish(message);
}
