// The acquisitions of one `Redlock`'s locks: guarded against `close()`, timed by `waitMs`, counted for
// `stats()`; a single try asks every node once, any other call waits in the wait loop (wait-loop.ts).
import type { AcquireTraceContext } from '../base/diagnostics.js';
import { isAcquireTraced, isAttemptTraced, traceAcquire } from '../base/tracing.js';
import { closedErrorOf } from '../base/errors.js';
import type { GuardedCall } from '../base/lifecycle.js';
import { Lock } from '../lock/lock.js';
import { type NodeSet, throwIfMisconfigured } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import type { AcquireAttempt } from '../base/outcomes.js';
import type { ReleaseNotifications } from '../nodes/release-notifications.js';
import type { AcquisitionStats } from '../nodes/stats.js';
import { acquireErrorOf, isBlockedByForeignKeys } from './acquire-error.js';
import { Attempt, runAttempt } from './attempt.js';
import { AttemptLog } from './attempt-log.js';
import { misconfiguredNodeErrorOf } from './misconfigured-nodes.js';
import type { AcquireRequest, CallRequest } from './request.js';
import { startWaitDeadline, WaitExpired } from './retry.js';
import { type Contender, waitForHold } from './wait-loop.js';
import { WaitQueues } from './wait-queue.js';

/** Runs the acquisitions of one `Redlock` over its nodes. */
export class Acquisitions {
  readonly #set: NodeSet;
  readonly #quorum: number;
  readonly #notifications: ReleaseNotifications | undefined;
  /** The wait queues of this `Redlock`'s locks, semaphores and read-write locks. */
  readonly queues: WaitQueues;
  readonly #stats: AcquisitionStats;

  constructor(set: NodeSet, notifications: ReleaseNotifications | undefined, stats: AcquisitionStats) {
    this.#set = set;
    this.#quorum = quorumOf(set.nodes.length);
    this.#notifications = notifications;
    this.queues = new WaitQueues();
    this.#stats = stats;
  }

  /** Throws a `MisconfiguredNodeError` when a node of a failed attempt replied with a setup mistake: no retry can help. */
  #throwIfNodeMisconfigured(request: AcquireRequest, attempt: AcquireAttempt): void {
    const error = misconfiguredNodeErrorOf(request.resources, attempt.nodes);
    if (error !== undefined) throw error;
  }

  /**
   * Acquires through the local wait queue of the request's resources (see {@link WaitQueue}): a
   * re-entrant acquisition never queues, nor does a single try (`retryCount: 0`), which asks every node
   * at once; any other call waits for its turn behind the earlier calls of this `Redlock` on the same
   * resources, then runs attempts as the head (see {@link #acquireInQueue}). It rejects at once when the
   * `Redlock` closes meanwhile (see `Lifecycle.guardedCall`). Called from async methods only, so its synchronous
   * throws reach the caller as rejections.
   */
  acquire(request: CallRequest): Promise<Lock> {
    const { lifecycle } = this.#set;
    if (lifecycle.isClosed) throw closedErrorOf('acquire', request.resources);
    const { reentrant, callerSignal } = request;
    callerSignal?.throwIfAborted();
    if (reentrant !== undefined) return this.#stats.track(() => reentrant.reenter(request.ttlMs));
    throwIfMisconfigured(this.#set);
    let running: AcquireRequest = request;
    let dispose: (() => void) | undefined;
    if (callerSignal !== undefined) {
      const both = lifecycle.signalWith(callerSignal);
      running = { ...request, signal: both.signal };
      dispose = both.dispose;
    }
    let stopDeadline: (() => void) | undefined;
    if (request.waitMs !== Infinity) {
      // The time limit travels as the signal: everything that waits already stops when it aborts.
      const deadline = startWaitDeadline(this.#set.options.clock, request.waitMs, running.signal);
      running = { ...running, signal: deadline.signal };
      stopDeadline = deadline.stop;
    }
    // Counted for `stats()` by the call's own reports.
    this.#stats.started();
    const call = lifecycle.guardedCall<Lock>(
      { operation: 'acquire', resources: request.resources, when: ' while the call waited' },
      releaseAbandoned,
      stopDeadline === undefined && dispose === undefined
        ? undefined
        : () => {
            stopDeadline?.();
            dispose?.();
          },
      this.#stats,
    );
    if (running.retryCount === 0) void this.#tryOnce(running, call);
    else {
      waitForHold(this.#set, this.#notifications, this.queues, running, new LockContender(this.#set, running, this.#quorum)).then(
        (lock) => call.resolved(this.#wakeQueueAtRelease(lock)),
        (error: unknown) => call.rejected(error),
      );
    }
    return call.promise;
  }

  /** One attempt over every node, without queueing: what `retryCount: 0` asks for. Reports to `call`; never rejects. */
  async #tryOnce(request: AcquireRequest, call: GuardedCall<Lock>): Promise<void> {
    try {
      // No queue, so no lead node to ask first: its release works the lead node out.
      const outcome = await runAttempt(this.#set, request, 1, undefined, true);
      if (outcome instanceof Lock) return call.resolved(this.#wakeQueueAtRelease(outcome));
      throwIfMisconfigured(this.#set);
      if (outcome !== 'held-at-lead') this.#throwIfNodeMisconfigured(request, outcome);
      const log = new AttemptLog();
      // Never 'held-at-lead': it asked every node.
      log.add(outcome as AcquireAttempt);
      this.#throwIfAborted(request, log);
      throw acquireErrorOf(request, log, this.#quorum);
    } catch (error) {
      call.rejected(error);
    }
  }

  /**
   * Throws once the request's signal aborted: a {@link LockAcquireError} reporting `log` when its
   * `waitMs` ran out, else the caller's `signal.reason`.
   */
  #throwIfAborted(request: AcquireRequest, log: AttemptLog): void {
    const { signal } = request;
    if (signal?.aborted !== true) return;
    const reason: unknown = signal.reason;
    throw reason instanceof WaitExpired ? acquireErrorOf(request, log, this.#quorum, reason.waitMs) : reason;
  }

  /** Runs `acquiring`, traced on `redlock-core.acquire` as `operation` when someone listens. */
  observed(operation: AcquireTraceContext['operation'], request: CallRequest, acquiring: () => Promise<Lock>): Promise<Lock> {
    if (!isAcquireTraced()) return acquiring();
    const { resources, ttlMs, reentrant } = request;
    return traceAcquire({ operation, resources, ttlMs, isReentrant: reentrant !== undefined }, this.#quorum, this.#set.nodes.length, acquiring);
  }

  /** Hands `lock` back after making its release wake the next local waiter on the same resources at once. */
  #wakeQueueAtRelease(lock: Lock): Lock {
    lock.afterRelease(this.wakeQueue);
    return lock;
  }

  /**
   * Wakes the queue of exactly these resource keys: what a release of them calls, a lock's, an adopted
   * lock's or one by token. Made once, as every lock calls it.
   */
  readonly wakeQueue = (keys: readonly string[]): void => this.queues.wake(keys);
}

/** Releases a lock that a call acquired after `close()` had rejected it. */
function releaseAbandoned(lock: Lock): Promise<unknown> {
  return lock.release();
}

/** A lock's side of the wait loop (see `waitForHold`): one per waiting call. */
class LockContender implements Contender<Lock, AcquireAttempt> {
  readonly isExclusive = true;
  readonly queueKeys: readonly string[];
  readonly keys: readonly string[];
  readonly #set: NodeSet;
  readonly #request: AcquireRequest;
  readonly #quorum: number;

  constructor(set: NodeSet, request: AcquireRequest, quorum: number) {
    this.#set = set;
    this.#request = request;
    this.#quorum = quorum;
    this.keys = this.queueKeys = request.keys;
  }

  /** One attempt; throws when two nodes are one server, or a node replied with a setup mistake: no retry can help. */
  async attempt(attemptNumber: number, leadNodeIndex: number | undefined): Promise<Lock | AcquireAttempt | 'held-at-lead'> {
    const set = this.#set;
    const request = this.#request;
    let outcome: Lock | AcquireAttempt | 'held-at-lead';
    if (leadNodeIndex !== undefined || isAttemptTraced()) {
      outcome = await runAttempt(set, request, attemptNumber, leadNodeIndex);
    } else {
      // The usual attempt, its vote awaited here: no promise of its outcome in between.
      const attempt = new Attempt(set, request, attemptNumber).sendToEveryNode();
      const concluded = attempt.conclude(await attempt.decided());
      outcome = concluded instanceof Lock ? concluded : await concluded;
    }
    if (outcome instanceof Lock) return outcome;
    throwIfMisconfigured(set);
    if (outcome !== 'held-at-lead') {
      const error = misconfiguredNodeErrorOf(request.resources, outcome.nodes);
      if (error !== undefined) throw error;
    }
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

  errorOf(log: AttemptLog, waitMs?: number): Error {
    return acquireErrorOf(this.#request, log, this.#quorum, waitMs);
  }
}
