// Publishing on the diagnostics channels: each traced operation runs inside its tracing channel's events
// when someone listens, and costs nothing when nobody does. The channel names and payloads are in diagnostics.ts.
import { channel, type TracingChannel, tracingChannel } from 'node:diagnostics_channel';
import type { Clock } from './clock.js';
import {
  type AcquireTraceContext,
  type AcquireTraceResult,
  type AttemptNodeReport,
  type AttemptTraceContext,
  type AttemptTraceResult,
  DIAGNOSTICS_CHANNELS,
  type ExtendTraceContext,
  type ExtendTraceResult,
  type HoldTraceContext,
  type HoldTraceResult,
  type LockLostMessage,
  type NodeErrorMessage,
  type NodeOperation,
  type ReleaseTraceContext,
  type ReleaseTraceResult,
  type TracedCallContext,
} from './diagnostics.js';
import { LockAcquireError } from './errors.js';
import { type AcquireNodeOutcome, type NodeOutcome, pendingOutcomeOf, type PendingNodeOutcome, unansweredStatusOf } from './outcomes.js';

const acquireChannel = tracingChannel<unknown, AcquireTraceContext>(DIAGNOSTICS_CHANNELS.acquire);
const attemptChannel = tracingChannel<unknown, AttemptTraceContext>(DIAGNOSTICS_CHANNELS.attempt);
const extendChannel = tracingChannel<unknown, ExtendTraceContext>(DIAGNOSTICS_CHANNELS.extend);
const releaseChannel = tracingChannel<unknown, ReleaseTraceContext>(DIAGNOSTICS_CHANNELS.release);
const holdChannels = {
  acquire: tracingChannel<unknown, HoldTraceContext>(DIAGNOSTICS_CHANNELS.holdAcquire),
  extend: tracingChannel<unknown, HoldTraceContext>(DIAGNOSTICS_CHANNELS.holdExtend),
  release: tracingChannel<unknown, HoldTraceContext>(DIAGNOSTICS_CHANNELS.holdRelease),
};
const lockLostChannel = channel(DIAGNOSTICS_CHANNELS.lockLost);
const nodeErrorChannel = channel(DIAGNOSTICS_CHANNELS.nodeError);
const TRACING_EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;

/**
 * Whether anyone listens to a tracing channel. Node 20.0–20.12 lack `TracingChannel.hasSubscribers`:
 * then any of its five channels having subscribers counts, as the Node docs suggest.
 */
function hasListeners(traced: TracingChannel<unknown, object>): boolean {
  const { hasSubscribers } = traced as { readonly hasSubscribers?: boolean };
  return hasSubscribers ?? TRACING_EVENTS.some((event) => traced[event].hasSubscribers);
}

/** Whether an acquisition, attempt (which then times its node calls) or release is traced: its channel has subscribers. */
export function isTraced(operation: 'acquire' | 'attempt' | 'release'): boolean {
  // Each channel by name, not by a lookup: a caller's constant name then folds to its channel.
  return hasListeners(operation === 'acquire' ? acquireChannel : operation === 'attempt' ? attemptChannel : releaseChannel);
}

/**
 * Runs `run` as one traced call on `traced`, with the events `tracePromise()` publishes (`start`, `end`,
 * then `asyncStart` and `asyncEnd`, after `error` on a rejection), and `run` inside `start.runStores()`
 * so that stores bound on `start` are the async context of everything it does, and inside the context's
 * `runInContext` when a `start` subscriber set it ({@link TracedCallContext.runInContext}): `runStores()`
 * publishes `start` before it calls us, so the hook is set by then. Published by hand rather
 * than through `tracePromise()`, which on Node 20.13 and later runs `run` untraced when
 * `TracingChannel.hasSubscribers` is false, and so trusts it where {@link hasListeners} does not. Its `result`
 * is `resultOf(value)`, never the value itself: a `Lock` would hand subscribers its token.
 */
function traceCall<C extends TracedCallContext & { result?: R; error?: unknown }, T, R>(
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
      const { runInContext } = context;
      pending = runInContext === undefined ? run() : runInContext(run);
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
type AcquireTraceRequest = Pick<AcquireTraceContext, 'operation' | 'resources' | 'ttlMs' | 'isReentrant'>;

/** What the acquire trace reads of a lock (a `Lock`, lock/lock.ts): never its token. */
type TracedLock = Omit<AcquireTraceResult, 'isAcquired'>;

/**
 * Runs one acquisition traced on `redlock-core.acquire` (call it only when {@link isTraced}). `tryAcquire()`'s miss (a
 * {@link LockAcquireError} with reason `'held-by-another-owner'`) ends the trace as a result with `isAcquired: false`,
 * not as an error, and is rethrown for `tryAcquire()` to resolve with `undefined`.
 */
export function traceAcquire<L extends TracedLock>(request: AcquireTraceRequest, quorum: number, nodeCount: number, run: () => Promise<L>): Promise<L> {
  let miss: LockAcquireError | undefined;
  const traced = traceCall(
    acquireChannel,
    { ...request, quorum, nodeCount },
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
        ? { isAcquired: false, attempts: miss?.attemptCount ?? 0, remainingValidityMs: 0, nodes: missedNodesOf(miss), holdId: undefined }
        : { isAcquired: true, attempts: acquired.attempts, remainingValidityMs: acquired.remainingValidityMs, nodes: acquired.nodes, holdId: acquired.holdId },
  );
  return traced.then((lock) => lock ?? Promise.reject(miss));
}

/** The nodes of `tryAcquire()`'s miss, as its last attempt reported them: a node that had not answered yet is `'pending'`, not a timeout. */
function missedNodesOf(miss: LockAcquireError | undefined): readonly (AcquireNodeOutcome | PendingNodeOutcome)[] {
  const nodes = miss?.attempts.at(-1)?.nodes ?? [];
  return nodes.map((node) => (unansweredStatusOf(node) === undefined ? node : pendingOutcomeOf(node.nodeIndex)));
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
   * The nodes' reports, from the outcomes that count for the attempt (`known`): a node missing there, or
   * reported as not answered yet by a failed attempt, is `'pending'` if it was asked, else `'not-asked'`.
   */
  reportOf(known: readonly (AcquireNodeOutcome | PendingNodeOutcome | undefined)[], nodeCount: number): AttemptNodeReport[] {
    return Array.from({ length: nodeCount }, (_, nodeIndex): AttemptNodeReport => {
      const outcome = known[nodeIndex];
      if (outcome === undefined || outcome.status === 'pending') {
        return { nodeIndex, status: nodeIndex in this.#latencies ? 'pending' : 'not-asked', latencyMs: undefined, error: undefined };
      }
      // A failed attempt that reported before this node answered (or before it asked it) did not see it time out.
      const unanswered = unansweredStatusOf(outcome);
      if (unanswered !== undefined) return { nodeIndex, status: unanswered, latencyMs: undefined, error: undefined };
      return { nodeIndex, status: outcome.status, latencyMs: this.#latencies[nodeIndex], error: 'error' in outcome ? outcome.error : undefined };
    });
  }
}

/**
 * Runs one attempt traced on `redlock-core.attempt` (call it only when {@link isTraced}):
 * `run` records its node calls in its `AttemptTiming`, and `resultOf` turns its outcome into the result.
 */
export function traceAttempt<T>(request: Omit<AttemptTraceContext, 'result' | 'error'>, run: () => Promise<T>, resultOf: (value: T) => AttemptTraceResult): Promise<T> {
  return traceCall(attemptChannel, { ...request }, run, resultOf);
}

/** Runs one extension, traced on `redlock-core.extend` when someone listens; `run` resolves with its result. */
export function traceExtend(request: Omit<ExtendTraceContext, 'result' | 'error'>, run: () => Promise<ExtendTraceResult>): Promise<unknown> {
  if (!hasListeners(extendChannel)) return run();
  return traceCall(extendChannel, { ...request }, run, (result) => result);
}

/** Runs one release on the nodes traced on `redlock-core.release` (call it only when {@link isTraced}). */
export function traceRelease<T extends ReleaseTraceResult>(request: Omit<ReleaseTraceContext, 'result' | 'error'>, run: () => Promise<T>): Promise<T> {
  return traceCall(releaseChannel, { ...request }, run, (released) => ({ releasedCount: released.releasedCount, nodes: released.nodes }));
}

/** What a hold's trace reads of what a call resolved with: a semaphore's `Permit`, a read-write lock's handle, or nothing. */
interface TracedHold {
  /** The hold's id (`Hold.id`): read from an acquisition's handle only. */
  readonly holdId?: number;
  readonly attempts?: number;
  readonly remainingValidityMs: number;
}

/**
 * Runs one call on a semaphore's permits or a read-write lock, traced on `redlock-core.hold.acquire`,
 * `.extend` or `.release` (by `channel`) when someone listens; `context` is built only then. The result
 * is read from what the call resolved with (a `Permit`, a read-write lock's handle, or `undefined` for a
 * single try that found it taken), or from `heldAfter` for calls that resolve with nothing (an extension).
 */
export function traceHold<T extends TracedHold | undefined | void>(
  channel: keyof typeof holdChannels,
  context: () => Omit<HoldTraceContext, 'result' | 'error'>,
  run: () => Promise<T>,
  heldAfter?: () => TracedHold,
): Promise<T> {
  const traced = holdChannels[channel];
  if (!hasListeners(traced)) return run();
  return traceCall(traced, context(), run, (value): HoldTraceResult => {
    const held = heldAfter?.() ?? value;
    if (held === undefined || channel === 'release') return { isHeld: false, attempts: 0, remainingValidityMs: 0, holdId: undefined };
    // An extension's hold is named by its context.
    return { isHeld: true, attempts: held.attempts ?? 0, remainingValidityMs: held.remainingValidityMs, holdId: channel === 'acquire' ? held.holdId : undefined };
  });
}

/** Publishes a lost lock on `redlock-core.lock.lost`, if anyone listens. */
export function publishLockLost(message: () => LockLostMessage): void {
  if (lockLostChannel.hasSubscribers) lockLostChannel.publish(message());
}

/** Publishes a node's failed call on `redlock-core.node.error`, if anyone listens. */
export function publishNodeError(operation: NodeOperation, outcome: NodeOutcome<string>): void {
  if (!('error' in outcome) || !nodeErrorChannel.hasSubscribers) return;
  nodeErrorChannel.publish({ nodeIndex: outcome.nodeIndex, operation, error: outcome.error } satisfies NodeErrorMessage);
}
