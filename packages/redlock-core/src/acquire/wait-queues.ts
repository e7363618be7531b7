// The wait queues of one `Redlock`, by the resources they wait for: where an acquisition finds the queue it
// joins (wait-queue.ts), and where a local release finds the queue to wake.
import type { Clock } from '../base/clock.js';
import { type QueueRegistry, WaitQueue } from './wait-queue.js';

/**
 * The wait queues of one `Redlock`, one per set of resources (in any order) that has local waiters; a
 * queue is removed when its last waiter is gone. Waiters of overlapping but different sets are in
 * different queues and compete over the network.
 */
export class WaitQueues implements QueueRegistry {
  readonly #clock: Clock;
  /**
   * The queue of one key while no other one-key queue is in {@link #singles}, and its key: a process that
   * locks one resource at a time (the usual loop) makes and drops a queue at every acquisition, and a
   * `Map` that goes from one entry to none reallocates its table each time.
   */
  #soloKey: string | undefined;
  #solo: WaitQueue | undefined;
  /** The other queues of one key, by key. */
  readonly #singles = new Map<string, WaitQueue>();
  /** The queues of several keys, by {@link setIdOf}. */
  readonly #sets = new Map<string, WaitQueue>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** How many queues have waiters. */
  get size(): number {
    return (this.#solo === undefined ? 0 : 1) + this.#singles.size + this.#sets.size;
  }

  /** The queue of the one key `key`, if it has waiters. */
  #singleOf(key: string): WaitQueue | undefined {
    if (this.#soloKey === key) return this.#solo;
    return this.#singles.size === 0 ? undefined : this.#singles.get(key);
  }

  /**
   * The queue of `keys` (a lock's keys, or the one id of a semaphore's or a read-write lock's waiters),
   * made if none has waiters, with its lead node from `leadNodeIndexOf()`.
   */
  queueOf(keys: readonly string[], leadNodeIndexOf: () => number): WaitQueue {
    // One key is the usual lock: its key is its id, with nothing to sort or join.
    if (keys.length === 1) {
      const key = keys[0] as string;
      const queue = this.#singleOf(key);
      if (queue !== undefined) return queue;
      const created = new WaitQueue(this.#clock, leadNodeIndexOf(), this, key);
      if (this.#solo === undefined) {
        this.#soloKey = key;
        this.#solo = created;
      } else this.#singles.set(key, created);
      return created;
    }
    const id = setIdOf(keys);
    const queue = this.#sets.get(id);
    if (queue !== undefined) return queue;
    const created = new WaitQueue(this.#clock, leadNodeIndexOf(), this, id);
    this.#sets.set(id, created);
    return created;
  }

  /** Forgets `queue`, whose last waiter is gone; `id` is its key, or its {@link setIdOf} for several keys. */
  remove(queue: WaitQueue, id: string): void {
    if (this.#solo === queue) {
      this.#solo = undefined;
      this.#soloKey = undefined;
    } else if (this.#singles.get(id) === queue) this.#singles.delete(id);
    else if (this.#sets.get(id) === queue) this.#sets.delete(id);
  }

  /** Wakes the head of the queue of exactly `keys`, if it has one: a lock on them was released here. */
  wake(keys: readonly string[]): void {
    (keys.length === 1 ? this.#singleOf(keys[0] as string) : this.#sets.get(setIdOf(keys)))?.wake();
  }
}

/** The same for the same keys in any order, and different for any other set of keys. */
function setIdOf(keys: readonly string[]): string {
  return JSON.stringify([...keys].sort());
}
