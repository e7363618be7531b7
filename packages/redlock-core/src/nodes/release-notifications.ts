// The release channels waiters listen to, on the lead node of their keys: one subscription per node and
// channel for all the waiters of a `Redlock`, and how crowded each channel is.
import type { RedisAdapter, Unsubscribe } from '../base/adapter.js';
import { type Clock, unrefTimer } from '../base/clock.js';
import { warnOnce } from '../base/warnings.js';
import { listenersScript, parseListenersReply } from '../scripts/listeners.js';
import { runScript } from '../scripts/lua-script.js';
import { releaseChannelOf } from '../scripts/release.js';

/**
 * The lead node for resource keys `keys`, the node woken waiters ask first and listen to: a hash of the
 * smallest key among the nodes about as near as the nearest by `distancesMs` (`nodeDistanceMsFor`), so
 * resources spread over the nodes and clients side by side choose the same node, whatever their key order.
 * About as near: within 1.5 times the nearest's distance plus 10 ms, so the nodes of one datacenter tie
 * and one 25 ms away does not (a far lead node costs 2-3 far round trips per hand-off, bench/RESULTS.md).
 * Waiters that all ask one node first are ordered by it: one wins it and asks the rest, the others learn
 * in one call that the hold was taken, instead of splitting the votes of every node (a thundering herd).
 */
export function leadNodeIndexOf(keys: readonly string[], distancesMs: readonly number[]): number {
  // Every node unmeasured (Infinity) ties too.
  const bandMs = Math.min(...distancesMs) * 1.5 + 10;
  const candidates = distancesMs.flatMap((distanceMs, nodeIndex) => (distanceMs <= bandMs ? [nodeIndex] : []));
  const smallestKey = keys.reduce((smallest, key) => (key < smallest ? key : smallest), keys[0] ?? '');
  // The 32-bit FNV-1a hash of the key's UTF-16 code units: cheap, and well spread for short keys.
  let hash = 0x811c9dc5;
  for (let index = 0; index < smallestKey.length; index += 1) hash = Math.imul(hash ^ smallestKey.charCodeAt(index), 0x01000193);
  return candidates[(hash >>> 0) % candidates.length] ?? 0;
}

/**
 * How long a node's subscription to a channel outlives its last waiter, in milliseconds. A resource that
 * is contended once is usually contended again soon: keeping the channel saves a SUBSCRIBE and an
 * UNSUBSCRIBE per wait on every node, and the round trip of subscribing before a waiter can sleep.
 */
export const SUBSCRIPTION_LINGER_MS = 1_000;

/**
 * How many announcements a lingering subscription hears with no waiter here before it ends early: about
 * the cost of the SUBSCRIBE and UNSUBSCRIBE it saves, so a channel busy with others' hand-offs ends early.
 */
export const LINGER_ANNOUNCEMENTS = 4;

/** How often a channel's listeners are counted again at most, in milliseconds (see {@link KeyWatch.crowdRestMs}). */
const LISTENER_COUNT_EVERY_MS = 250;

/** How many of the latest intervals between a channel's announcements are kept. */
const KEPT_INTERVALS = 5;

/** A waiter's subscription to the release notifications of its keys (see {@link ReleaseNotifications.watch}). */
export interface KeyWatch {
  /** Watches every node from now on, not only the lead node (it does not answer). */
  watchEveryNode(): void;
  /**
   * How long a woken attempt that failed rests the wakes because many wait: the time of a quarter as many
   * releases as there are listeners on the lead node's channel, at the recent pace (the lower median of the
   * latest intervals: a quiet spell is an outlier), ±50% so that waiters that failed together do not wake
   * together: about four woken attempts then follow each release, however many wait (bench/RESULTS.md).
   * At most `longestRestMs`: idle subscribers must not silence the wakes longer. 0 with fewer than three
   * listeners or two intervals. A count older than {@link LISTENER_COUNT_EVERY_MS} is renewed (`PUBSUB
   * NUMSUB`) for the next call: a release never waits for it.
   */
  crowdRestMs(longestRestMs: number): number;
  /** Ends the watch; its node subscriptions linger (see {@link ChannelSubscription}). */
  close(): void;
}

/** The release notification subscriptions of one `Redlock`, shared by all its waiters. */
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
   * Watches the release channels of `keys` on the lead node, which a woken waiter asks first: every node
   * announces its own release, so the previous owner's key is gone there. Where the lead node cannot
   * subscribe (no capability, an error, no answer within `timeoutMs`), or after
   * {@link KeyWatch.watchEveryNode}, every capable node. Calls `onRelease` at each release heard, and once
   * when the first subscriptions are in place (or failed everywhere): a release before may have gone unheard.
   */
  watch(keys: readonly string[], timeoutMs: number, leadNodeIndex: number, onRelease: () => void): KeyWatch {
    const clock = this.#clock;
    let isClosed = false;
    const listener = (): void => {
      if (!isClosed) onRelease();
    };
    const subscriptions: ChannelSubscription[] = [];
    /** Subscribes on these nodes; resolves once one channel is subscribed, rejects if none can be. */
    const subscribeOn = (nodeIndexes: readonly number[]): Promise<void> =>
      Promise.any(
        // Closed, nowhere: a lead node failing after the waiter left must not have it listen everywhere for ever.
        (isClosed || this.#isClosed ? [] : nodeIndexes).flatMap((nodeIndex) => {
          const adapter = this.#adapters[nodeIndex];
          return adapter === undefined ? [] : keys.map((key) => this.#channel(adapter, nodeIndex, key, subscriptions).add(listener));
        }),
      );
    let everyNode: Promise<void> | undefined;
    const followEveryNode = (): Promise<void> => (everyNode ??= subscribeOn(this.#adapters.map((_, nodeIndex) => nodeIndex).filter((nodeIndex) => nodeIndex !== leadNodeIndex)));
    // The lead node's channel of the first key, subscribed first, tells how crowded the resource is.
    const hasLeadChannel = this.#adapters[leadNodeIndex] !== undefined;
    let isReady = false;
    const ready = (): void => {
      if (isReady) return;
      isReady = true;
      clock.clearTimeout(readyTimer);
      listener();
    };
    // A node slow to subscribe: the other nodes' subscriptions cover for it.
    const readyTimer = clock.setTimeout(() => followEveryNode().then(ready, ready), timeoutMs);
    subscribeOn([leadNodeIndex]).then(ready, () => followEveryNode().then(ready, ready));
    return {
      watchEveryNode() {
        void followEveryNode().catch(() => undefined);
      },
      crowdRestMs(longestRestMs) {
        return Math.min(longestRestMs, (hasLeadChannel ? subscriptions[0]?.crowdRestMs(clock.now()) : undefined) ?? 0);
      },
      close() {
        isClosed = true;
        clock.clearTimeout(readyTimer);
        for (const subscription of subscriptions) subscription.remove(listener);
      },
    };
  }

  /**
   * Ends every subscription now, lingering or not, and subscribes no more: for `redlock.close()`, once no
   * waiter is left. Resolves when every UNSUBSCRIBE was answered or failed; never rejects.
   */
  close(): Promise<void> {
    this.#isClosed = true;
    return Promise.all([...this.#channels.values()].map((subscription) => subscription.close())).then(() => undefined);
  }

  /** The subscription to lock key `key`'s release channel on node `nodeIndex`, made on first use; noted in `used`. */
  #channel(adapter: RedisAdapter, nodeIndex: number, key: string, used: ChannelSubscription[]): ChannelSubscription {
    const id = `${nodeIndex} ${key}`;
    const subscription = this.#channels.get(id) ?? new ChannelSubscription(adapter, nodeIndex, key, this.#clock, () => this.#channels.delete(id));
    this.#channels.set(id, subscription);
    used.push(subscription);
    return subscription;
  }
}

/**
 * One channel on one node: subscribed while any listener needs it, and for {@link SUBSCRIPTION_LINGER_MS}
 * after the last one left (or until it heard {@link LINGER_ANNOUNCEMENTS} releases meanwhile). Subscribing
 * and unsubscribing run in turn, each bringing the node in line with the listeners at that moment, so a
 * waiter that arrives while the last one leaves is never left unsubscribed.
 */
class ChannelSubscription {
  readonly #listeners = new Set<() => void>();
  #unsubscribe: Unsubscribe | undefined;
  #queue: Promise<void> = Promise.resolve();
  #lingerTimer: unknown;
  /** How many announcements came since the last listener left: see {@link LINGER_ANNOUNCEMENTS}. */
  #heardWhileLingering = 0;
  #isClosed = false;
  /** Whether a SUBSCRIBE is in flight: it waits for the connection, which may be to a node that is down. */
  #isSubscribing = false;
  /** How many listened at the latest count (see {@link crowdRestMs}); 0 before one answered, or when it failed. */
  #listenerCount = 0;
  #countedAt = -Infinity;
  #lastHeardAt = Number.NaN;
  /** The latest {@link KEPT_INTERVALS} intervals between announcements, in milliseconds. */
  readonly #intervalsMs: number[] = [];

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
  ) {}

  /** Adds a listener; resolves once the node is subscribed, rejects if subscribing failed. */
  add(listener: () => void): Promise<void> {
    if (this.#isClosed) return Promise.reject(new Error('Release notifications are closed'));
    this.#listeners.add(listener);
    return this.#endLinger();
  }

  remove(listener: () => void): void {
    this.#listeners.delete(listener);
    if (this.#listeners.size > 0 || this.#lingerTimer !== undefined || this.#isClosed) return;
    this.#heardWhileLingering = 0;
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

  /** See {@link KeyWatch.crowdRestMs}, unbounded, at `now` on the clock. */
  crowdRestMs(now: number): number {
    const count = this.#intervalsMs.length;
    // Counted once releases come, not at a waiter's first look: the crowd may gather after it.
    if (count < 2) return 0;
    if (now - this.#countedAt >= LISTENER_COUNT_EVERY_MS) {
      this.#countedAt = now;
      const countIs = (listeners: number): void => {
        this.#listenerCount = listeners;
      };
      // A count that fails (a node down, an adapter that cannot run it, or one that throws instead of
      // rejecting) leaves the waiters resting as alone; it never fails the waiter that asked.
      try {
        runScript(this.adapter, listenersScript, [this.key], [], undefined, parseListenersReply).then(countIs, () => countIs(0));
      } catch {
        countIs(0);
      }
    }
    if (this.#listenerCount < 3) return 0;
    const paceMs = [...this.#intervalsMs].sort((a, b) => a - b)[(count - 1) >> 1] as number;
    return ((this.#listenerCount * paceMs) / 4) * (0.5 + Math.random());
  }

  /**
   * Unsubscribes now, whoever still listens, and never subscribes again; never rejects. It does not wait for
   * a SUBSCRIBE still in flight, which waits for its connection (to a node that may be down): the unsubscribe
   * follows it, and the adapter's `close()`, which `redlock.close()` calls next, ends what is pending.
   */
  close(): Promise<void> {
    this.#isClosed = true;
    this.#listeners.clear();
    const isSubscribing = this.#isSubscribing;
    // An UNSUBSCRIBE that fails leaves a channel on a connection that the adapter's close() ends next.
    const closing = this.#endLinger().catch(() => undefined);
    return isSubscribing ? Promise.resolve() : closing;
  }

  #sync(): Promise<void> {
    const step = this.#queue.then(async () => {
      if (this.#listeners.size > 0 && this.#unsubscribe === undefined && !this.#isClosed) {
        this.#isSubscribing = true;
        try {
          this.#unsubscribe = await (this.adapter.subscribe as NonNullable<RedisAdapter['subscribe']>)(releaseChannelOf(this.key), () => {
            const now = this.clock.now();
            if (!Number.isNaN(this.#lastHeardAt) && this.#intervalsMs.push(now - this.#lastHeardAt) > KEPT_INTERVALS) this.#intervalsMs.shift();
            this.#lastHeardAt = now;
            if (this.#listeners.size > 0) for (const listener of [...this.#listeners]) listener();
            else if (this.#lingerTimer !== undefined && ++this.#heardWhileLingering >= LINGER_ANNOUNCEMENTS) void this.#endLinger().catch(() => undefined);
          });
        } catch (error) {
          if (error instanceof Error && error.message.startsWith('NOPERM')) {
            // Redis 7 denies a new ACL user every channel.
            warnOnce(
              this.adapter,
              'REDLOCK_NO_CHANNEL_PERMISSION',
              `Node ${this.nodeIndex} refused to subscribe to a release channel (${error.message}): waiters there wake on their retry timers instead of at each release. Give the Redis user the channels \`&redlock:released:*\``,
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
