// The one wait loop for every kind of hold (a lock, a semaphore's permits, a read-write lock's read or write
// lock): take turns with this process's other waiters, then attempt on timed retries and at each wake; and
// its timing rules, the retry delay and the rest after failed woken attempts.
import type { Clock } from '../base/clock.js';
import { longestNodeTimeoutMs } from '../nodes/node-latency.js';
import type { NodeSet } from '../nodes/node-state.js';
import type { ReleaseNotifications } from '../nodes/release-notifications.js';
import type { RetrySettings } from '../settings/resolve-options.js';
import { AttemptLog, type LoggedAttempt } from './attempt-log.js';
import type { Waiter, WaitQueue, WaitQueues } from './wait-queue.js';

/** What a failed attempt shows the loop: each node's answer, by node index. */
export interface FailedAttempt extends LoggedAttempt {
  readonly nodes: readonly { readonly status: string }[];
}

/** A call that waits: its retries, and the TTL it asks for. */
export interface WaitRequest extends RetrySettings {
  /** In milliseconds: it bounds how long subscribing may take (a node timeout). */
  readonly ttlMs: number;
}

/**
 * One kind of hold as the wait loop sees it: `H` what an attempt that won yields, `F` a failed attempt,
 * and any string an attempt that asked the node that woke it alone, which found the resource taken there.
 */
export interface Contender<H, F extends FailedAttempt> {
  /** The queue of this process's waiters for the same hold (see `WaitQueues.queueOf`). */
  readonly queueKeys: readonly string[];
  /** The keys in whose wait queues on the nodes the waiter waits for a wake. */
  readonly keys: readonly string[];
  /** Whether a hold won keeps the next local waiter out until it is released (a lock, a write lock). */
  readonly isExclusive: boolean;
  /**
   * One attempt. A woken one gets the node that woke it (`wokenBy`), to ask alone first and stop
   * there if taken. `ticket`, the waiter's queue ticket, joins the wait queues where the attempt is
   * refused (`''` for none: the nodes wake nobody then).
   */
  attempt(attemptNumber: number, wokenBy: number | undefined, ticket: string): Promise<H | F | string>;
  isHeld(result: H | F): result is H;
  /** Whether a failed attempt ends the call at once: retrying cannot mend it. */
  isFinal(failure: F): boolean;
  /** Whether a node told a failed attempt that others hold what it asked for: only then is a wake worth listening for. */
  isTaken(failure: F): boolean;
  /** The error of a call whose attempts failed, or whose `waitMs` ran out. */
  errorOf(log: AttemptLog<F>, waitMs?: number): Error;
  /** Told of the hold the call won, before the caller gets it. */
  won?(held: H): void;
  /** Told that the call gave up: it failed, or its signal aborted. */
  gaveUp?(): void;
}

/**
 * Waits for a hold: waits for its turn in the queue of its hold (see `WaitQueue`), then attempts as the
 * head until one attempt wins, as ARCHITECTURE.md "The contended path" tells: a timed retry every
 * `retryDelayMs` ± jitter counts against `retryCount` (with the tries used up while queued); a wake starts
 * an attempt at once that counts against nothing. Rejects with the contender's error when the retries or
 * `waitMs` run out, else with `signal.reason` (`signal` carries `waitMs` and the `Redlock`'s `close()`).
 */
export async function waitForHold<H, F extends FailedAttempt>(
  set: NodeSet,
  notifications: ReleaseNotifications | undefined,
  queues: WaitQueues,
  request: WaitRequest,
  signal: AbortSignal,
  contender: Contender<H, F>,
): Promise<H> {
  const { clock } = set.options;
  const queue = queues.queueOf(contender.queueKeys);
  const waiter = queue.join();
  const log = new AttemptLog<F>();
  // The ticket a refusing node queues (`ReleaseNotifications.ticketOf`), sent once the queue watches.
  let ticket = '';
  /** When, by the wall clock, the ticket began to queue: its place in every node's queue, kept when it asks for a reservation. */
  let ticketSinceMs = 0;
  let isHeld = false;
  try {
    const isFirst = queue.isHead(waiter);
    // Queued, in retry periods as long as its timed retries would wait (at least 1 ms: 0 would spin). One in
    // which nobody here acquired, once a head found the hold unavailable, counts as a failed try: the wait
    // stays bounded by the waiter's own retries, while a hold that keeps changing hands here costs it nothing.
    while (!queue.isHead(waiter)) {
      const acquisitions = queue.acquisitions;
      await waitForRetry(clock, Math.max(1, retryDelayMs(request.retryDelayMs, request.retryJitterMs)), waiter, signal);
      const isStalled = !queue.isHead(waiter) && queue.acquisitions === acquisitions && queue.lastFailure !== undefined;
      if (isStalled && ++waiter.failures > request.retryCount) throw contender.errorOf(reportedAttempts(log, waiter, queue));
    }
    let retryAt = isFirst ? 0 : clock.now() + retryDelayMs(request.retryDelayMs, request.retryJitterMs);
    // A turn after another head: at once if its leaving woke this one, else once the hold is released here.
    let isWoken = !isFirst && (await waitForRetry(clock, retryAt - clock.now(), queue, signal));
    /** Whether its ticket says it is close to giving up (see `wakeTicketOf`), once it used half its timed retries (at most 3). */
    let isStarving = false;
    const starvingAfter = Math.min(STARVING_AFTER_FAILURES, Math.ceil(request.retryCount / 2));
    /** Woken attempts that failed in a row, and until when on the clock the next wake waits (see `wakeRestMs`). */
    let wokenFailures = 0;
    let restUntil = 0;
    for (;;) {
      if (isWoken && restUntil > clock.now()) {
        // A timed retry due meanwhile ends the rest: a rest never postpones one.
        await waitForRetry(clock, Math.min(restUntil, retryAt) - clock.now(), undefined, signal);
        isWoken = retryAt > restUntil;
      }
      signal.throwIfAborted();
      if (ticket === '' && queue.stopWatching !== undefined) {
        ticketSinceMs = clock.wallNow();
        ticket = notifications?.ticketOf(queue.id, ticketSinceMs) ?? '';
      }
      // Close to giving up (a holder that takes the hold back at once, every time, beats every wake): from its
      // next timed attempt, which asks every node at once (a reservation on fewer than a quorum only splits the
      // vote), it keeps its place in the queues when woken (a claim's release takes the others off), the
      // oldest such waiter first, and a lock's release reserves the lock for it, for as long as a node call may take.
      if (!isStarving && !isWoken && ticket !== '' && waiter.failures >= starvingAfter) {
        isStarving = true;
        ticket = notifications?.ticketOf(queue.id, ticketSinceMs, longestNodeTimeoutMs(set.nodes, set.options, request.ttlMs, contender.keys.length)) ?? '';
        // The wake of a release that reserves it is acted on at once.
        wokenFailures = 0;
        restUntil = 0;
      }
      const wokenBy = isWoken && queue.wokenBy !== 'here' ? queue.wokenBy : undefined;
      queue.clearWake(wokenBy);
      const result = await contender.attempt(log.count + 1, wokenBy, ticket);
      if (typeof result !== 'string' && contender.isHeld(result)) {
        isHeld = true;
        return result;
      }
      if (wokenBy !== undefined) {
        // The other nodes' wakes of the release it lost came while it ran: they start no second attempt.
        queue.dropNodeWakes();
        restUntil = clock.now() + wakeRestMs(++wokenFailures);
      }
      // Taken at the node that woke it, a woken attempt asked no other node: nothing to count or report.
      const failure = typeof result === 'string' ? undefined : result;
      // Before the signal check: an attempt cut off by `waitMs` is the last one the error reports.
      if (failure !== undefined) log.add(failure);
      signal.throwIfAborted();
      if (failure !== undefined) {
        if (contender.isFinal(failure)) throw contender.errorOf(log);
        queue.recordFailure(failure);
        if (!isWoken) {
          if (++waiter.failures > request.retryCount) throw contender.errorOf(log);
          // At least 1 ms, as Node's timers wait: on a clock that honours 0, attempts that fail at once
          // (every node known down) would retry without time passing, and no probe could ever come due.
          retryAt = clock.now() + Math.max(1, retryDelayMs(request.retryDelayMs, request.retryJitterMs));
        }
      }
      // A node slow to subscribe holds up neither a release heard meanwhile nor the timed retry.
      if ((failure === undefined || contender.isTaken(failure)) && queue.stopWatching === undefined && notifications !== undefined) {
        const timeoutMs = longestNodeTimeoutMs(set.nodes, set.options, request.ttlMs, contender.keys.length);
        queue.stopWatching = notifications.watch(queue.id, timeoutMs, (nodeIndex) => queue.wake(nodeIndex));
      }
      // A timed retry that is due goes first, however many wakes are pending: wakes never starve it. It
      // still lets the event loop turn: attempts that fail at once (nodes refused, no pause between
      // retries) would otherwise run on microtasks alone, and no timer could end the wait, not even `waitMs`.
      const dueInMs = retryAt - clock.now();
      isWoken = await waitForRetry(clock, Math.max(0, dueInMs), dueInMs > 0 ? queue : undefined, signal);
    }
  } catch (error) {
    // Every wait rejects with `signal.reason`: a `waitMs` that ran out is a failure to acquire.
    if (error instanceof WaitExpired) throw contender.errorOf(reportedAttempts(log, waiter, queue), error.waitMs);
    throw error;
  } finally {
    queue.leave(waiter, isHeld, contender.isExclusive);
  }
}

/** The failed timed tries after which a waiter asks to keep its place (and a lock's, for a reservation), or half its `retryCount` if fewer. */
const STARVING_AFTER_FAILURES = 3;

/** What a waiter that gives up reports: its own attempts, else those heads made while it was queued, else the queue's latest. */
function reportedAttempts<F extends FailedAttempt>(attempts: AttemptLog<F>, waiter: Waiter, queue: WaitQueue): AttemptLog<F> {
  if (attempts.count > 0) return attempts;
  // A queue's waiters are all of one contender: its heads' failed attempts are `F`s.
  if (waiter.attemptsWhileQueued !== undefined) return waiter.attemptsWhileQueued as AttemptLog<F>;
  const log = new AttemptLog<F>();
  if (queue.lastFailure !== undefined) log.add(queue.lastFailure as F);
  return log;
}

/**
 * Waits until `delayMs` passed (`false`) or `source` wakes it (`true`: the head's queue at a release, a queued
 * waiter at its turn); rejects with `signal.reason` if it aborts. Each way out clears them all.
 */
export function waitForRetry(clock: Clock, delayMs: number, source: Pick<Waiter, 'onWake'> | undefined, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const end = (settle: () => void): void => {
      clock.clearTimeout(timer);
      cancelWake?.();
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = (): void => end(() => reject(signal?.reason));
    const timer = clock.setTimeout(() => end(() => resolve(false)), delayMs);
    const cancelWake = source?.onWake(() => end(() => resolve(true)));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The pause before the next attempt, in milliseconds: `baseMs` plus a uniform random jitter in
 * `[−jitterMs, +jitterMs]`, never below zero, so that clients that failed together do not collide again.
 */
export function retryDelayMs(baseMs: number, jitterMs: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(baseMs + (random() * 2 - 1) * jitterMs));
}

/**
 * How long a waiter waits before it acts on a wake, in milliseconds, once `failures` woken attempts in a row
 * failed: not at all after the first three (a releaser that took the hold back, or another waiter that won
 * it, now and then: the next release is likely a hand-off, as in S3 tuned), then 1, 2, 4, 8 and 16 ms, and
 * 16 ms from then on. A releaser that takes the hold back at once, every time (S3 at the defaults), then
 * costs an ask every 16 ms, not one per release, and still hands the hold on within 16 ms of the release it
 * does not take back; wakes forged by anyone who can PUBLISH on a node never make a waiter ask as fast as
 * the node answers. A due timed retry ends any rest.
 */
export function wakeRestMs(failures: number): number {
  return failures <= 3 ? 0 : 2 ** Math.min(failures - 4, WAKE_REST_DOUBLINGS);
}

/** How many times the rest of {@link wakeRestMs} doubles, from 1 ms: to 16 ms. */
const WAKE_REST_DOUBLINGS = 4;

/**
 * Why the signal of a call with a finite `waitMs` (in milliseconds) aborted when that time ran out. The caller
 * gets a `LockAcquireError` instead: a wait that runs out is a failure to acquire, not a cancellation.
 */
export class WaitExpired {
  constructor(readonly waitMs: number) {}
}
