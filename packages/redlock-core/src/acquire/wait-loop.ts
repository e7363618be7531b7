// The one wait loop for every kind of hold (a lock, a semaphore's permits, a read-write lock's read or write
// lock): take turns with this process's other waiters in the local queue (`WaitQueue`, wait-queue.ts: only the
// head asks the nodes, so a release costs one woken attempt however many waiters this process has), then
// attempt on timed retries and at each wake; and its timing rules, the retry delay and the rest after failed
// woken attempts.
import type { Clock } from '../base/clock.js';
import { longestNodeTimeoutMs } from '../nodes/node-latency.js';
import type { NodeSet } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import type { ReleaseNotifications } from '../nodes/release-notifications.js';
import type { RetrySettings } from '../settings/resolve-options.js';
import { AttemptLog, type LoggedAttempt } from './attempt-log.js';
import { QueueTicket } from './queue-ticket.js';
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
   * Whether it takes the hold in turn (a fair lock): it queues on the nodes from its first attempt, stores its
   * place on a quorum at once, and leaves the queues at once when it gives up (see {@link leaveQueues}).
   */
  readonly isFair?: boolean;
  /**
   * One attempt. A woken one gets the node that woke it (`wokenBy`), to ask alone first and stop
   * there if taken. `ticket`, the waiter's queue ticket, joins the wait queues where the attempt is
   * refused (none: the nodes wake nobody then), and hears the places they report. `signal`, the call's,
   * cuts its vote short.
   */
  attempt(attemptNumber: number, wokenBy: number | undefined, ticket: QueueTicket | undefined, signal: AbortSignal): Promise<H | F | string>;
  isHeld(result: H | F): result is H;
  /** Whether a failed attempt ends the call at once: retrying cannot mend it. */
  isFinal(failure: F): boolean;
  /** Whether a node told a failed attempt that others hold what it asked for: only then is a wake worth listening for. */
  isTaken(failure: F): boolean;
  /** Whether a node granted a failed attempt: a fair waiter is first in that node's queue (see {@link isFair}). */
  isGrantedSomewhere?(failure: F): boolean;
  /** The error of a call whose attempts failed, or whose `waitMs` ran out. */
  errorOf(log: AttemptLog<F>, waitMs?: number): Error;
  /** Told of the hold the call won, before the caller gets it. */
  won?(held: H): void;
  /** Told that the call gave up: it failed, or its signal aborted. */
  gaveUp?(): void;
  /**
   * A fair waiter's member (in `ticket`) leaves the nodes' queues, in the background: its process waits no more,
   * or with `won`, where the hold it won was not granted (elsewhere the grant took it out).
   */
  leaveQueues?(ticket: string, won?: H): void;
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
  /** Listens for the wakes of `queue`'s member, unless it does already. A node slow to subscribe holds up neither a release heard meanwhile nor the timed retry. */
  const watch = (queue: WaitQueue): void => {
    if (queue.stopWatching !== undefined || notifications === undefined) return;
    const timeoutMs = longestNodeTimeoutMs(set.nodes, set.options, request.ttlMs, contender.keys.length);
    queue.stopWatching = notifications.watch(queue.id, timeoutMs, (nodeIndex) => queue.wake(nodeIndex), contender.isFair === true);
  };
  const queue = queues.queueOf(contender.queueKeys);
  const waiter = queue.join();
  const log = new AttemptLog<F>();
  // The ticket a refusing node queues, sent once the queue watches (a fair waiter's, from its first attempt):
  // its place is its own, kept when it asks for a reservation.
  let ticket: QueueTicket | undefined;
  let isHeld = false;
  /** Whether a fair waiter's place was sent to the nodes once it had one (see `QueueTicket`). */
  let isPlaceSent = false;
  /** A fair waiter's attempts in a row that followed a failed one at once (see `FAIR_TURN_RETRIES`). */
  let turnRetries = 0;
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
      if (ticket === undefined && (contender.isFair === true || (queue.stopWatching !== undefined && notifications !== undefined))) {
        ticket = new QueueTicket(notifications?.memberOf(queue.id) ?? queues.memberOf(queue.id), quorumOf(set.nodes.length));
        if (notifications !== undefined) ticket.listensOn = (nodeIndex) => notifications.isListening(queue.id, nodeIndex);
        // A fair waiter listens before it queues (Redisson's order): a process that takes the lock again at once
        // keeps its subscriptions, where unsubscribing and subscribing again left a moment in which its member
        // had no listener, and the nodes skipped it as a process gone.
        if (contender.isFair === true) {
          watch(queue);
          const queued = ticket;
          queue.hasAnswered = (nodeIndex) => queued.latestAttempt?.outcomes[nodeIndex] !== undefined;
        }
      }
      // Close to giving up (a holder that takes the hold back at once, every time, beats every wake): from its
      // next timed attempt, which asks every node at once (a reservation on fewer than a quorum only splits the
      // vote), it keeps its place in the queues when woken (a claim's release takes the others off), the
      // oldest such waiter first, and a lock's release reserves the lock for it, for as long as a node call may take.
      if (!isStarving && !isWoken && ticket !== undefined && waiter.failures >= starvingAfter) {
        isStarving = true;
        ticket.reserve(longestNodeTimeoutMs(set.nodes, set.options, request.ttlMs, contender.keys.length));
        // The wake of a release that reserves it is acted on at once.
        wokenFailures = 0;
        restUntil = 0;
      }
      const wokenBy = isWoken && queue.wokenBy !== 'here' ? queue.wokenBy : undefined;
      queue.clearWake(wokenBy);
      const result = await contender.attempt(log.count + 1, wokenBy, ticket, signal);
      if (typeof result !== 'string' && contender.isHeld(result)) {
        isHeld = true;
        if (contender.isFair === true && ticket !== undefined) contender.leaveQueues?.(ticket.text, result);
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
      if (failure === undefined || contender.isTaken(failure)) watch(queue);
      if (contender.isFair === true && turnRetries < FAIR_TURN_RETRIES) {
        // A fair waiter that just learnt its place sends it at once: until a quorum has it there, a waiter that
        // comes later may be placed ahead. And one that a node granted is first there, where no one else can
        // take the lock: the others had not yet seen its release (or its place). Either tries again at once,
        // after the rest of `wakeRestMs`, not counted against `retryCount`, at most `FAIR_TURN_RETRIES` times in a row.
        const isPlaceNew = !isPlaceSent && ticket?.place !== undefined;
        if (isPlaceNew) isPlaceSent = true;
        if ((isPlaceNew && ticket?.queuedPlace === undefined) || (failure !== undefined && contender.isGrantedSomewhere?.(failure) === true)) {
          // Not before the grants of nodes that answered after the attempt failed are being removed: on the same
          // connection, the next attempt's call would come first, and find the key held by the attempt before.
          // Not after a node that is slow to answer, either: at most `LATE_GRANTS_WAIT_MS`, and not at all for
          // a silent node's probe (a paused node's), as the next attempt sends that node nothing while it is out.
          const settled = ticket?.latestAttempt?.settledButProbes();
          if (settled !== undefined) await waitForRetry(clock, LATE_GRANTS_WAIT_MS, wakeOnSettled(settled), undefined);
          await waitForRetry(clock, wakeRestMs(++turnRetries), undefined, signal);
          queue.clearWake();
          isWoken = true;
          continue;
        }
      }
      // A timed retry that is due goes first, however many wakes are pending: wakes never starve it. It
      // still lets the event loop turn: attempts that fail at once (nodes refused, no pause between
      // retries) would otherwise run on microtasks alone, and no timer could end the wait, not even `waitMs`.
      const dueInMs = retryAt - clock.now();
      isWoken = await waitForRetry(clock, Math.max(0, dueInMs), dueInMs > 0 ? queue : undefined, signal);
      turnRetries = 0;
    }
  } catch (error) {
    // Every wait rejects with `signal.reason`: a `waitMs` that ran out is a failure to acquire.
    if (error instanceof WaitExpired) throw contender.errorOf(reportedAttempts(log, waiter, queue), error.waitMs);
    throw error;
  } finally {
    if (ticket !== undefined && contender.isFair === true) queue.hasAnswered = undefined;
    queue.leave(waiter, isHeld, contender.isExclusive);
    // A fair waiter given up with no other waiter here leaves the queues now (a default one's member is skipped
    // by the next release that finds nobody listening, or expires with the queue).
    if (!isHeld && contender.isFair === true && ticket !== undefined && queue.isEmpty) contender.leaveQueues?.(ticket.text);
  }
}

/**
 * How many attempts in a row a fair waiter makes at once after a failed one (see `waitForHold`): with the rests
 * of `wakeRestMs`, about 30 ms; then it waits for a wake or its timed retry, as any waiter.
 */
const FAIR_TURN_RETRIES = 8;

/**
 * How long, at most, a fair waiter's attempt after a failed one waits for the failed one's calls to settle, in
 * milliseconds: their late grants are removed before it asks those nodes again, but a node slow to answer (paused,
 * or far) holds up no turn; it refuses, once, on that one node.
 */
const LATE_GRANTS_WAIT_MS = 10;

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

/** What {@link waitForRetry} ends its wait at: `promise` settled (it never rejects). */
function wakeOnSettled(promise: Promise<unknown>): Pick<Waiter, 'onWake'> {
  return {
    onWake(callback) {
      let isWaiting = true;
      void promise.then(() => {
        if (isWaiting) callback();
      });
      return () => {
        isWaiting = false;
      };
    },
  };
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
