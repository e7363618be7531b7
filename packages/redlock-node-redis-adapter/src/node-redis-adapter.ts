import type { RedisAdapter, Unsubscribe } from 'redlock-core';
import { isNodeRedisCluster, type NodeRedisClient, type NodeRedisCluster, type NodeRedisSubscriber } from './node-redis-client.js';

/** Options of a {@link NodeRedisAdapter}. */
export interface NodeRedisAdapterOptions {
  /**
   * A second, connected client to the same node for pub/sub, e.g. `await client.duplicate().connect()`
   * (or a second `createCluster()` client for a cluster). With it, waiters in `acquire()` are woken the
   * moment the lock is released instead of at their next retry timer. A client in subscriber mode can run
   * nothing else, so it must not be `client` itself. The adapter never closes it. Several adapters may
   * share one subscriber: node-redis counts their listeners per channel, one SUBSCRIBE for all of them.
   * @defaultValue none: waiters retry on their timer only
   */
  readonly subscriber?: NodeRedisSubscriber;
}

/**
 * Connects one Redlock node to a node-redis client (`redis` 4 and later, or `@redis/client`): a single
 * client from `createClient()`, or a cluster from `createCluster()`, where each call goes to the master of
 * its first key's slot (so all keys of one lock must share a hash tag, e.g. `{orders}:42:items` and
 * `{orders}:42:payment`, or the node replies `CROSSSLOT`). RESP2 and RESP3 clients both work: the core's
 * scripts reply with integers, strings and arrays of them, which read the same in both protocols.
 *
 * It sends EVALSHA and EVAL as raw commands (`sendCommand`), so the client's own script helpers, type
 * mappings and command options play no part, and adds nothing: no retries, timeouts or script caching;
 * replies and errors pass through unchanged (the core relies on `NOSCRIPT` errors to fall back to EVAL).
 * It never connects, closes or reconfigures the client: it is yours, to `connect()` and to close.
 *
 * For a lock client, make an unreachable node fail fast: by default node-redis queues commands while it
 * reconnects (`disableOfflineQueue: false`), so the core's per-node timeout is what ends the wait; with
 * `disableOfflineQueue: true` a command sent while the client is not connected is rejected at once.
 *
 * @example
 * ```ts
 * import { createClient, createCluster } from 'redis';
 * import { Redlock } from 'redlock-core';
 * import { NodeRedisAdapter } from 'redlock-node-redis-adapter';
 *
 * // Three independent masters, each behind its own client.
 * const clients = await Promise.all(
 *   ['redis://a:6379', 'redis://b:6379', 'redis://c:6379'].map((url) => createClient({ url, disableOfflineQueue: true }).connect()),
 * );
 * // A second connection per node carries release notifications: waiters take the lock the moment it frees.
 * const adapters = await Promise.all(
 *   clients.map(async (client) => new NodeRedisAdapter(client, { subscriber: await client.duplicate().connect() })),
 * );
 * const redlock = new Redlock(adapters);
 * await redlock.using('orders:42', 10_000, async (signal) => chargeOrder(42, { signal }));
 *
 * // A Redis Cluster counts as one node; its keys must share a hash tag.
 * const cluster = await createCluster({ rootNodes: [{ url: 'redis://cluster-a:6379' }] }).connect();
 * const clusterRedlock = new Redlock([new NodeRedisAdapter(cluster)]);
 * ```
 */
export class NodeRedisAdapter implements RedisAdapter {
  /**
   * Subscribes to a channel on the `subscriber` client; present only when one was given, which is how the
   * core knows that this node can notify waiters. Each call adds a listener of its own, so the same
   * callback subscribed twice is two listeners, each removed by its own unsubscribe.
   */
  readonly subscribe?: (channel: string, onMessage: () => void) => Promise<Unsubscribe>;
  /**
   * The client given to the constructor, as given. The `Redlock` constructor compares it by identity to
   * refuse one client in two adapters, which would count one server as two nodes.
   */
  readonly client: NodeRedisClient | NodeRedisCluster;
  readonly #send: (args: string[], firstKey: string | undefined) => Promise<unknown>;

  /**
   * @param client - A node-redis client from `createClient()` or `createCluster()`, connected or
   *   connecting; the adapter never closes it.
   * @param options - See {@link NodeRedisAdapterOptions}.
   * @throws `TypeError` if `client` has no `sendCommand` method, or `subscriber` is `client` itself or has
   *   no `subscribe`/`unsubscribe` methods.
   */
  constructor(client: NodeRedisClient | NodeRedisCluster, options: NodeRedisAdapterOptions = {}) {
    if (typeof (client as { sendCommand?: unknown } | null)?.sendCommand !== 'function') {
      throw new TypeError(`Expected \`client\` to be a node-redis client or cluster (with sendCommand), got ${describe(client)}`);
    }
    this.client = client;
    this.#send = isNodeRedisCluster(client)
      ? (args, firstKey) => client.sendCommand(firstKey, false, args)
      : (args) => client.sendCommand(args);
    const { subscriber } = options;
    if (subscriber === undefined) return;
    if ((subscriber as unknown) === client) {
      throw new TypeError('Expected `subscriber` to be a client of its own, e.g. `await client.duplicate().connect()`, got `client` itself');
    }
    if (typeof subscriber?.subscribe !== 'function' || typeof subscriber.unsubscribe !== 'function') {
      throw new TypeError(`Expected \`subscriber\` to be a node-redis client (with subscribe and unsubscribe), got ${describe(subscriber)}`);
    }
    this.subscribe = async (channel, onMessage) => {
      // A listener of its own: node-redis keeps a Set per channel, so a shared callback would be one entry.
      const listener = (): void => onMessage();
      await subscriber.subscribe(channel, listener);
      let isListening = true;
      return async () => {
        if (!isListening) return;
        isListening = false;
        await subscriber.unsubscribe(channel, listener);
      };
    };
  }

  /** Sends `EVALSHA sha1 numkeys ...keys ...args`; a script the node has not cached rejects with its `NOSCRIPT` error. */
  evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#call(['EVALSHA', sha1, String(keys.length), ...keys, ...args], keys[0]);
  }

  /** Sends `EVAL source numkeys ...keys ...args`. */
  eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#call(['EVAL', source, String(keys.length), ...keys, ...args], keys[0]);
  }

  #call(command: string[], firstKey: string | undefined): Promise<unknown> {
    // Not `async`, which would wrap the client's promise in another one on every call; the seam still
    // requires a rejection, never a synchronous throw.
    try {
      return this.#send(command, firstKey);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return '`null`';
  if (typeof value === 'object') return `an object without them (${Object.prototype.toString.call(value)})`;
  return `\`${String(value)}\``;
}
