// The acquisitions of one `Redlock`, of every kind of hold: guarded against `close()`, timed by `waitMs`, a
// single try asking every node once, any other call waiting in the wait loop; a lock's also counted for `stats()`.
import { onAbort } from '../base/abort-listeners.js';
import type { Clock } from '../base/clock.js';
import type { AcquireTraceContext } from '../base/diagnostics.js';
import type { ClosedCall, Lifecycle } from '../base/lifecycle.js';
import { isTraced, traceAcquire } from '../base/tracing.js';
import { closedErrorOf, LockAcquireError } from '../base/errors.js';
import { describeResources } from '../base/describe.js';
import { Lock } from '../lock/lock.js';
import { type Release, releaseOnNode } from '../lock/release.js';
import { leaveQueueScript, parseLeaveQueueReply } from '../scripts/leave-queue.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { type NodeSet, throwIfMisconfigured } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import type { AcquireAttempt } from '../base/outcomes.js';
import type { ReleaseNotifications } from '../nodes/release-notifications.js';
import type { AcquisitionStats } from '../nodes/stats.js';
import { acquireErrorOf, isBlockedByForeignKeys } from './acquire-error.js';
import { LockAttempt, runAttempt, throwIfMisconfiguredAttempt } from './attempt.js';
import { AttemptLog } from './attempt-log.js';
import type { QueueTicket } from './queue-ticket.js';
import type { AcquireRequest, CallRequest } from './request.js';
import { extendIfAsked, type ExtendableHandle, type ExtensionLimits } from './auto-extend.js';
import { type Contender, type FailedAttempt, WaitExpired, waitForHold, type WaitRequest } from './wait-loop.js';
import { WaitQueues } from './wait-queue.js';

/** Runs the acquisitions of one `Redlock` over its nodes. */
export class Acquisitions {
  readonly #set: NodeSet;
  readonly #quorum: number;
  readonly #notifications: ReleaseNotifications | undefined;
  /** The wait queues of this `Redlock`'s locks, semaphores and read-write locks. */
  readonly queues = new WaitQueues();
  readonly #stats: AcquisitionStats;

  constructor(set: NodeSet, notifications: ReleaseNotifications | undefined, stats: AcquisitionStats) {
    this.#set = set;
    this.#quorum = quorumOf(set.nodes.length);
    this.#notifications = notifications;
    this.#stats = stats;
  }

  /**
   * Acquires a lock: a re-entrant acquisition never queues (see {@link #reenter}); any other goes through
   * {@link acquireHold}. Called from async methods only, so its synchronous throws reach the caller as rejections.
   */
  acquire(request: CallRequest): Promise<Lock> {
    const set = this.#set;
    if (set.lifecycle.isClosed) throw closedErrorOf('acquire', request.resources);
    const { reentrant } = request;
    if (reentrant !== undefined) {
      request.callerSignal?.throwIfAborted();
      return this.#stats.track(() => this.#reenter(reentrant, request));
    }
    const closed = { operation: 'acquire', resources: request.resources, when: ' while the call waited' };
    return this.acquireHold(request, request.callerSignal, new LockContender(set, request, this.#quorum), closed, this.#stats);
  }

  /**
   * One acquisition of any kind of hold (a lock, a semaphore's permits, a read-write lock's read or write
   * lock), its arguments checked: in the wait loop (see `waitForHold`: its turn behind this process's earlier
   * calls for the same hold, then attempts as the head), or in one attempt with `retryCount: 0`, which asks
   * every node at once. `contender` attempts with the call's signal (see {@link callSignalOf}): the `Redlock`'s
   * own without a caller's signal or a time limit.
   * It rejects at once where two nodes were found to be one server (`throwIfMisconfigured`), and when the
   * `Redlock` closes meanwhile (`closed`, see `Lifecycle.guardedCall`), and
   * releases what the call yields after that. The hold comes back with its release waking the next waiter of
   * its queue here, and kept extended with `autoExtend`; `stats`, if given, counts the call.
   */
  acquireHold<H extends AcquiredHold, F extends FailedAttempt>(
    call: HoldCall,
    callerSignal: AbortSignal | undefined,
    contender: Contender<H, F>,
    closed: ClosedCall,
    stats?: AcquisitionStats,
  ): Promise<H> {
    const set = this.#set;
    const { lifecycle, options } = set;
    callerSignal?.throwIfAborted();
    throwIfMisconfigured(set);
    stats?.started();
    const waiting = callSignalOf(lifecycle, options.clock, callerSignal, call.waitMs);
    const signal = waiting === undefined ? lifecycle.signal : waiting.signal;
    const guarded = lifecycle.guardedCall<H>(closed, releaseAbandoned, waiting?.stop, stats);
    (call.retryCount === 0 ? attemptOnce(contender, signal) : waitForHold(set, this.#notifications, this.queues, call, signal, contender)).then(
      (held) => {
        contender.won?.(held);
        held.afterRelease(this.wakeQueue, contender.queueKeys);
        extendIfAsked(held, call, options.clock);
        guarded.resolved(held);
      },
      (error: unknown) => {
        contender.gaveUp?.();
        guarded.rejected(error);
      },
    );
    return guarded.promise;
  }

  /**
   * A re-entrant acquisition: another handle on `lock`'s hold, bounded like any acquisition by the call's
   * signal and `waitMs` (a {@link LockAcquireError} with `waitMs` then), while the extension it may need
   * runs on for the hold (see `Lock.reenter`).
   */
  async #reenter(lock: Lock, request: CallRequest): Promise<Lock> {
    const waiting = callSignalOf(this.#set.lifecycle, this.#set.options.clock, request.callerSignal, request.waitMs);
    try {
      const handle = await lock.reenter(request.ttlMs, waiting?.signal);
      extendIfAsked(handle, request, this.#set.options.clock);
      return handle;
    } catch (error) {
      if (!(error instanceof WaitExpired)) throw error;
      const { resources } = request;
      throw new LockAcquireError(
        `Could not acquire ${describeResources(resources)} within \`waitMs\` (${error.waitMs} ms): re-entering it needs an extension, which no quorum of nodes had agreed to by then`,
        { resources, attempts: [], reason: 'nodes-unreachable', waitMs: error.waitMs },
      );
    } finally {
      waiting?.stop?.();
    }
  }

  /** Runs `acquiring`, traced on `redlock-core.acquire` as `operation` when someone listens. */
  observed(operation: AcquireTraceContext['operation'], request: CallRequest, acquiring: () => Promise<Lock>): Promise<Lock> {
    if (!isTraced('acquire')) return acquiring();
    const { resources, ttlMs, reentrant } = request;
    return traceAcquire({ operation, resources, ttlMs, isReentrant: reentrant !== undefined }, this.#quorum, this.#set.nodes.length, acquiring);
  }

  /**
   * Wakes the queue of exactly these keys: what a release calls, of a lock, permits, a read-write lock, an
   * adopted lock or one by token. Made once, as every hold calls it.
   */
  readonly wakeQueue = (keys: readonly string[]): void => this.queues.wake(keys);
}

/**
 * The signal one call waits with, and what ends it once the call is over (`undefined`: nothing): it aborts
 * with the caller's reason when `callerSignal` aborts, at `close()`, and with a {@link WaitExpired} after a
 * finite `waitMs`. The time limit travels as the signal: everything that waits already stops when it aborts.
 * `undefined` without a caller's signal or a time limit: the call then waits with the `Redlock`'s own.
 */
function callSignalOf(
  lifecycle: Lifecycle,
  clock: Clock,
  callerSignal: AbortSignal | undefined,
  waitMs: number,
): { readonly signal: AbortSignal; readonly stop: (() => void) | undefined } | undefined {
  if (callerSignal === undefined && waitMs === Infinity) return undefined;
  const closeSignal = lifecycle.signal;
  const controller = new AbortController();
  const abortedFirst = callerSignal?.aborted === true ? callerSignal : closeSignal.aborted ? closeSignal : undefined;
  if (abortedFirst !== undefined) {
    controller.abort(abortedFirst.reason);
    return { signal: controller.signal, stop: undefined };
  }
  // One listener of ours on each signal however many calls share it (see `onAbort`).
  const stopCaller = callerSignal === undefined ? undefined : onAbort(callerSignal, () => controller.abort(callerSignal.reason));
  const stopClose = onAbort(closeSignal, () => controller.abort(closeSignal.reason));
  const timer = waitMs === Infinity ? undefined : clock.setTimeout(() => controller.abort(new WaitExpired(waitMs)), waitMs);
  return {
    signal: controller.signal,
    stop: () => {
      if (timer !== undefined) clock.clearTimeout(timer);
      stopCaller?.();
      stopClose();
    },
  };
}

/** One attempt, for a call with `retryCount: 0`: no queue, no node asked alone first. */
async function attemptOnce<H, F extends FailedAttempt>(contender: Contender<H, F>, signal: AbortSignal): Promise<H> {
  const log = new AttemptLog<F>();
  try {
    const result = await contender.attempt(1, undefined, undefined, signal);
    if (typeof result !== 'string' && contender.isHeld(result)) return result;
    if (typeof result !== 'string') log.add(result);
    signal.throwIfAborted();
    throw contender.errorOf(log);
  } catch (error) {
    if (error instanceof WaitExpired) throw contender.errorOf(log, error.waitMs);
    throw error;
  }
}

/** What an acquisition hands out: a lock, or a claim. */
export type AcquiredHold = ExtendableHandle & { release(): Promise<unknown> };

/** One call's acquisition, as {@link Acquisitions.acquireHold} runs it: its retries, time limit, TTL and automatic extension. */
export interface HoldCall extends WaitRequest {
  readonly waitMs: number;
  readonly autoExtend: boolean;
  readonly limits: ExtensionLimits;
}

/** What a fair call's local queue adds to its keys (see `LockContender.queueKeys`), apart from the default's. */
const FAIR_QUEUE_MARK = '\u0000fair';

/** Releases what a call acquired after `close()` had rejected it: one function for every call, not a closure each. */
const releaseAbandoned = (held: AcquiredHold): Promise<unknown> => held.release();

/** A lock's side of the wait loop (see `waitForHold`): one per waiting call. */
class LockContender implements Contender<Lock, AcquireAttempt> {
  readonly isExclusive = true;
  readonly isFair: boolean;
  readonly queueKeys: readonly string[];
  readonly keys: readonly string[];
  readonly #set: NodeSet;
  readonly #request: AcquireRequest;
  readonly #quorum: number;
  /** A single try (`retryCount: 0`): no attempt follows, so a failure may be reported before every node answered. */
  readonly #isSingleTry: boolean;

  constructor(set: NodeSet, request: AcquireRequest, quorum: number) {
    this.#set = set;
    this.#request = request;
    this.#quorum = quorum;
    this.keys = request.keys;
    this.isFair = request.fair;
    // A fair call's turns here are its own, apart from the default's: its member on the nodes has a lease.
    this.queueKeys = request.fair ? [FAIR_QUEUE_MARK, ...request.keys] : request.keys;
    this.#isSingleTry = request.retryCount === 0;
  }

  leaveQueues(ticket: string, won?: Lock): void {
    const set = this.#set;
    const { keys, ttlMs } = this.#request;
    const run = new ScriptReader(leaveQueueScript, keys, [ticket, won === undefined ? '1' : '0'], parseLeaveQueueReply);
    const leaving: Release = { keys, token: '', ttlMs, keysExpireAt: set.options.clock.now(), announce: false, run };
    for (let nodeIndex = 0; nodeIndex < set.nodes.length; nodeIndex += 1) {
      if (won?.nodes[nodeIndex]?.status !== 'acquired') releaseOnNode(set, nodeIndex, leaving, false);
    }
  }

  /** One attempt; throws when two nodes are one server, or a node replied with a setup mistake: no retry can help. */
  async attempt(attemptNumber: number, wokenBy: number | undefined, ticket: QueueTicket | undefined, signal: AbortSignal): Promise<Lock | AcquireAttempt | 'taken-where-woken'> {
    const set = this.#set;
    const request = this.#request;
    let outcome: Lock | AcquireAttempt | 'taken-where-woken';
    // A fair waiter is woken only when first in the queues, where nobody else can take the lock: it asks every
    // node at once, one round trip sooner than asking the node that woke it first.
    if (this.isFair) wokenBy = undefined;
    if (wokenBy !== undefined || isTraced('attempt')) outcome = await runAttempt(set, request, signal, attemptNumber, wokenBy, this.#isSingleTry, ticket);
    else {
      // The usual attempt, its vote awaited here: no promise of its outcome in between.
      const attempt = new LockAttempt(set, request, signal, attemptNumber, ticket).sendToEveryNode();
      const concluded = attempt.conclude(await attempt.decided(), this.#isSingleTry);
      outcome = concluded instanceof Lock ? concluded : await concluded;
    }
    if (outcome instanceof Lock) return outcome;
    throwIfMisconfiguredAttempt(set, request.resources, outcome === 'taken-where-woken' ? undefined : outcome.nodes);
    return outcome;
  }

  isHeld(result: Lock | AcquireAttempt): result is Lock {
    return result instanceof Lock;
  }

  /** A key that is not a lock never goes away by itself: once such keys deny a quorum, waiting is futile. */
  isFinal(failure: AcquireAttempt): boolean {
    return isBlockedByForeignKeys(failure, this.#quorum);
  }

  isTaken(failure: AcquireAttempt): boolean {
    return failure.nodes.some((node) => node.status === 'held');
  }

  isGrantedSomewhere(failure: AcquireAttempt): boolean {
    return failure.nodes.some((node) => node.status === 'acquired');
  }

  errorOf(log: AttemptLog, waitMs?: number): Error {
    return acquireErrorOf(this.#request, log, this.#quorum, waitMs);
  }
}
