// The acquisitions of one `Redlock`: a call waits its turn in the local queue of its resources, then runs
// attempts as the head until one succeeds, its retries run out, or its signal or `close()` stops it.
import type { Clock } from '../base/clock.js';
import type { AcquireTraceContext } from '../base/diagnostics.js';
import { isAcquireTraced, isAttemptTraced, traceAcquire } from '../base/tracing.js';
import { closedErrorOf } from '../base/errors.js';
import type { GuardedCall } from '../base/lifecycle.js';
import { Lock } from '../lock/lock.js';
import { type NodeSet, throwIfMisconfigured } from '../nodes/node-state.js';
import { longestNodeTimeoutMs } from '../nodes/node-latency.js';
import { quorumOf } from '../nodes/quorum.js';
import type { AcquireAttempt } from '../base/outcomes.js';
import { leadNodeIndexIn } from '../nodes/lead-node.js';
import { type ReleaseNotifications, waitForRetry, waitUntilListening } from '../nodes/release-notifications.js';
import type { AcquisitionStats } from '../nodes/stats.js';
import { acquireErrorOf, isBlockedByForeignKeys } from './acquire-error.js';
import { Attempt, runAttempt } from './attempt.js';
import { AttemptLog } from './attempt-log.js';
import { misconfiguredNodeErrorOf } from './misconfigured-nodes.js';
import type { AcquireRequest, CallRequest } from './request.js';
import { retryDelayMs, startWaitDeadline, WaitExpired } from './retry.js';
import type { Waiter, WaitQueue } from './wait-queue.js';
import { WaitQueues } from './wait-queues.js';

/** Runs the acquisitions of one `Redlock` over its nodes. */
export class Acquisitions {
  readonly #set: NodeSet;
  readonly #quorum: number;
  readonly #notifications: ReleaseNotifications | undefined;
  readonly #queues: WaitQueues;
  readonly #stats: AcquisitionStats;

  constructor(set: NodeSet, notifications: ReleaseNotifications | undefined, stats: AcquisitionStats) {
    this.#set = set;
    this.#quorum = quorumOf(set.nodes.length);
    this.#notifications = notifications;
    this.#queues = new WaitQueues(set.options.clock);
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
    // Each reports to `call` and never rejects.
    void (running.retryCount === 0 ? this.#tryOnce(running, call) : this.#acquireInQueue(running, call));
    return call.promise;
  }

  /** One attempt over every node, without queueing: what `retryCount: 0` asks for. Reports to `call`; never rejects. */
  async #tryOnce(request: AcquireRequest, call: GuardedCall<Lock>): Promise<void> {
    try {
      // No queue, so no lead node to ask first: its release works the lead node out.
      const outcome = await runAttempt(this.#set, request, 1, undefined, false, Infinity, true);
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

  /**
   * Joins the queue of the request's resources, waits for its turn, then runs attempts as the head until
   * one succeeds. Timed retries follow each other at `retryDelayMs` ± jitter and are counted by
   * `retryCount`, with the tries the waiter used up while it was queued (see {@link Waiter.failures}).
   * When the lock is held by another owner and the nodes can notify, the queue also listens for its
   * release, and a local release of the same resources wakes it too: the head tries again the moment
   * either comes, and such a woken attempt uses up no retry, so a waiter gives up only after its timed
   * retries, however often the lock changes hands. A woken attempt asks the lead node first and stops
   * there if the lock was taken again (see `leadNodeIndexOf`); timed retries always ask every node, so a
   * key left on the lead node alone cannot stall a waiter. Anyone who can PUBLISH on a node can wake the
   * head, so a wake never postpones a timed retry (a due retry goes before any wake, and a woken attempt
   * stops asking its lead node patiently when the retry is due), and after a woken attempt that failed,
   * announcements rest (see {@link WaitQueue.restWakes}): the give-up time stays that of the timed retries.
   * Reports to `call` (the lock, or why not); never rejects.
   */
  async #acquireInQueue(request: AcquireRequest, call: GuardedCall<Lock>): Promise<void> {
    const { signal, retryCount, keys, ttlMs } = request;
    const { options, nodes } = this.#set;
    const { clock } = options;
    let queue: WaitQueue | undefined;
    let waiter: Waiter | undefined;
    let lock: Lock | undefined;
    /** This call's own attempts, as the head. */
    const attempts = new AttemptLog();
    try {
      queue = this.#queues.queueOf(request, this.#leadNodeIndexFor);
      waiter = queue.join(request);
      const { leadNodeIndex } = queue;
      const turn = waiter.turn === undefined ? 'first' : await waiter.turn;
      if (turn === 'gave-up') throw acquireErrorOf(request, reportedAttempts(attempts, waiter, queue), this.#quorum);
      let retryAt = turn === 'first' ? 0 : nextRetryAtOf(clock, request);
      /** What starts the next attempt: its timer, a release (a wake), or a look that no release asked for. */
      let wokenBy: 'timer' | 'release' | 'look' = turn === 'look' ? 'look' : 'timer';
      // The lock is held here: wait for its release before asking any node.
      if (turn === 'held-here') wokenBy = wokenByOf(await waitForRetry(clock, retryAt - clock.now(), queue, signal), queue);
      for (;;) {
        signal?.throwIfAborted();
        const isWoken = wokenBy !== 'timer';
        queue.clearWake();
        // What a woken attempt's rest is measured from; the clock is not read for the others.
        const startedAt = wokenBy === 'release' ? clock.now() : 0;
        const asksLeadFirst = isWoken && queue.isLeadAnswering;
        let outcome: Lock | AcquireAttempt | 'held-at-lead';
        if (asksLeadFirst || isAttemptTraced()) {
          // An attempt woken by a release asks patiently only until the timed retry is due: a wake never
          // postpones it. A look asks once: no release was heard that could still be on its way to a node.
          outcome = await runAttempt(this.#set, request, attempts.count + 1, leadNodeIndex, asksLeadFirst, wokenBy === 'release' ? retryAt : -Infinity);
        } else {
          // The usual attempt, its vote awaited here: no promise of its outcome in between.
          const attempt = new Attempt(this.#set, request, attempts.count + 1, leadNodeIndex).sendToEveryNode();
          const concluded = attempt.conclude(await attempt.decided());
          outcome = concluded instanceof Lock ? concluded : await concluded;
        }
        if (outcome instanceof Lock) {
          lock = outcome;
          return call.resolved(this.#wakeQueueAtRelease(outcome));
        }
        // Wakes can be forged by anyone who can PUBLISH on a node: each one that failed rests the next.
        if (wokenBy === 'release') queue.restWakes(clock.now() - startedAt, request.retryDelayMs);
        throwIfMisconfigured(this.#set);
        if (outcome !== 'held-at-lead') this.#throwIfNodeMisconfigured(request, outcome);
        // Before the signal check: an attempt cut off by `waitMs` is the last one the error reports.
        if (outcome !== 'held-at-lead') attempts.add(outcome);
        signal?.throwIfAborted();
        let isHeld = outcome === 'held-at-lead';
        if (outcome !== 'held-at-lead') {
          // A key that is not a lock never goes away by itself: once such keys deny a quorum, waiting is futile.
          if (isBlockedByForeignKeys(outcome, this.#quorum)) throw acquireErrorOf(request, attempts, this.#quorum);
          queue.recordFailure(outcome);
          queue.noteLeadAnswer(outcome.nodes[leadNodeIndex]?.status);
          if (!isWoken) {
            waiter.failures += 1;
            if (waiter.failures > retryCount) throw acquireErrorOf(request, attempts, this.#quorum);
            retryAt = nextRetryAtOf(clock, request);
          }
          isHeld = outcome.nodes.some((node) => node.status === 'held');
        }
        if (isHeld && queue.watch === undefined && this.#notifications) {
          const watch = queue.listen(this.#notifications, keys, longestNodeTimeoutMs(nodes, options, ttlMs, keys.length));
          const listening = await waitUntilListening(watch, queue, clock, retryAt, signal);
          // The holder may have released before we listened: look once more, at no cost to the retries.
          // A node slow to subscribe holds up neither a release heard meanwhile nor the timed retry; the
          // look then comes when the subscriptions are in place (the queue's own look, never rested).
          const listened = queue;
          if (listening !== 'ready') void watch.ready.then(() => listened.look());
          wokenBy = listening === 'ready' ? 'look' : wokenByOf(listening, queue);
          continue;
        }
        // A timed retry that is due goes first, however many wakes are pending: wakes never starve it. It
        // still lets the event loop turn: attempts that fail at once (nodes refused, no pause between
        // retries) would otherwise run on microtasks alone, and no timer could end the wait, not even `waitMs`.
        if (retryAt <= clock.now()) {
          await nextTimerTurn(clock);
          wokenBy = 'timer';
        } else wokenBy = wokenByOf(await waitForRetry(clock, retryAt - clock.now(), queue, signal), queue);
      }
    } catch (error) {
      // Every wait rejects with `signal.reason`: a `waitMs` that ran out is a failure to acquire.
      if (error instanceof WaitExpired && waiter !== undefined && queue !== undefined) {
        call.rejected(acquireErrorOf(request, reportedAttempts(attempts, waiter, queue), this.#quorum, error.waitMs));
      } else call.rejected(error);
    } finally {
      if (waiter !== undefined) queue?.leave(waiter, lock !== undefined);
    }
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
  readonly wakeQueue = (keys: readonly string[]): void => this.#queues.wake(keys);

  /** The node a woken head asks first, for a request that makes a queue (see `leadNodeIndexOf`). */
  readonly #leadNodeIndexFor = (request: AcquireRequest): number => leadNodeIndexIn(this.#set, request.keys);
}

/** What a waiter that gives up reports: its own attempts, else those heads made while it was queued, else the queue's latest. */
function reportedAttempts(attempts: AttemptLog, waiter: Waiter, queue: WaitQueue): AttemptLog {
  if (attempts.count > 0) return attempts;
  if (waiter.attemptsWhileQueued.count > 0) return waiter.attemptsWhileQueued;
  const log = new AttemptLog();
  if (queue.lastFailure !== undefined) log.add(queue.lastFailure);
  return log;
}

/** What woke the head of `queue`: its timer, a release, or a look of its own (see `WaitQueue.look`). */
function wokenByOf(how: 'timer' | 'release', queue: WaitQueue): 'timer' | 'release' | 'look' {
  return how === 'release' && queue.wasWokenByLook ? 'look' : how;
}

/** When the next timed retry of `request` is due on `clock`: `retryDelayMs` ± jitter from now. */
function nextRetryAtOf(clock: Clock, request: AcquireRequest): number {
  return clock.now() + retryDelayMs(request.retryDelayMs, request.retryJitterMs);
}

/** Releases a lock that a call acquired after `close()` had rejected it. */
function releaseAbandoned(lock: Lock): Promise<unknown> {
  return lock.release();
}

/** Resolves on a timer of `clock` due at once: after the timers and I/O due now, on the system clock. */
function nextTimerTurn(clock: Clock): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, 0);
  });
}
