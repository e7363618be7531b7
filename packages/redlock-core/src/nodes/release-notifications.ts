// The wakes of one `Redlock`'s waiters: each of its wait queues has a member in the nodes' wait queues, and a
// channel a release on a node publishes to when that member is next (scripts/wake-queue.ts).
import type { RedisAdapter, Unsubscribe } from '../base/adapter.js';
import { type Clock, unrefTimer } from '../base/clock.js';
import { createLockToken } from '../base/token.js';
import { warnOnce } from '../base/warnings.js';
import { BY_PATTERN_MARK, WAKE_CHANNEL_PREFIX, wakeMemberOf } from '../scripts/wake-queue.js';

/**
 * How long a fair waiter's subscriptions outlive its last waiter, in milliseconds: a worker that takes a fair lock
 * in a loop calls again within that, keeps them, and asks no node more than the attempts it needs (subscribing
 * anew, it asked every node again once they were in place, so that they knew it listened: 22 client commands
 * per acquisition against 15 for the default's, with 8 processes).
 */
export const FAIR_LINGER_MS = 1_000;

/** The wake subscriptions of one `Redlock`, shared by all its waiters. */
export class ReleaseNotifications {
  /**
   * The first part of every queue member of this `Redlock` (see `wakeMemberOf`), marked when an adapter
   * hears wakes through a pattern (see `BY_PATTERN_MARK`).
   */
  readonly wakeId: string;
  /** By wait queue id. */
  readonly #members = new Map<string, MemberWakes>();
  #isClosed = false;

  private constructor(
    /** By node index; `undefined` for a node whose adapter cannot subscribe. */
    private readonly adapters: readonly (RedisAdapter | undefined)[],
    private readonly clock: Clock,
  ) {
    const byPattern = adapters.some((adapter) => adapter?.subscribesByPattern === true);
    this.wakeId = (byPattern ? BY_PATTERN_MARK : '') + createLockToken().slice(0, 12);
  }

  /** Release notifications over the nodes whose adapters can subscribe, or `undefined` if none can. */
  static over(adapters: readonly RedisAdapter[], clock: Clock): ReleaseNotifications | undefined {
    const capable = adapters.map((adapter) => (typeof adapter.subscribe === 'function' ? adapter : undefined));
    return capable.every((adapter) => adapter === undefined) ? undefined : new ReleaseNotifications(capable, clock);
  }

  /** Whether the member of wait queue `queueId` is subscribed on node `nodeIndex` now. */
  isListening(queueId: string, nodeIndex: number): boolean {
    return this.#members.get(queueId)?.isSubscribedOn(nodeIndex) === true;
  }

  /** The member of wait queue `queueId` in the nodes' wait queues (see `wakeMemberOf`). */
  memberOf(queueId: string): string {
    return this.#members.get(queueId)?.member ?? wakeMemberOf(this.wakeId, queueId);
  }

  /**
   * Listens on every node that can subscribe for the wakes of queue `queueId`'s member (its waiters, whom a
   * refusing node queued): calls `onWake` with the node at each wake. It calls `onWake` once more when
   * the first subscription is in place, with its node (a look asks it alone, which queues the waiter there),
   * or with `undefined` if every one failed or none was within `timeoutMs`: a wake before then went unheard.
   * A fair waiter's watch (`isFair`) is ready once every subscription is in place or failed (or `timeoutMs`
   * passed), with `undefined`: it then asks every node, which records that it listens there; not at all if
   * every one was in place already. Its end keeps the subscriptions {@link FAIR_LINGER_MS} for the process's
   * next call (a worker that takes the lock in a loop): it says at once that it listens, and subscribes no more.
   * Returns what ends the watch, and with the member's last watch its subscriptions.
   */
  watch(queueId: string, timeoutMs: number, onWake: (nodeIndex: number | undefined) => void, isFair = false): () => void {
    let isClosed = false;
    const listener = (nodeIndex: number | undefined): void => {
      if (!isClosed) onWake(nodeIndex);
    };
    const wakes = this.#members.get(queueId) ?? this.#memberOf(queueId);
    // A node slow to subscribe holds up no waiter: the others' wakes cover for it meanwhile.
    let isReady = false;
    const ready = (nodeIndex?: number): void => {
      if (isReady) return;
      isReady = true;
      this.clock.clearTimeout(readyTimer);
      listener(nodeIndex);
    };
    const readyTimer = this.clock.setTimeout(() => ready(), timeoutMs);
    const wasSubscribed = isFair && this.adapters.every((adapter, nodeIndex) => adapter === undefined || wakes.isSubscribedOn(nodeIndex));
    const subscriptions = wakes.add(listener);
    if (wasSubscribed) {
      isReady = true;
      this.clock.clearTimeout(readyTimer);
    } else if (isFair) void Promise.allSettled(subscriptions).then(() => ready());
    else Promise.any(subscriptions).then(ready, () => ready());
    return () => {
      isClosed = true;
      wakes.remove(listener, isFair ? FAIR_LINGER_MS : 0);
    };
  }

  /** A new member for queue `queueId`, which it leaves once idle; once closed, one that never subscribes. */
  #memberOf(queueId: string): MemberWakes {
    const wakes: MemberWakes = new MemberWakes(this.adapters, this.clock, wakeMemberOf(this.wakeId, queueId), () => {
      if (this.#members.get(queueId) === wakes) this.#members.delete(queueId);
    });
    if (this.#isClosed) void wakes.close();
    else this.#members.set(queueId, wakes);
    return wakes;
  }

  /** Ends every subscription now, and subscribes no more (`redlock.close()`); resolves once each UNSUBSCRIBE settled. */
  close(): Promise<void> {
    this.#isClosed = true;
    return Promise.all([...this.#members.values()].map((wakes) => wakes.close())).then(() => undefined);
  }
}

/**
 * The wakes of one member: its listeners, and its channel on every node that can subscribe, subscribed while
 * any listener needs it. A process whose last waiter left unsubscribes at once, so a release on a node skips
 * its member and wakes the next (scripts/wake-queue.ts `wake`); a wake that comes while the UNSUBSCRIBE is
 * in flight is dropped, and the waiters behind it wake at the next release or their timed retry. On each
 * node, subscribing and unsubscribing run in turn, each bringing the node in line with the member at that
 * moment, so a waiter that arrives while the last one leaves is never left unsubscribed.
 */
class MemberWakes {
  readonly #listeners = new Set<(nodeIndex: number) => void>();
  /** By node index: what ends its subscription (`undefined` while none), its latest step, and whether a SUBSCRIBE is in flight. */
  readonly #unsubscribes: (Unsubscribe | undefined)[] = [];
  readonly #steps: Promise<void>[] = [];
  readonly #isSubscribing: boolean[] = [];
  #isClosed = false;
  /** While the subscriptions linger after the last listener left (see {@link remove}): the timer that ends them. */
  #lingerTimer: unknown;

  constructor(
    private readonly adapters: readonly (RedisAdapter | undefined)[],
    private readonly clock: Clock,
    readonly member: string,
    private readonly onIdle: () => void,
  ) {}

  /**
   * Adds a listener. Returns a promise per node that can subscribe: it resolves with the node's index once
   * subscribed (at once if it is already), or rejects if subscribing failed.
   */
  add(listener: (nodeIndex: number) => void): Promise<number>[] {
    this.#listeners.add(listener);
    this.#stopLingering();
    const subscribed = (nodeIndex: number): number => {
      if (this.#unsubscribes[nodeIndex] === undefined) throw new Error('Release notifications are closed');
      return nodeIndex;
    };
    return this.#syncEvery().map((step, nodeIndex) => step?.then(() => subscribed(nodeIndex))).filter((step) => step !== undefined);
  }

  /** Removes a listener; the last one ends the subscriptions, after `lingerMs` if another listener does not come first. */
  remove(listener: (nodeIndex: number) => void, lingerMs = 0): void {
    if (!this.#listeners.delete(listener) || this.#listeners.size > 0 || this.#isClosed) return;
    if (lingerMs > 0) {
      this.#lingerTimer = this.clock.setTimeout(() => {
        this.#lingerTimer = undefined;
        if (this.#listeners.size === 0) this.#endSubscriptions();
      }, lingerMs);
      // A process whose work is done exits: the subscriptions end with its connections.
      unrefTimer(this.#lingerTimer);
      return;
    }
    this.#endSubscriptions();
  }

  /** Unsubscribes every node, in the background: nobody listens any more. */
  #endSubscriptions(): void {
    for (const step of this.#syncEvery()) step?.catch(() => undefined);
  }

  #stopLingering(): void {
    if (this.#lingerTimer === undefined) return;
    this.clock.clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
  }

  /**
   * Unsubscribes every node now, whoever still listens, and never subscribes again; never rejects. A
   * SUBSCRIBE in flight (waiting for a connection to a node that may be down) is not waited for: the
   * adapter's `close()` ends it, as it ends a channel whose UNSUBSCRIBE failed.
   */
  close(): Promise<void> {
    this.#isClosed = true;
    this.#stopLingering();
    this.#listeners.clear();
    const isSubscribing = [...this.#isSubscribing];
    const steps = this.#syncEvery().map((step, nodeIndex) => (isSubscribing[nodeIndex] === true ? undefined : step?.catch(() => undefined)));
    return Promise.all(steps).then(() => undefined);
  }

  /** Whether its subscription on node `nodeIndex` is in place, and wanted (or lingering). */
  isSubscribedOn(nodeIndex: number): boolean {
    return !this.#isClosed && (this.#listeners.size > 0 || this.#lingerTimer !== undefined) && this.#unsubscribes[nodeIndex] !== undefined;
  }

  /** Node `nodeIndex` wakes the member: every listener. */
  #onWake(nodeIndex: number): void {
    for (const listener of [...this.#listeners]) listener(nodeIndex);
  }

  /**
   * On every node that can subscribe, once its step before is done: subscribes if someone listens, else
   * unsubscribes; forgets the member once no node is subscribed and none is wanted. The
   * steps by node index (`undefined` where none), each rejecting if subscribing failed.
   */
  #syncEvery(): (Promise<void> | undefined)[] {
    return this.adapters.map((adapter, nodeIndex) => {
      if (adapter === undefined) return undefined;
      const step = (this.#steps[nodeIndex] ?? Promise.resolve()).then(async () => {
        const isWanted = !this.#isClosed && this.#listeners.size > 0;
        const unsubscribe = this.#unsubscribes[nodeIndex];
        if (isWanted && unsubscribe === undefined) {
          this.#isSubscribing[nodeIndex] = true;
          try {
            this.#unsubscribes[nodeIndex] = await (adapter.subscribe as NonNullable<RedisAdapter['subscribe']>)(WAKE_CHANNEL_PREFIX + this.member, () => this.#onWake(nodeIndex));
          } catch (error) {
            if (error instanceof Error && error.message.startsWith('NOPERM')) {
              // Redis 7 denies a new ACL user every channel.
              warnOnce(
                adapter,
                'REDLOCK_NO_CHANNEL_PERMISSION',
                `Node ${nodeIndex} refused to subscribe to a wake channel (${error.message}): waiters there wake on their retry timers instead of at each release. Give the Redis user the channels \`&redlock:wake:*\``,
              );
            }
            throw error;
          } finally {
            this.#isSubscribing[nodeIndex] = false;
          }
        } else if (!isWanted && unsubscribe !== undefined) {
          this.#unsubscribes[nodeIndex] = undefined;
          await unsubscribe();
        }
        if (!isWanted && this.#unsubscribes.every((each) => each === undefined) && !this.#isSubscribing.includes(true)) this.onIdle();
      });
      // A failed step must not block the next one; its own caller sees the failure.
      this.#steps[nodeIndex] = step.catch(() => undefined);
      return step;
    });
  }
}
