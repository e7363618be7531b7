// Local turn-taking: the waiters of one `Redlock` for one hold, in arrival order. Only the head asks the
// nodes, so a release costs one woken attempt however many waiters this process has, and holds go to
// them in the order they called `acquire()`.
import { AttemptLog, type LoggedAttempt } from './attempt-log.js';
import type { Clock } from '../base/clock.js';
import type { RetrySettings } from '../settings/resolve-options.js';
import type { KeyWatch, ReleaseNotifications } from '../nodes/release-notifications.js';
import { retryDelayMs } from './retry.js';

/** The settings of one waiter: its retries, and its signal (which carries a finite `waitMs`). */
export interface WaiterSettings extends RetrySettings {
  readonly signal: AbortSignal | undefined;
}

/** One call of `acquire()` in a {@link WaitQueue}; the queue alone sets its fields. */
export interface Waiter {
  readonly settings: WaiterSettings;
  /**
   * Failed tries counted against `retryCount`. As the head: each failed timed attempt. While queued:
   * joining (the waiters ahead hold or want the hold), and each retry period in which nobody here
   * acquired it, once a head found it unavailable.
   */
  failures: number;
  /** The full attempts heads made, and failed, while this waiter was queued (bounded: see {@link AttemptLog}). */
  readonly attemptsWhileQueued: AttemptLog<LoggedAttempt>;
  /**
   * `undefined` for the first head, which tries at once. Else settles when its turn comes (`'turn'`, with a
   * wake pending unless a waiter of the queue still holds what keeps others out), or its retries ran out;
   * rejects when its signal aborts.
   */
  turn: Promise<'turn' | 'gave-up'> | undefined;
  settle: (turn: 'turn' | 'gave-up') => void;
  periodTimer: unknown;
  onAbort: (() => void) | undefined;
}

/**
 * The local waiters for one set of resources (a lock's keys, a semaphore, one mode of a read-write lock).
 * State of a waiter: queued ──turn──▶ head ──leaves──▶ gone, or queued ──gave up / aborted──▶ gone. The
 * queue leaves its {@link WaitQueues} with its last waiter.
 */
export class WaitQueue {
  /** The node woken heads ask first and listen to, once a head needed it: one for every head of the queue. */
  leadNodeIndex: number | undefined;
  /** The release notifications of the queue's keys, from the first time a head found the hold taken. */
  watch: KeyWatch | undefined;
  /** The latest full attempt a head made and failed: what a waiter that gives up in the queue reports. */
  lastFailure: LoggedAttempt | undefined;

  readonly #clock: Clock;
  readonly #queues: WaitQueues;
  readonly #id: string;
  #head: Waiter | undefined;
  /** The waiters behind the head; made when the first one comes (most locks have none). */
  #queued: Set<Waiter> | undefined;
  /** How many heads acquired: progress for the queued waiters' retry periods. */
  #acquisitions = 0;
  /** Whether a head acquired an exclusive hold and no release came since. */
  #isHeldHere = false;
  /** Whether a release came that the head has not taken yet. */
  #isWakePending = false;
  #onWake: (() => void) | undefined;

  constructor(clock: Clock, queues: WaitQueues, id: string) {
    this.#clock = clock;
    this.#queues = queues;
    this.#id = id;
  }

  /** How many waiters the queue holds, its head included. */
  get size(): number {
    return (this.#head === undefined ? 0 : 1) + (this.#queued?.size ?? 0);
  }

  /** Adds a waiter at the end: the head at once if the queue is empty, else it waits for its turn. */
  join(settings: WaiterSettings): Waiter {
    const waiter: Waiter = { settings, failures: 0, attemptsWhileQueued: new AttemptLog(), turn: undefined, settle: NO_TURN, periodTimer: undefined, onAbort: undefined };
    if (this.#head === undefined) {
      this.#head = waiter;
      return waiter;
    }
    (this.#queued ??= new Set()).add(waiter);
    waiter.failures = 1;
    waiter.turn = new Promise<'turn' | 'gave-up'>((resolve, reject) => {
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
   * Takes a waiter out, whatever its state; `hasAcquired`: it leaves as the head with a hold,
   * `keepsOthersOut`: an exclusive one. When the head leaves, the next one's turn begins. Idempotent.
   */
  leave(waiter: Waiter, hasAcquired: boolean, keepsOthersOut: boolean): void {
    if (waiter !== this.#head) {
      this.#remove(waiter);
      return;
    }
    if (hasAcquired) {
      this.#acquisitions += 1;
      this.#isHeldHere = keepsOthersOut;
      // Releases before this are no news to the next head.
      this.clearWake();
    }
    const next: Waiter | undefined = this.#queued?.values().next().value;
    this.#head = next;
    if (next === undefined) {
      this.#close();
      return;
    }
    this.#remove(next);
    // Left without a hold, or with one others may share (permits, a read lock): the next head tries at once.
    if (!this.#isHeldHere) this.#isWakePending = true;
    next.settle('turn');
  }

  /** Counts a full attempt a head made and failed, for the waiters that give up in the queue. */
  recordFailure(attempt: LoggedAttempt): void {
    this.lastFailure = attempt;
    for (const waiter of this.#queued ?? []) waiter.attemptsWhileQueued.add(attempt);
  }

  /** Watches the release notifications of `keys` on node `leadNodeIndex` for every head to come, once. */
  listen(notifications: ReleaseNotifications, keys: readonly string[], timeoutMs: number, leadNodeIndex: number): void {
    this.watch ??= notifications.watch(keys, timeoutMs, leadNodeIndex, () => this.wake());
  }

  /** A hold on these resources may be free (released here, or announced): wakes the head now, or at its next wait. */
  wake(): void {
    this.#isHeldHere = false;
    const callback = this.#onWake;
    this.#onWake = undefined;
    if (callback !== undefined) callback();
    else this.#isWakePending = true;
  }

  /** Forgets the releases seen so far: the head calls it as it starts an attempt, which will see them. */
  clearWake(): void {
    this.#isWakePending = false;
  }

  /** Calls `callback` once, at the next wake, or at once if one is pending; returns a cancel function. */
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

  /** Takes a waiter from behind the head and ends its waiting; does nothing if it is not there. */
  #remove(waiter: Waiter): void {
    if (this.#queued?.delete(waiter) !== true) return;
    this.#clock.clearTimeout(waiter.periodTimer);
    if (waiter.onAbort !== undefined) waiter.settings.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.onAbort = undefined;
  }

  #close(): void {
    this.watch?.close();
    this.watch = undefined;
    this.#onWake = undefined;
    this.#queues.remove(this, this.#id);
  }

  /**
   * One retry period of a queued waiter, as long as its own timed retries would wait. A period in which
   * nobody here acquired, once a head found the hold unavailable, counts as a failed try: the wait stays
   * bounded by the waiter's own retries, while a hold that keeps changing hands here costs it nothing.
   */
  #startPeriod(waiter: Waiter): void {
    const acquisitionsAtStart = this.#acquisitions;
    const { retryDelayMs: baseMs, retryJitterMs, retryCount } = waiter.settings;
    // At least 1 ms: a period of 0 would spin without letting the head progress.
    waiter.periodTimer = this.#clock.setTimeout(() => {
      if (this.#acquisitions === acquisitionsAtStart && this.lastFailure !== undefined && ++waiter.failures > retryCount) {
        this.#remove(waiter);
        waiter.settle('gave-up');
      } else this.#startPeriod(waiter);
    }, Math.max(1, retryDelayMs(baseMs, retryJitterMs)));
  }
}

/** The `settle` of the first head, whose turn is never settled. */
const NO_TURN = (): void => undefined;

/**
 * The wait queues of one `Redlock`, one per set of resources with local waiters, in any order. Waiters of
 * overlapping but different sets are in different queues and compete over the network.
 */
export class WaitQueues {
  readonly #clock: Clock;
  /**
   * One queue kept outside {@link #queues}, and its id: a process that locks one resource at a time (the
   * usual loop) makes and drops a queue at every acquisition, and a `Map` going from one entry to none
   * and back costs more than the rest of the queue.
   */
  #soloId: string | undefined;
  #solo: WaitQueue | undefined;
  /** The others, by {@link idOf}. */
  readonly #queues = new Map<string, WaitQueue>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** How many queues have waiters. */
  get size(): number {
    return (this.#solo === undefined ? 0 : 1) + this.#queues.size;
  }

  /** The queue of `keys`, made if none has waiters. */
  queueOf(keys: readonly string[]): WaitQueue {
    const id = idOf(keys);
    const queue = this.#queueOf(id);
    if (queue !== undefined) return queue;
    const created = new WaitQueue(this.#clock, this, id);
    if (this.#solo === undefined) {
      this.#soloId = id;
      this.#solo = created;
    } else this.#queues.set(id, created);
    return created;
  }

  /** Forgets `queue`, whose last waiter is gone. */
  remove(queue: WaitQueue, id: string): void {
    if (this.#solo === queue) {
      this.#solo = undefined;
      this.#soloId = undefined;
    } else if (this.#queues.get(id) === queue) this.#queues.delete(id);
  }

  /** Wakes the head of the queue of exactly `keys`, if any: a hold on them was released here. */
  wake(keys: readonly string[]): void {
    this.#queueOf(idOf(keys))?.wake();
  }

  #queueOf(id: string): WaitQueue | undefined {
    if (this.#soloId === id) return this.#solo;
    return this.#queues.size === 0 ? undefined : this.#queues.get(id);
  }
}

/**
 * The same for the same keys in any order, and different for any other set. One key is its own id,
 * unless it could read as the JSON of several.
 */
function idOf(keys: readonly string[]): string {
  const key = keys[0] as string;
  return keys.length === 1 && !key.startsWith('[') ? key : JSON.stringify([...keys].sort());
}
