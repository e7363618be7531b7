import type { Cluster, Redis } from 'ioredis';
import type { RedisAdapter, Unsubscribe } from 'redlock-core';
import { subscriptionRegistryOf } from './subscription-registry.js';

/** Options of an {@link IoredisAdapter}. */
export interface IoredisAdapterOptions {
  /**
   * A second client to the same node for pub/sub, e.g. `client.duplicate({ maxRetriesPerRequest: null })`. With it, waiters in
   * `acquire()` are woken the moment the lock is released instead of at their next retry timer. A client
   * in subscriber mode can run nothing else, so it must not be `client` itself. The adapter never closes it.
   * Several adapters to the same node (e.g. one per `Redlock`) may share one subscriber: they share its
   * subscriptions, counted per channel, and one `'message'` listener on it.
   * @defaultValue none: waiters retry on their timer only
   */
  readonly subscriber?: Redis | Cluster;
}

/**
 * Connects one Redlock node to an ioredis client: a `Redis` for a standalone master, or a `Cluster`, where
 * ioredis routes each call by the slot of its first key (so all keys of one lock must share a hash tag,
 * e.g. `{orders}:42:items` and `{orders}:42:payment`, or the node replies `CROSSSLOT`).
 *
 * It maps EVALSHA and EVAL onto the client and adds nothing: no retries, timeouts or script caching, and
 * replies and errors pass through unchanged (the core relies on `NOSCRIPT` errors to fall back to EVAL).
 * It never closes or reconfigures the client: the client is yours, to create and to `quit()`. The client's
 * own options still apply, e.g. its `keyPrefix` is put before every lock key.
 *
 * For a lock client, make an unreachable node fail fast: by default ioredis queues commands while it
 * reconnects (`enableOfflineQueue: true`) and only fails them after 20 reconnection attempts
 * (`maxRetriesPerRequest: 20`), so the core's per-node timeout is what ends the wait. With
 * `enableOfflineQueue: false` a command sent while the client is not connected is rejected at once, and a
 * small `maxRetriesPerRequest` fails commands caught by a dropped connection after that many reconnection
 * attempts.
 *
 * @example
 * ```ts
 * import { Cluster, Redis } from 'ioredis';
 * import { Redlock } from 'redlock-core';
 * import { IoredisAdapter } from 'redlock-ioredis-adapter';
 *
 * // Three independent masters, each behind its own client.
 * const clients = ['redis://a:6379', 'redis://b:6379', 'redis://c:6379'].map(
 *   (url) => new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }),
 * );
 * const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)));
 * const lock = await redlock.acquire(['{orders}:42:items', '{orders}:42:payment'], 10_000);
 * await lock.release();
 *
 * // Prompt hand-off: a second connection per node carries release notifications.
 * const notified = new Redlock(clients.map((client) => new IoredisAdapter(client, { subscriber: client.duplicate({ maxRetriesPerRequest: null }) })));
 *
 * // A Redis Cluster counts as one node; its keys must share a hash tag.
 * const cluster = new Cluster([{ host: 'cluster-a', port: 6379 }], { enableOfflineQueue: false });
 * const clusterRedlock = new Redlock([new IoredisAdapter(cluster)]);
 * ```
 */
export class IoredisAdapter implements RedisAdapter {
  /**
   * Subscribes to a channel on the `subscriber` client; present only when one was given, which is how the
   * core knows that this node can notify waiters. Subscriptions are counted per subscriber connection, across
   * every adapter that shares it: one SUBSCRIBE per channel, and UNSUBSCRIBE only after the last listener.
   */
  readonly subscribe?: (channel: string, onMessage: () => void) => Promise<Unsubscribe>;
  /**
   * The client given to the constructor, as given. The `Redlock` constructor compares it by identity to
   * refuse one client in two adapters, which would count one server as two nodes.
   */
  readonly client: Redis | Cluster;

  /**
   * @param client - A connected or connecting ioredis `Redis` or `Cluster`; the adapter never closes it.
   * @param options - See {@link IoredisAdapterOptions}.
   * @throws `TypeError` if `subscriber` is `client` itself.
   */
  constructor(client: Redis | Cluster, options: IoredisAdapterOptions = {}) {
    this.client = client;
    const { subscriber } = options;
    if (subscriber === undefined) return;
    if (subscriber === client) {
      throw new TypeError('Expected `subscriber` to be a client of its own, e.g. `client.duplicate()`, got `client` itself');
    }
    const registry = subscriptionRegistryOf(subscriber);
    this.subscribe = (channel, onMessage) => registry.subscribe(channel, onMessage);
  }

  /** Sends `EVALSHA sha1 numkeys ...keys ...args`; a script the node has not cached rejects with its `NOSCRIPT` error. */
  evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    // Not `async`, which would wrap the client's promise in another one on every call; the seam still
    // requires a rejection, never a synchronous throw.
    try {
      return this.client.evalsha(sha1, keys.length, ...keys, ...args);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends `EVAL source numkeys ...keys ...args`. */
  async eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.client.eval(source, keys.length, ...keys, ...args);
  }
}
