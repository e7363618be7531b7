// The wakes of one `Redlock`'s waiters: each of its wait queues has a member in the nodes' wait queues, and a
// channel a release on a node publishes to when that member is next (scripts/wake-queue.ts).
import type { RedisAdapter, Unsubscribe } from '../base/adapter.js';
import { type Clock, unrefTimer } from '../base/clock.js';
import { createLockToken } from '../base/token.js';
import { warnOnce } from '../base/warnings.js';
import { runScript } from '../scripts/lua-script.js';
import { passWakeScript, WAKE_CHANNEL_PREFIX, wakeMemberOf, wakeTicketOf } from '../scripts/wake-queue.js';

/**
 * How long a node's subscription to a channel outlives its last waiter, in milliseconds: a resource contended
 * once is usually contended again soon, and then costs no SUBSCRIBE, UNSUBSCRIBE or look on any node.
 */
export const SUBSCRIPTION_LINGER_MS = 1_000;

/** The wake subscriptions of one `Redlock`, shared by all its waiters. */
export class ReleaseNotifications {
  /** The first part of every queue member of this `Redlock` (see `wakeMemberOf`). */
  readonly wakeId = createLockToken().slice(0, 12);
  readonly #clock: Clock;
  /** By node index; `undefined` for a node whose adapter cannot subscribe. */
  readonly #adapters: readonly (RedisAdapter | undefined)[];
  readonly #channels = new Map<string, ChannelSubscription>();
  #isClosed = false;

  private constructor(adapters: readonly (RedisAdapter | undefined)[], clock: Clock) {
    this.#adapters = adapters;
    this.#clock = clock;
  }

  /** Release notifications over the nodes whose adapters can subscribe, or `undefined` if none can. */
  static over(adapters: readonly RedisAdapter[], clock: Clock): ReleaseNotifications | undefined {
    const capable = adapters.map((adapter) => (typeof adapter.subscribe === 'function' ? adapter : undefined));
    return capable.every((adapter) => adapter === undefined) ? undefined : new ReleaseNotifications(capable, clock);
  }

  /** The ticket of wait queue `queueId`'s member, waiting since `sinceMs` by the wall clock (see `WAKE_QUEUE_LUA`). */
  ticketOf(queueId: string, sinceMs: number): string {
    return wakeTicketOf(wakeMemberOf(this.wakeId, queueId), sinceMs);
  }

  /**
   * Whether the queue's member's channel is subscribed on every node that can subscribe (lingering): a watch
   * made now misses no wake, so the wait loop makes it before an attempt (an uncontended process has none).
   */
  isListening(queueId: string): boolean {
    const member = this.#channels.size > 0 && !this.#isClosed ? wakeMemberOf(this.wakeId, queueId) : undefined;
    return member !== undefined && this.#adapters.every((adapter, nodeIndex) => adapter === undefined || this.#channels.get(`${nodeIndex} ${member}`)?.isActive === true);
  }

  /**
   * Listens on every node that can subscribe for the wakes of queue `queueId`'s member (the waiters of `keys`,
   * whom a refusing node queued): calls `onWake` with the node at each wake. Unless {@link isListening}
   * already, it calls `onWake` once more when the first subscription is in place, with its node (a look asks
   * it alone, which queues the waiter there), or with `undefined` if every one failed or none was within
   * `timeoutMs`: a wake before then went unheard. Returns what ends the watch; subscriptions linger.
   */
  watch(keys: readonly string[], queueId: string, timeoutMs: number, onWake: (nodeIndex: number | undefined) => void): () => void {
    const clock = this.#clock;
    const member = wakeMemberOf(this.wakeId, queueId);
    let isClosed = false;
    const listener = (nodeIndex: number | undefined): void => {
      if (!isClosed) onWake(nodeIndex);
    };
    // Listening already, nothing went unheard: no look, and no timer for one.
    let isReady = this.isListening(queueId);
    const subscriptions = this.#isClosed
      ? []
      : this.#adapters.flatMap((adapter, nodeIndex) => (adapter === undefined ? [] : [this.#channel(adapter, nodeIndex, keys, member)]));
    const ready = (nodeIndex?: number): void => {
      if (isReady) return;
      isReady = true;
      clock.clearTimeout(readyTimer);
      listener(nodeIndex);
    };
    // A node slow to subscribe holds up no waiter: the others' wakes cover for it meanwhile.
    const readyTimer = isReady ? undefined : clock.setTimeout(() => ready(), timeoutMs);
    Promise.any(subscriptions.map((subscription) => subscription.add(listener).then(() => subscription.nodeIndex))).then(ready, () => ready());
    return () => {
      isClosed = true;
      clock.clearTimeout(readyTimer);
      for (const subscription of subscriptions) subscription.remove(listener);
    };
  }

  /** Ends every subscription now, and subscribes no more (`redlock.close()`); resolves once each UNSUBSCRIBE settled. */
  close(): Promise<void> {
    this.#isClosed = true;
    return Promise.all([...this.#channels.values()].map((subscription) => subscription.close())).then(() => undefined);
  }

  /** The subscription to `member`'s channel on node `nodeIndex`, made on first use. */
  #channel(adapter: RedisAdapter, nodeIndex: number, keys: readonly string[], member: string): ChannelSubscription {
    const id = `${nodeIndex} ${member}`;
    const subscription = this.#channels.get(id) ?? new ChannelSubscription(adapter, nodeIndex, keys, member, this.#clock, () => this.#channels.delete(id));
    this.#channels.set(id, subscription);
    return subscription;
  }
}

/**
 * One member's channel on one node: subscribed while any listener needs it, and {@link SUBSCRIPTION_LINGER_MS}
 * after the last left; a wake that comes while nobody here waits is passed on to the next member. Subscribing
 * and unsubscribing run in turn, each bringing the node in line with the listeners at that moment, so a
 * waiter that arrives while the last one leaves is never left unsubscribed.
 */
class ChannelSubscription {
  readonly #listeners = new Set<(nodeIndex: number) => void>();
  #unsubscribe: Unsubscribe | undefined;
  #queue: Promise<void> = Promise.resolve();
  #lingerTimer: unknown;
  #isClosed = false;
  /** Whether a SUBSCRIBE is in flight: it waits for the connection, which may be to a node that is down. */
  #isSubscribing = false;

  constructor(
    private readonly adapter: RedisAdapter,
    readonly nodeIndex: number,
    /** The resource keys in whose queues a wake nobody here takes is passed on. */
    private readonly keys: readonly string[],
    private readonly member: string,
    private readonly clock: Clock,
    private readonly onIdle: () => void,
  ) {}

  get isActive(): boolean {
    return this.#unsubscribe !== undefined && !this.#isClosed;
  }

  /** Adds a listener; resolves once the node is subscribed, rejects if subscribing failed. */
  add(listener: (nodeIndex: number) => void): Promise<void> {
    if (this.#isClosed) return Promise.reject(new Error('Release notifications are closed'));
    this.#listeners.add(listener);
    return this.#endLinger();
  }

  remove(listener: (nodeIndex: number) => void): void {
    this.#listeners.delete(listener);
    if (this.#listeners.size > 0 || this.#lingerTimer !== undefined || this.#isClosed) return;
    this.#lingerTimer = this.clock.setTimeout(() => this.#endLinger().catch(() => undefined), SUBSCRIPTION_LINGER_MS);
    // A lingering subscription must not keep the process alive.
    unrefTimer(this.#lingerTimer);
  }

  /** Stops lingering, and brings the node in line with the listeners (see {@link #sync}). */
  #endLinger(): Promise<void> {
    this.clock.clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    return this.#sync();
  }

  /**
   * Unsubscribes now, whoever still listens, and never subscribes again; never rejects. A SUBSCRIBE in flight
   * (waiting for a connection to a node that may be down) is not waited for: the adapter's `close()` ends it.
   */
  close(): Promise<void> {
    this.#isClosed = true;
    this.#listeners.clear();
    const isSubscribing = this.#isSubscribing;
    // An UNSUBSCRIBE that fails leaves a channel on a connection that the adapter's close() ends next.
    const closing = this.#endLinger().catch(() => undefined);
    return isSubscribing ? Promise.resolve() : closing;
  }

  /** A wake from the node: to every listener, or, with none, to the next member of the queue. */
  #onWake = (): void => {
    if (this.#listeners.size > 0) {
      for (const listener of [...this.#listeners]) listener(this.nodeIndex);
      return;
    }
    // A pass-on that fails (a node down, an adapter that throws) leaves the waiters behind on their timers.
    if (!this.#isClosed) Promise.resolve(this.member).then((member) => runScript(this.adapter, passWakeScript, this.keys, [member])).catch(() => undefined);
  };

  #sync(): Promise<void> {
    const step = this.#queue.then(async () => {
      if (this.#listeners.size > 0 && this.#unsubscribe === undefined && !this.#isClosed) {
        this.#isSubscribing = true;
        try {
          this.#unsubscribe = await (this.adapter.subscribe as NonNullable<RedisAdapter['subscribe']>)(WAKE_CHANNEL_PREFIX + this.member, this.#onWake);
        } catch (error) {
          if (error instanceof Error && error.message.startsWith('NOPERM')) {
            // Redis 7 denies a new ACL user every channel.
            warnOnce(
              this.adapter,
              'REDLOCK_NO_CHANNEL_PERMISSION',
              `Node ${this.nodeIndex} refused to subscribe to a wake channel (${error.message}): waiters there wake on their retry timers instead of at each release. Give the Redis user the channels \`&redlock:wake:*\``,
            );
          }
          throw error;
        } finally {
          this.#isSubscribing = false;
        }
      } else if (this.#listeners.size === 0 && this.#lingerTimer === undefined && this.#unsubscribe !== undefined) {
        const unsubscribe = this.#unsubscribe;
        this.#unsubscribe = undefined;
        await unsubscribe();
      }
      if (this.#listeners.size === 0 && this.#lingerTimer === undefined && this.#unsubscribe === undefined) this.onIdle();
    });
    // A failed step must not block the next one; its own caller sees the failure.
    this.#queue = step.catch(() => undefined);
    return step;
  }
}
