// One way to wait for a hold, whatever its kind (a lock, a semaphore's permits, a read-write lock's read or
// write lock): take turns with the other waiters of this process, then attempt until one attempt wins, with
// timed retries between the attempts, and an attempt at each release heard in between.
import type { Clock } from '../base/clock.js';
import { isUnanswered, type NodeOutcome } from '../base/outcomes.js';
import { leadNodeIndexIn } from '../nodes/lead-node.js';
import { longestNodeTimeoutMs } from '../nodes/node-latency.js';
import type { NodeSet } from '../nodes/node-state.js';
import type { KeyWatch, ReleaseNotifications } from '../nodes/release-notifications.js';
import type { RetrySettings } from '../settings/resolve-options.js';
import { AttemptLog, type LoggedAttempt } from './attempt-log.js';
import { retryDelayMs, WaitExpired, wokenRestMs } from './retry.js';
import type { Waiter, WaitQueue, WaitQueues } from './wait-queue.js';

/** What a failed attempt shows the loop: each node's answer, by node index. */
export interface FailedAttempt extends LoggedAttempt {
  readonly nodes: readonly { readonly status: string }[];
}

/** A call that waits: its retries, and its signal, which carries its `waitMs` and the `Redlock`'s `close()`. */
export interface WaitRequest extends RetrySettings {
  readonly signal: AbortSignal | undefined;
  /** The TTL asked for, in milliseconds: it bounds how long subscribing may take (a node timeout). */
  readonly ttlMs: number;
}

/**
 * One kind of hold as the wait loop sees it: `H` what an attempt that won yields, `F` a failed attempt,
 * and any string an attempt asked at its lead node alone, which found the resource taken there.
 */
export interface Contender<H, F extends FailedAttempt> {
  /** The queue of this process's waiters for the same hold (see `WaitQueues.queueOf`). */
  readonly queueKeys: readonly string[];
  /** The keys whose release announcements wake the waiter. */
  readonly keys: readonly string[];
  /** Whether a hold won keeps the next local waiter out until it is released (a lock, a write lock). */
  readonly isExclusive: boolean;
  /**
   * One attempt. A woken one (by a release, or a look once listening) gets the queue's lead node, which
   * it asks alone first, to stop there if the hold was taken again.
   */
  attempt(attemptNumber: number, leadNodeIndex: number | undefined): Promise<H | F | string>;
  isHeld(result: H | F): result is H;
  /** Whether a failed attempt ends the call at once: retrying cannot mend it. */
  isFinal(failure: F): boolean;
  /** Whether a node told a failed attempt that others hold what it asked for: only then is a release worth listening for. */
  isTaken(failure: F): boolean;
  /** The error of a call whose attempts failed, or whose `waitMs` ran out. */
  errorOf(log: AttemptLog<F>, waitMs?: number): Error;
}

/**
 * Waits for a hold: joins the queue of its hold and waits for its turn (see `WaitQueue`), then attempts
 * as the head until one attempt wins. Timed retries come every `retryDelayMs` ± jitter and count against
 * `retryCount` (with the tries used up while queued). Once a node says the resource is taken, the queue
 * listens for its release and looks once more when the subscriptions are in place (the holder may have
 * released unheard before). A release heard, or made here, wakes the head at once; a woken attempt uses up
 * no retry and asks the lead node first while it answers (timed retries ask every node, so a key left on
 * the lead node alone cannot stall a waiter). Anyone who can PUBLISH can wake the head, so a wake never
 * postpones a timed retry, and after a woken attempt that failed, announcements rest (`wokenRestMs`).
 * Rejects with the contender's error when the retries or `waitMs` run out, else with `signal.reason`.
 */
export async function waitForHold<H, F extends FailedAttempt>(
  set: NodeSet,
  notifications: ReleaseNotifications | undefined,
  queues: WaitQueues,
  request: WaitRequest,
  contender: Contender<H, F>,
): Promise<H> {
  const { clock } = set.options;
  const { signal } = request;
  const queue = queues.queueOf(contender.queueKeys, () => leadNodeIndexIn(set, contender.keys));
  const waiter = queue.join(request);
  const log = new AttemptLog<F>();
  let isHeld = false;
  /** The watch's subscriptions coming in place, until the waiter looked after them. */
  let look: Promise<void> | undefined;
  try {
    const turn = waiter.turn === undefined ? 'first' : await waiter.turn;
    if (turn === 'gave-up') throw contender.errorOf(reportedAttempts(log, waiter, queue));
    let retryAt = turn === 'first' ? 0 : nextRetryAt(clock, request);
    /** What starts the next attempt: its timer, a release, or a look once listening, which no release asked for. */
    let wokenBy: 'timer' | 'release' | 'look' = turn === 'look' ? 'look' : 'timer';
    // Held here: wait for its release before asking any node.
    if (turn === 'held-here') wokenBy = await waitForRetry(clock, retryAt - clock.now(), queue, signal);
    for (;;) {
      signal?.throwIfAborted();
      queue.clearWake();
      // What a woken attempt's rest is measured from; the clock is not read for the others.
      const startedAt = wokenBy === 'release' ? clock.now() : 0;
      const isWoken = wokenBy !== 'timer' && queue.isLeadAnswering;
      const result = await contender.attempt(log.count + 1, isWoken ? queue.leadNodeIndex : undefined);
      if (typeof result !== 'string' && contender.isHeld(result)) {
        isHeld = true;
        return result;
      }
      // Wakes can be forged by anyone who can PUBLISH on a node: each one that failed rests the next.
      if (wokenBy === 'release') queue.restWakes(wokenRestMs(clock.now() - startedAt, queue.watch?.crowdRestMs(request.retryDelayMs) ?? 0));
      // Taken at the lead node, a woken attempt asked no other node: nothing to count or report.
      const failure = typeof result === 'string' ? undefined : result;
      // Before the signal check: an attempt cut off by `waitMs` is the last one the error reports.
      if (failure !== undefined) log.add(failure);
      signal?.throwIfAborted();
      if (failure !== undefined) {
        if (contender.isFinal(failure)) throw contender.errorOf(log);
        queue.recordFailure(failure);
        // A lead node the attempt did not wait for (a first contact, once the others settled the failure)
        // tells nothing yet of whether it answers.
        const lead = failure.nodes[queue.leadNodeIndex];
        if (lead === undefined || !isUnanswered(lead as NodeOutcome<string>)) queue.noteLeadAnswer(lead?.status);
        if (wokenBy === 'timer') {
          waiter.failures += 1;
          if (waiter.failures > request.retryCount) throw contender.errorOf(log);
          retryAt = nextRetryAt(clock, request);
        }
      }
      // The holder may release before we listen: once the subscriptions are in place, look once more, at
      // no cost to the retries. A node slow to subscribe holds up neither a release heard meanwhile nor the
      // timed retry.
      if ((failure === undefined || contender.isTaken(failure)) && queue.watch === undefined && notifications !== undefined) {
        look = queue.listen(notifications, contender.keys, longestNodeTimeoutMs(set.nodes, set.options, request.ttlMs, contender.keys.length)).ready;
      }
      // A timed retry that is due goes first, however many wakes are pending: wakes never starve it. It
      // still lets the event loop turn: attempts that fail at once (nodes refused, no pause between
      // retries) would otherwise run on microtasks alone, and no timer could end the wait, not even `waitMs`.
      if (retryAt <= clock.now()) {
        await nextTimerTurn(clock);
        wokenBy = 'timer';
      } else wokenBy = await waitForRetry(clock, retryAt - clock.now(), queue, signal, look);
      if (wokenBy === 'look') look = undefined;
    }
  } catch (error) {
    // Every wait rejects with `signal.reason`: a `waitMs` that ran out is a failure to acquire.
    if (error instanceof WaitExpired) throw contender.errorOf(reportedAttempts(log, waiter, queue), error.waitMs);
    throw error;
  } finally {
    queue.leave(waiter, isHeld, contender.isExclusive);
  }
}

/** What a waiter that gives up reports: its own attempts, else those heads made while it was queued, else the queue's latest. */
function reportedAttempts<F extends FailedAttempt>(attempts: AttemptLog<F>, waiter: Waiter, queue: WaitQueue): AttemptLog<F> {
  if (attempts.count > 0) return attempts;
  // A queue's waiters are all of one contender: its heads' failed attempts are `F`s.
  if (waiter.attemptsWhileQueued.count > 0) return waiter.attemptsWhileQueued as AttemptLog<F>;
  const log = new AttemptLog<F>();
  if (queue.lastFailure !== undefined) log.add(queue.lastFailure as F);
  return log;
}

/** When the next timed retry of `request` is due on `clock`: `retryDelayMs` ± jitter from now. */
function nextRetryAt(clock: Clock, request: RetrySettings): number {
  return clock.now() + retryDelayMs(request.retryDelayMs, request.retryJitterMs);
}

/** Resolves on a timer of `clock` due at once: after the timers and I/O due now, on the system clock. */
function nextTimerTurn(clock: Clock): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, 0);
  });
}

/** Whatever tells a waiter that the hold may be free: a {@link KeyWatch}, or a local {@link WaitQueue}. */
export type ReleaseSource = Pick<KeyWatch, 'onNextRelease'>;

/**
 * Waits until `delayMs` passed (`'timer'`), a release came (`'release'`), or `look` settled (`'look'`: a
 * watch's subscriptions came in place), whichever comes first; rejects with `signal.reason` if it aborts.
 */
export function waitForRetry(
  clock: Clock,
  delayMs: number,
  source: ReleaseSource | undefined,
  signal: AbortSignal | undefined,
  look?: Promise<void>,
): Promise<'timer' | 'release' | 'look'> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let isDone = false;
    const end = (): boolean => {
      if (isDone) return false;
      isDone = true;
      clock.clearTimeout(timer);
      cancelWake?.();
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const finish = (how: 'timer' | 'release' | 'look'): void => {
      if (end()) resolve(how);
    };
    const onAbort = (): void => {
      if (end()) reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => finish('timer'), delayMs);
    const cancelWake = source?.onNextRelease(() => finish('release'));
    signal?.addEventListener('abort', onAbort, { once: true });
    void look?.then(() => finish('look'));
  });
}
