import { AttemptLog, type LoggedAttempt } from './attempt-log.js';
import { type Clock, recheckDelayMs } from '../base/clock.js';
import type { RetrySettings } from '../settings/resolve-options.js';
import type { KeyWatch, ReleaseNotifications, ReleaseSource } from '../nodes/release-notifications.js';
import { retryDelayMs, wokenRestMs } from './retry.js';

/**
 * How a waiter's turn at the head of its queue began, which decides its first move:
 * - `'first'`: it found no queue; it tries at once, and that attempt counts as its first try.
 * - `'held-here'`: a waiter of the queue acquired a hold that keeps the others out (a lock, a write lock)
 *   and has not released it: the head waits for that release (or its own retry timer) before it asks any node.
 * - `'look'`: the waiter before it left without the lock (gave up, aborted or failed), or with a hold
 *   others may share (permits, a read lock): it looks at once, at no cost to its retries.
 */
export type Turn = 'first' | 'held-here' | 'look';

/**
 * The settings of one waiter: its own retries and signal. A finite `waitMs` reaches the queue as the
 * signal, which aborts when it runs out.
 */
export interface WaiterSettings extends RetrySettings {
  readonly signal: AbortSignal | undefined;
}

/** Where a {@link WaitQueue} is kept (`WaitQueues`, wait-queues.ts): it leaves when its last waiter is gone. */
export interface QueueRegistry {
  /** Forgets `queue`, kept under `id`. */
  remove(queue: WaitQueue, id: string): void;
}

/** One call of `acquire()` in a {@link WaitQueue}. */
export interface Waiter {
  /**
   * Failed tries counted against `retryCount`; the waiter gives up when there are more. As the head: each
   * failed timed attempt. While queued: joining (its first try found the lock taken by a waiter ahead), and
   * each of its retry periods in which no waiter of the queue acquired the lock.
   */
  failures: number;
  /** The full attempts that heads made, and failed, while this waiter was queued (bounded: see {@link AttemptLog}). */
  readonly attemptsWhileQueued: AttemptLog<LoggedAttempt>;
  /**
   * `undefined` for a waiter that was the head from the start; else settles when its turn comes, with
   * `'gave-up'` when its retries ran out in the queue, or rejects with `signal.reason` when its signal
   * aborts first.
   */
  readonly turn: Promise<Turn | 'gave-up'> | undefined;
}

/** A waiter with what only its queue touches. */
interface QueuedWaiter extends Waiter {
  readonly settings: WaiterSettings;
  turn: Promise<Turn | 'gave-up'> | undefined;
  settle: (turn: Turn | 'gave-up') => void;
  /** The timer of its current retry period while queued. */
  periodTimer: unknown;
  onAbort: (() => void) | undefined;
}

/**
 * The local waiters of one `Redlock` on one set of resources (a lock's keys, a semaphore, one mode of a
 * read-write lock), in arrival order: only the first, the head, runs attempts over the network; the
 * others wait for their turn, which comes when the head leaves (with the hold or without it). So a release
 * costs one woken attempt however many waiters this process has, and the holds go to them in the order
 * they called `acquire()`.
 *
 * State of a waiter: queued ──turn──▶ head ──acquired / gave up / aborted / failed──▶ gone, and queued
 * ──retries ran out / signal aborted──▶ gone. The queue removes itself when its last waiter is gone.
 */
export class WaitQueue implements ReleaseSource {
  /** The node a woken head asks first (see `leadNodeIndexOf`), fixed by the waiter that made the queue. */
  readonly leadNodeIndex: number;
  /** Whether woken heads ask the lead node first: while it answered the latest full attempt. */
  isLeadAnswering = true;
  /** The release notifications of the queue's keys, from the first time a head found the lock held. */
  watch: KeyWatch | undefined;
  /** The latest full attempt a head made and failed: what a waiter that gives up in the queue reports. */
  lastFailure: LoggedAttempt | undefined;

  readonly #clock: Clock;
  /** The queues this one is in, under {@link #id}: it leaves them when its last waiter is gone. */
  readonly #queues: QueueRegistry;
  readonly #id: string;
  #head: QueuedWaiter | undefined;
  /** The waiters behind the head, in arrival order; made when the first one comes (most locks have none). */
  #queued: Set<QueuedWaiter> | undefined;
  /** How many waiters acquired the lock from the head of this queue: each one is progress for the others. */
  #acquisitions = 0;
  /** Whether a waiter of the queue acquired the lock, and no release (here or announced) came since. */
  #isHeldHere = false;
  #isWakePending = false;
  /** Whether a local release is among the pending wakes: those are never rested. */
  #isLocalWakePending = false;
  #onWake: (() => void) | undefined;
  /** Before this time on the clock, announced releases wait for it (see {@link restWakes}). */
  #wakesRestUntil = -Infinity;
  /** The timer that wakes the head at the end of a rest, for the releases announced during it. */
  #restTimer: unknown;

  /** @param id - The queue's key in `queues`, which it leaves when its last waiter is gone. */
  constructor(clock: Clock, leadNodeIndex: number, queues: QueueRegistry, id: string) {
    this.#clock = clock;
    this.leadNodeIndex = leadNodeIndex;
    this.#queues = queues;
    this.#id = id;
  }

  /** How many waiters the queue holds, its head included. */
  get size(): number {
    return (this.#head === undefined ? 0 : 1) + (this.#queued?.size ?? 0);
  }

  /**
   * Adds a waiter at the end. The first waiter of an empty queue is its head at once (`turn` is
   * `undefined`); any other waits for its turn, counting its retry periods (see {@link Waiter.failures}).
   */
  join(settings: WaiterSettings): Waiter {
    const waiter: QueuedWaiter = {
      settings,
      failures: 0,
      attemptsWhileQueued: new AttemptLog(),
      turn: undefined,
      // The head's turn is never settled: only a waiter behind it gets a `settle` of its own (below).
      settle: NO_TURN,
      periodTimer: undefined,
      onAbort: undefined,
    };
    if (this.#head === undefined) {
      this.#head = waiter;
      return waiter;
    }
    (this.#queued ??= new Set()).add(waiter);
    // It found the lock taken, by the waiters ahead: its first try, as if it had asked the nodes.
    waiter.failures = 1;
    waiter.turn = new Promise<Turn | 'gave-up'>((resolve, reject) => {
      waiter.settle = resolve;
      const { signal } = settings;
      if (signal === undefined) return;
      waiter.onAbort = () => {
        this.#remove(waiter);
        reject(signal.reason);
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
    });
    this.#startPeriod(waiter);
    return waiter;
  }

  /**
   * Takes a waiter out of the queue, whatever its state; `hasAcquired` tells that it leaves as the head
   * with its hold, and `keepsOthersOut` that the hold is exclusive (a lock, a write lock). When the head
   * leaves, the next waiter's turn begins. Calling it again does nothing.
   */
  leave(waiter: Waiter, hasAcquired: boolean, keepsOthersOut: boolean): void {
    if (waiter !== this.#head) {
      this.#remove(waiter as QueuedWaiter);
      return;
    }
    if (hasAcquired) {
      this.#acquisitions += 1;
      this.#isHeldHere = keepsOthersOut;
      // Releases that came before are no news to the next head: the lock is held here now.
      this.clearWake();
    }
    const next: QueuedWaiter | undefined = this.#queued?.values().next().value;
    this.#head = next;
    if (next === undefined) {
      this.#close();
      return;
    }
    (this.#queued as Set<QueuedWaiter>).delete(next);
    this.#stopWaiting(next);
    next.settle(this.#isHeldHere ? 'held-here' : 'look');
  }

  /**
   * Counts a full attempt that a head made and failed: waiters that give up in the queue report the
   * attempts made while they waited.
   */
  recordFailure(attempt: LoggedAttempt): void {
    this.lastFailure = attempt;
    for (const waiter of this.#queued ?? []) waiter.attemptsWhileQueued.add(attempt);
  }

  /**
   * Notes how the lead node answered a full attempt: woken heads ask it first only while it answers, and
   * once it failed, the watch covers every node for the rest of the queue's life.
   */
  noteLeadAnswer(status: string | undefined): void {
    const isAnswering = status !== 'timeout' && status !== 'error';
    if (!isAnswering && this.isLeadAnswering) this.watch?.watchEveryNode();
    this.isLeadAnswering = isAnswering;
  }

  /**
   * Watches the release notifications of `keys` for every head to come, if no head did yet; returns the
   * watch. Its notifications wake the head like a local release does, but never during a rest (see
   * {@link restWakes}).
   */
  listen(notifications: ReleaseNotifications, keys: readonly string[], timeoutMs: number): KeyWatch {
    if (this.watch !== undefined) return this.watch;
    const watch = notifications.watch(keys, timeoutMs, this.leadNodeIndex);
    if (!this.isLeadAnswering) watch.watchEveryNode();
    const relay = (): void => {
      watch.onNextRelease(relay);
      this.#wakeAfterRest();
    };
    watch.onNextRelease(relay);
    this.watch = watch;
    return watch;
  }

  /**
   * Tells the head that a lock on these resources was released here, so it may be free. If the head is
   * not waiting, it will not wait at its next wait.
   */
  wake(): void {
    this.#wakeHead(true);
  }

  /**
   * Rests the announced releases after a woken attempt that failed and took `attemptMs`: until
   * `wokenRestMs(attemptMs, crowd)` from now, an announcement does not wake
   * the head; the first one to come wakes it once, at the end, and so does a wake that came while the
   * attempt ran, unless a local release is among them. Local releases are never rested: no one else can
   * fake them. `crowd` is the rest that many processes waiting on the resource call for, at most
   * `longestRestMs`, the head's retry delay (see `KeyWatch.crowdRestMs`).
   */
  restWakes(attemptMs: number, longestRestMs: number): void {
    const crowdMs = this.watch?.crowdRestMs(longestRestMs) ?? 0;
    this.#wakesRestUntil = this.#clock.now() + wokenRestMs(attemptMs, crowdMs);
    if (!this.#isWakePending || this.#isLocalWakePending) return;
    this.clearWake();
    this.#wakeAfterRest();
  }

  /** Forgets the releases seen so far: the head calls it as it starts an attempt, which will see them. */
  clearWake(): void {
    this.#isWakePending = false;
    this.#isLocalWakePending = false;
  }

  /** See {@link KeyWatch.onNextRelease}: calls `callback` once, at the next {@link wake} or at once if one is pending. */
  onNextRelease(callback: () => void): () => void {
    if (this.#isWakePending) {
      this.clearWake();
      queueMicrotask(callback);
      return () => undefined;
    }
    this.#onWake = callback;
    return () => {
      if (this.#onWake === callback) this.#onWake = undefined;
    };
  }

  /** Wakes the head for an announced release, at once, or once at the end of the current rest. */
  #wakeAfterRest(): void {
    const restMs = this.#wakesRestUntil - this.#clock.now();
    if (restMs <= 0) {
      this.#wakeHead(false);
      return;
    }
    if (this.#restTimer !== undefined) return;
    this.#restTimer = this.#clock.setTimeout(() => {
      this.#restTimer = undefined;
      // A local release may have woken an attempt that failed during the rest and made it longer.
      this.#wakeAfterRest();
    }, recheckDelayMs(restMs));
  }

  /** Wakes the head now if it waits, else at its next wait; `isLocal` for a release made here. */
  #wakeHead(isLocal: boolean): void {
    this.#isHeldHere = false;
    const callback = this.#onWake;
    this.#onWake = undefined;
    if (callback !== undefined) {
      callback();
      return;
    }
    this.#isWakePending = true;
    if (isLocal) this.#isLocalWakePending = true;
  }

  /** Removes a waiter from behind the head and ends its waiting; does nothing if it is not there. */
  #remove(waiter: QueuedWaiter): void {
    if (this.#queued?.delete(waiter) !== true) return;
    this.#stopWaiting(waiter);
  }

  /** Ends the queue once its last waiter, the head, is gone. */
  #close(): void {
    this.watch?.close();
    this.watch = undefined;
    this.#onWake = undefined;
    // Most queues never rest: no native call for a timer that was never set.
    if (this.#restTimer !== undefined) this.#clock.clearTimeout(this.#restTimer);
    this.#restTimer = undefined;
    this.#queues.remove(this, this.#id);
  }

  #stopWaiting(waiter: QueuedWaiter): void {
    this.#clock.clearTimeout(waiter.periodTimer);
    waiter.periodTimer = undefined;
    if (waiter.onAbort !== undefined) waiter.settings.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.onAbort = undefined;
  }

  /**
   * Starts one retry period of a queued waiter, `retryDelayMs` ± `retryJitterMs` as its own timed retries
   * would have been. A period in which no waiter acquired the lock, while a head has found it unavailable
   * (so it is held, here for long or by another owner, or the nodes are unreachable), counts as a failed
   * try: the wait stays bounded by the waiter's own retries, while a lock that keeps changing hands here
   * costs it nothing.
   */
  #startPeriod(waiter: QueuedWaiter): void {
    const acquisitionsAtStart = this.#acquisitions;
    const { retryDelayMs: baseMs, retryJitterMs, retryCount } = waiter.settings;
    // At least 1 ms: a period of 0 would spin at one instant without ever letting the head progress.
    const periodMs = Math.max(1, retryDelayMs(baseMs, retryJitterMs));
    waiter.periodTimer = this.#clock.setTimeout(() => {
      if (this.#acquisitions === acquisitionsAtStart && this.lastFailure !== undefined) {
        waiter.failures += 1;
        if (waiter.failures > retryCount) {
          this.#remove(waiter);
          waiter.settle('gave-up');
          return;
        }
      }
      this.#startPeriod(waiter);
    }, periodMs);
  }
}

/** The `settle` of a waiter that is the head from the start: its turn is never settled. */
const NO_TURN = (): void => undefined;
