import type { RedisAdapter, Unsubscribe } from '../base/adapter.js';
import { type Clock, unrefTimer } from '../base/clock.js';
import { releaseChannelOf } from '../scripts/release.js';
import { listenersScript, parseListenersReply } from '../scripts/listeners.js';
import { runScript } from '../scripts/lua-script.js';
import { ReleaseCrowd } from './release-crowd.js';
import { warnOnce } from '../base/warnings.js';

/**
 * How long a node's subscription to a channel outlives its last waiter, in milliseconds. A resource that
 * is contended once is usually contended again soon: keeping the channel saves a SUBSCRIBE and an
 * UNSUBSCRIBE per wait on every node, and the round trip of subscribing before a waiter can sleep.
 */
export const SUBSCRIPTION_LINGER_MS = 1_000;

/** A waiter's subscription to the release notifications of its keys. */
export interface KeyWatch {
  /**
   * Settles once the lead node's subscriptions are active (where they cannot be, once another node's
   * are), when subscribing failed everywhere, or when the watch is closed; never rejects. Where a node does not answer its SUBSCRIBE within a node timeout, the watch subscribes on
   * every other node. A release announced before it settled may have gone unheard: the waiter looks then.
   */
  readonly ready: Promise<void>;
  /**
   * Calls `callback` once, at the next release notification of any watched key, or at once if one arrived
   * since the last callback. Returns a function that cancels the call.
   */
  onNextRelease(callback: () => void): () => void;
  /** Watches every node from now on, not only the lead node (it failed to answer). */
  watchEveryNode(): void;
  /**
   * How long a woken attempt that failed lets announcements rest because many wait: see
   * `ReleaseCrowd.restMs`, on the lead node (the waiters near it listen there, and every release is
   * announced there), at most `longestRestMs` (the waiter's retry delay: a timed retry is never postponed
   * anyway, and anyone can subscribe, so a crowd of idle subscribers must not silence the wakes for
   * longer); 0 while it cannot tell.
   */
  crowdRestMs(longestRestMs: number): number;
  /** Ends the watch; the node subscriptions end {@link SUBSCRIPTION_LINGER_MS} after no watch needs them. */
  close(): void;
}

/**
 * The release notification subscriptions of one `Redlock`, shared by all its waiters: one subscription per
 * node and channel, however many waiters watch it, ended a while after the last one leaves.
 */
export class ReleaseNotifications {
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

  /**
   * Watches the release channels of `keys` on the lead node, the node a woken waiter asks first: every
   * node announces its own release, so a waiter woken there finds the previous owner's key gone there, and
   * the releaser sent the other nodes theirs no later. One subscription per waiter instead of one per node
   * keeps every release from costing each waiter a message from every node. If the lead node cannot
   * subscribe (no capability, an error, no answer within `timeoutMs`), or after
   * {@link KeyWatch.watchEveryNode}, it watches every capable node.
   */
  watch(keys: readonly string[], timeoutMs: number, leadNodeIndex: number): KeyWatch {
    let hasPending = false;
    let waiting: (() => void) | undefined;
    const listener = (): void => {
      const callback = waiting;
      waiting = undefined;
      if (callback) callback();
      else hasPending = true;
    };
    const subscriptions: ChannelSubscription[] = [];
    /** The lead node's subscription of the first key, whose announcements tell how crowded it is. */
    let crowdSource: ChannelSubscription | undefined;
    let isClosed = false;
    /** Subscribes on these nodes; resolves once one channel is subscribed, rejects if none can be. */
    const subscribeOn = (nodeIndexes: readonly number[]): Promise<void> =>
      Promise.any(
        // A closed watch subscribes nowhere: a lead node that fails or times out after the waiter left
        // must not make it listen on every other node for ever.
        (isClosed || this.#isClosed ? [] : nodeIndexes).flatMap((nodeIndex) => {
          const adapter = this.#adapters[nodeIndex];
          if (adapter === undefined) return [];
          return keys.map((key, keyIndex) => {
            const subscription = this.#channel(adapter, nodeIndex, key);
            subscriptions.push(subscription);
            if (nodeIndex === leadNodeIndex && keyIndex === 0) crowdSource = subscription;
            return subscription.add(listener);
          });
        }),
      );
    let followsEveryNode = false;
    const followEveryNode = (): Promise<void> => {
      if (followsEveryNode) return Promise.resolve();
      followsEveryNode = true;
      return subscribeOn(this.#adapters.map((_, nodeIndex) => nodeIndex).filter((nodeIndex) => nodeIndex !== leadNodeIndex));
    };
    const clock = this.#clock;
    let readyTimer: unknown;
    let settleReady = (): void => undefined;
    const ready = new Promise<void>((resolve) => {
      settleReady = resolve;
      // A node slow to subscribe: the other nodes' subscriptions cover for it.
      readyTimer = clock.setTimeout(() => followEveryNode().then(settle, settle), timeoutMs);
      const settle = (): void => {
        clock.clearTimeout(readyTimer);
        resolve();
      };
      subscribeOn([leadNodeIndex]).then(settle, () => followEveryNode().then(settle, settle));
    });
    return {
      ready,
      onNextRelease(callback) {
        if (hasPending) {
          hasPending = false;
          queueMicrotask(callback);
          return () => undefined;
        }
        waiting = callback;
        return () => {
          if (waiting === callback) waiting = undefined;
        };
      },
      watchEveryNode() {
        void followEveryNode().catch(() => undefined);
      },
      crowdRestMs(longestRestMs) {
        return Math.min(longestRestMs, crowdSource?.crowd.restMs(clock.now()) ?? 0);
      },
      close() {
        isClosed = true;
        clock.clearTimeout(readyTimer);
        settleReady();
        waiting = undefined;
        for (const subscription of subscriptions) subscription.remove(listener);
      },
    };
  }

  /**
   * Ends every subscription now, lingering or not, and subscribes no more: for `redlock.close()`, once
   * no waiter is left. Resolves when every node's UNSUBSCRIBE was answered (or failed: the adapter's own
   * `close()` comes next); never rejects.
   */
  close(): Promise<void> {
    this.#isClosed = true;
    return Promise.all([...this.#channels.values()].map((subscription) => subscription.close())).then(() => undefined);
  }

  /** The subscription to the release channel of lock key `key` on node `nodeIndex`, made on first use. */
  #channel(adapter: RedisAdapter, nodeIndex: number, key: string): ChannelSubscription {
    const id = `${nodeIndex} ${key}`;
    let subscription = this.#channels.get(id);
    if (subscription === undefined) {
      subscription = new ChannelSubscription(adapter, nodeIndex, key, this.#clock, () => this.#channels.delete(id));
      this.#channels.set(id, subscription);
    }
    return subscription;
  }
}

/**
 * One channel on one node: subscribed while any listener needs it, and for {@link SUBSCRIPTION_LINGER_MS}
 * after the last one left. Subscribing and unsubscribing run one after the other, each bringing the node in
 * line with the listeners at that moment, so a waiter that arrives while the last one leaves is never left
 * unsubscribed.
 */
class ChannelSubscription {
  /** How many wait on the channel, and how often it is released. */
  readonly crowd = new ReleaseCrowd(() => runScript(this.adapter, listenersScript, [this.key], [], undefined, parseListenersReply));
  readonly #listeners = new Set<() => void>();
  #unsubscribe: Unsubscribe | undefined;
  #queue: Promise<void> = Promise.resolve();
  #lingerTimer: unknown;
  #isClosed = false;
  /** Whether a SUBSCRIBE is in flight: it waits for the connection, which may be to a node that is down. */
  #isSubscribing = false;

  /** The release channel of {@link key}. */
  private readonly channel: string;

  /**
   * @param key - The lock key whose release channel this is: the listeners script names the channel from
   *   it as the release script does, so that a client that prefixes keys counts the channel it publishes on.
   */
  constructor(
    private readonly adapter: RedisAdapter,
    private readonly nodeIndex: number,
    private readonly key: string,
    private readonly clock: Clock,
    private readonly onIdle: () => void,
  ) {
    this.channel = releaseChannelOf(key);
  }

  /** Adds a listener; resolves once the node is subscribed, rejects if subscribing failed. */
  add(listener: () => void): Promise<void> {
    if (this.#isClosed) return Promise.reject(new Error('Release notifications are closed'));
    this.#listeners.add(listener);
    if (this.#lingerTimer !== undefined) {
      this.clock.clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
    }
    return this.#sync();
  }

  remove(listener: () => void): void {
    this.#listeners.delete(listener);
    if (this.#listeners.size > 0 || this.#lingerTimer !== undefined || this.#isClosed) return;
    this.#lingerTimer = this.clock.setTimeout(() => {
      this.#lingerTimer = undefined;
      void this.#sync().catch(() => undefined);
    }, SUBSCRIPTION_LINGER_MS);
    // A lingering subscription must not keep the process alive.
    unrefTimer(this.#lingerTimer);
  }

  /**
   * Unsubscribes now, whoever still listens, and never subscribes again; never rejects. It does not wait
   * for a SUBSCRIBE still in flight, which waits for its connection (to a node that may be down, for the
   * client's connect timeout): the unsubscribe follows it when it lands, and the adapter's `close()`, which
   * `redlock.close()` calls next, ends that connection and what is pending on it.
   */
  close(): Promise<void> {
    this.#isClosed = true;
    this.#listeners.clear();
    this.clock.clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    const isSubscribing = this.#isSubscribing;
    // An UNSUBSCRIBE that fails leaves a channel on a connection that the adapter's close() ends next.
    const closing = this.#sync().catch(() => undefined);
    return isSubscribing ? Promise.resolve() : closing;
  }

  #sync(): Promise<void> {
    const step = this.#queue.then(async () => {
      if (this.#listeners.size > 0 && this.#unsubscribe === undefined && !this.#isClosed) {
        this.#isSubscribing = true;
        this.#unsubscribe = await (this.adapter.subscribe as NonNullable<RedisAdapter['subscribe']>)(this.channel, () => {
          this.crowd.hear(this.clock.now());
          for (const listener of [...this.#listeners]) listener();
        })
          .catch((error: unknown) => {
            if (isDeniedChannel(error)) {
              warnOnce(
                this.adapter,
                'REDLOCK_NO_CHANNEL_PERMISSION',
                `Node ${this.nodeIndex} refused to subscribe to a release channel (${(error as Error).message}): waiters there wake on their retry timers instead of at each release. Give the Redis user the channels \`&redlock:released:*\``,
              );
            }
            throw error;
          })
          .finally(() => {
            this.#isSubscribing = false;
          });
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

/** Whether a subscription failed because the ACL denies the user the channel (Redis 7 denies a new user every channel). */
function isDeniedChannel(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOPERM');
}

/** Whatever tells a waiter that the lock may be free: a {@link KeyWatch}, or a local queue of waiters. */
export type ReleaseSource = Pick<KeyWatch, 'onNextRelease'>;

/**
 * Waits until `delayMs` passed (`'timer'`), a watched key was released (`'release'`), or `look` settled
 * (`'look'`: a watch's subscriptions came in place), whichever comes first; rejects with `signal.reason`
 * if `signal` aborts first.
 */
export function waitForRetry(
  clock: Clock,
  delayMs: number,
  watch: ReleaseSource | undefined,
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
      cancelWatch?.();
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
    const cancelWatch = watch?.onNextRelease(() => finish('release'));
    signal?.addEventListener('abort', onAbort, { once: true });
    void look?.then(() => finish('look'));
  });
}
