// This process's waiters for each hold, in the order they called (see `waitForHold` in wait-loop.ts): only the
// head of a queue asks the nodes; the others wait for their turn.
import { createLockToken } from '../base/token.js';
import { wakeMemberOf } from '../scripts/wake-queue.js';
import { AttemptLog, type LoggedAttempt } from './attempt-log.js';

/**
 * One call in a {@link WaitQueue}: queued ──turn──▶ head ──leaves──▶ gone, or queued ──gives up / aborts──▶
 * gone. A queued waiter waits for its turn as the head waits for a wake: with `waitForRetry`.
 */
export class Waiter {
  /**
   * Failed tries counted against `retryCount`. As the head: each failed timed attempt. While queued:
   * joining (the waiters ahead hold or want the hold), and each retry period in which nobody here
   * acquired it, once a head found it unavailable.
   */
  failures = 0;
  /** The full attempts heads made, and failed, while this waiter was queued (bounded: see {@link AttemptLog}); made with the first. */
  attemptsWhileQueued: AttemptLog<LoggedAttempt> | undefined;
  /** What its turn calls, while it waits for it (see {@link onWake}). */
  onTurn: (() => void) | undefined;

  /** Calls `callback` when its turn comes, unless cancelled first; returns the cancel function. */
  onWake(callback: () => void): () => void {
    this.onTurn = callback;
    return () => (this.onTurn = undefined);
  }
}

/**
 * The local waiters for one set of resources (a lock's keys, a semaphore, one mode of a read-write lock),
 * named by `id` (the same for the same resources; it names the queue's member on the nodes, `wakeMemberOf`).
 * The queue leaves its {@link WaitQueues} with its last waiter.
 */
export class WaitQueue {
  /** Ends the watch of the queue member's wakes, from the first time a head found the hold taken. */
  stopWatching: (() => void) | undefined;
  /**
   * Since the head's latest attempt began: the node whose wake came first (it has freed the hold, so the woken
   * attempt asks it first); `'here'` after a release or a turn here, or a look with no node subscribed.
   */
  wokenBy: number | 'here' | undefined;
  /** The latest full attempt a head made and failed: what a waiter that gives up in the queue reports. */
  lastFailure: LoggedAttempt | undefined;
  /** How many heads acquired: progress for the queued waiters' retry periods. */
  acquisitions = 0;

  #head: Waiter | undefined;
  /** The waiters behind the head; made when the first one comes (most locks have none). */
  #queued: Set<Waiter> | undefined;
  /** Whether a head acquired an exclusive hold and no release came since. */
  #isHeldHere = false;
  /** Whether a release came that the head has not taken yet. */
  #isWakePending = false;
  /** The node the head's woken attempt asks first (see {@link clearWake}), and whether it woke the queue again since. */
  #askedNode: number | undefined;
  #hasAskedNodeWokenAgain = false;
  /**
   * Whether node `nodeIndex` answered the head's latest attempt already (a fair waiter's, which asks every node):
   * a wake of that node since is of a release there after the attempt ran there (see {@link dropNodeWakes}).
   */
  hasAnswered: ((nodeIndex: number) => boolean) | undefined;
  /** A node that woke the queue after it answered the head's attempt under way, see {@link hasAnswered}. */
  #wokenAfterAnswerBy: number | undefined;
  #wakeHead: (() => void) | undefined;

  constructor(private readonly queues: WaitQueues, readonly id: string) {}

  /** Adds a waiter at the end: the head at once if the queue is empty, else it waits for its turn. */
  join(): Waiter {
    const waiter = new Waiter();
    if (this.#head === undefined) this.#head = waiter;
    else {
      (this.#queued ??= new Set()).add(waiter);
      waiter.failures = 1;
    }
    return waiter;
  }

  /** Whether no waiter is left. */
  get isEmpty(): boolean {
    return this.#head === undefined;
  }

  /** Whether `waiter` is the head: its turn came (or it was first). */
  isHead(waiter: Waiter): boolean {
    return this.#head === waiter;
  }

  /**
   * Takes a waiter out, whatever its state; `hasAcquired`: it leaves as the head with a hold,
   * `keepsOthersOut`: an exclusive one. When the head leaves, the next one's turn begins. Idempotent.
   */
  leave(waiter: Waiter, hasAcquired: boolean, keepsOthersOut: boolean): void {
    if (waiter !== this.#head) {
      this.#queued?.delete(waiter);
      return;
    }
    if (hasAcquired) {
      this.acquisitions += 1;
      this.#isHeldHere = keepsOthersOut;
      // Releases before this are no news to the next head.
      this.clearWake();
    }
    const next: Waiter | undefined = this.#queued?.values().next().value;
    this.#head = next;
    if (next === undefined) {
      this.stopWatching?.();
      this.stopWatching = undefined;
      this.#wakeHead = undefined;
      this.queues.remove(this, this.id);
      return;
    }
    this.#queued?.delete(next);
    // Left without a hold, or with one others may share (permits, a read lock): the next head tries at once.
    if (!this.#isHeldHere) {
      this.#isWakePending = true;
      this.wokenBy = 'here';
    }
    next.onTurn?.();
  }

  /** Counts a full attempt a head made and failed, for the waiters that give up in the queue. */
  recordFailure(attempt: LoggedAttempt): void {
    this.lastFailure = attempt;
    for (const waiter of this.#queued ?? []) (waiter.attemptsWhileQueued ??= new AttemptLog()).add(attempt);
  }

  /** A hold on these resources may be free (released here, or node `nodeIndex` woke the queue: see `wokenBy`): wakes the head now, or at its next wait. */
  wake(nodeIndex?: number): void {
    if (nodeIndex !== undefined && nodeIndex === this.#askedNode) this.#hasAskedNodeWokenAgain = true;
    if (nodeIndex !== undefined && this.hasAnswered?.(nodeIndex) === true) this.#wokenAfterAnswerBy = nodeIndex;
    if (this.wokenBy === undefined || nodeIndex === undefined) this.wokenBy = nodeIndex ?? 'here';
    this.#isHeldHere = false;
    const callback = this.#wakeHead;
    this.#wakeHead = undefined;
    if (callback !== undefined) callback();
    else this.#isWakePending = true;
  }

  /**
   * Forgets the releases seen so far: the head calls it as it starts an attempt, which will see them, with the
   * node that attempt asks first, if it is a woken one (`askedNode`: see {@link dropNodeWakes}).
   */
  clearWake(askedNode?: number): void {
    this.#isWakePending = false;
    this.wokenBy = undefined;
    this.#askedNode = askedNode;
    this.#hasAskedNodeWokenAgain = false;
    this.#wokenAfterAnswerBy = undefined;
  }

  /**
   * Forgets the nodes' wakes that came since the head's latest attempt began, keeping a release or a turn here
   * (`'here'`): the head calls it after a woken attempt that failed, whose answers are newer than the other
   * nodes' wakes of the release it lost. Not a new wake of the node it asked: that node wakes a waiter once per
   * release, so this one is from a later release (the answer that the hold was taken there may come after it,
   * on another connection), and is acted on. Nor a wake of a node that had answered the attempt ({@link
   * hasAnswered}): a fair waiter woken by a winner leaving a node, whose attempt every node refused, lost the
   * release that came meanwhile, and waited for its timed retry (200 ms stalls of every waiter behind it).
   */
  dropNodeWakes(): void {
    if (this.wokenBy === 'here') return;
    const kept = this.#hasAskedNodeWokenAgain ? this.#askedNode : this.#wokenAfterAnswerBy;
    if (kept !== undefined) {
      this.wokenBy = kept;
      this.#isWakePending = true;
      return;
    }
    this.#isWakePending = false;
    this.wokenBy = undefined;
  }

  /** Calls `callback` once, at the next wake of the head, or at once if one is pending; returns a cancel function. */
  onWake(callback: () => void): () => void {
    if (this.#isWakePending) {
      // `wokenBy` stays, for the attempt this wake starts.
      this.#isWakePending = false;
      queueMicrotask(callback);
      return () => undefined;
    }
    this.#wakeHead = callback;
    return () => {
      if (this.#wakeHead === callback) this.#wakeHead = undefined;
    };
  }
}

/**
 * The wait queues of one `Redlock`, one per set of resources with local waiters, in any order. Waiters of
 * overlapping but different sets are in different queues and compete over the network.
 */
export class WaitQueues {
  /** By {@link idOf}. */
  readonly #queues = new Map<string, WaitQueue>();
  /** The first part of the queue members of a `Redlock` that hears no wakes (see {@link memberOf}), made on first use. */
  #wakeId: string | undefined;

  /**
   * The member of queue `queueId` in the nodes' wait queues, for a `Redlock` whose nodes cannot send it
   * wakes (see `ReleaseNotifications.memberOf` for one that can): a fair waiter queues all the same.
   */
  memberOf(queueId: string): string {
    return wakeMemberOf((this.#wakeId ??= createLockToken().slice(0, 12)), queueId);
  }

  /** The queue of `keys`, made if none has waiters. */
  queueOf(keys: readonly string[]): WaitQueue {
    const id = idOf(keys);
    let queue = this.#queues.get(id);
    if (queue === undefined) this.#queues.set(id, (queue = new WaitQueue(this, id)));
    return queue;
  }

  /** Forgets `queue`, whose last waiter is gone. */
  remove(queue: WaitQueue, id: string): void {
    if (this.#queues.get(id) === queue) this.#queues.delete(id);
  }

  /** Wakes the head of the queue of exactly `keys`, if any: a hold on them was released here. */
  wake(keys: readonly string[]): void {
    this.#queues.get(idOf(keys))?.wake();
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
