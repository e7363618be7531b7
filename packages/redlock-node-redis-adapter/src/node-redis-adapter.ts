import type { OwnedSubscriberLease, RedisAdapter, Unsubscribe } from 'redlock-core';
import { evalCommand, evalshaCommand, setIfAbsentCommand, trySetCommand } from 'redlock-core';
import {
  isDuplicableNodeRedisClient,
  isNodeRedisCluster,
  type NodeRedisClient,
  type NodeRedisCluster,
  type NodeRedisSubscriber,
} from './node-redis-client.js';
import { ownedSubscriberOf } from './owned-subscriber.js';

/** Options of a {@link NodeRedisAdapter}. */
export interface NodeRedisAdapterOptions {
  /**
   * Whether the adapter offers release notifications (the `subscribe` capability), which wake waiters in
   * `acquire()` the moment a lock is released instead of at their next retry timer ("prompt hand-off").
   * With `false` the adapter has no `subscribe` member and opens no connection: waiters retry on their
   * timers only. Cannot be `false` together with `subscriber`.
   * @defaultValue `true`
   */
  readonly notifications?: boolean;
  /**
   * A client of your own that carries the notifications instead of the connection the adapter would open:
   * a second, connected client to the same node, e.g. `await client.duplicate().connect()`. A client in
   * subscriber mode can run nothing else, so it must not be `client` itself. The adapter never closes it.
   * Several adapters may share one subscriber: node-redis counts their listeners per channel, one
   * SUBSCRIBE for all of them.
   * @defaultValue none: for a single client the adapter opens its own (see {@link NodeRedisAdapter}); a
   * cluster subscribes itself
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
 * It sends EVALSHA, EVAL and the SETs of the usual lock as raw commands (`sendCommand`), with the default
 * reply types whatever `typeMapping` the client has, so the client's own script helpers and type mappings
 * play no part, and adds nothing: no retries, timeouts or script caching. A client with a `keyPrefix`
 * (node-redis 6) is refused: node-redis does not put it before a raw command's keys (give it to the
 * Redlock instead);
 * replies and errors pass through unchanged (the core relies on `NOSCRIPT` errors to fall back to EVAL).
 * It never connects, closes or reconfigures the client: it is yours, to `connect()` and to close.
 *
 * **Release notifications (prompt hand-off) are on by default.** Over a single client, the adapter opens
 * a subscriber connection of its own (`client.duplicate()`, named `redlock-subscriber`, then `connect()`)
 * at the first wait, closes it a minute after its last subscription ended, when `client` ends (`close()`,
 * `quit()`, `destroy()`), or at the {@link NodeRedisAdapter.close} of the last adapter over `client` (every
 * adapter over one client shares it), and opens it again when needed. A cluster client subscribes on a
 * connection it keeps for pub/sub itself; a release script's wake is a PUBLISH, which a cluster broadcasts
 * to every node, so that connection hears every wake. `notifications: false` turns it off; `subscriber`
 * brings your own.
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
 *   ['redis://a:6379', 'redis://b:6379', 'redis://c:6379'].map((url) => {
 *     const client = createClient({ url, disableOfflineQueue: true });
 *     client.on('error', (error) => console.warn(`Redis ${url}: ${error.message}`));
 *     return client.connect();
 *   }),
 * );
 * const redlock = new Redlock(clients.map((client) => new NodeRedisAdapter(client)));
 * await redlock.using('orders:42', 10_000, async (signal) => chargeOrder(42, { signal }));
 *
 * // At shutdown: close what the adapters opened, then your clients.
 * await redlock.close();
 * await Promise.all(clients.map((client) => client.close()));
 *
 * // A Redis Cluster counts as one node; its keys must share a hash tag.
 * const cluster = await createCluster({ rootNodes: [{ url: 'redis://cluster-a:6379' }] }).connect();
 * const clusterRedlock = new Redlock([new NodeRedisAdapter(cluster)]);
 * ```
 */
export class NodeRedisAdapter implements RedisAdapter {
  /**
   * Subscribes to a channel (the core's wake channels); present unless `notifications` is `false` (or the client can neither
   * subscribe nor be duplicated), which is how the core knows that this node can notify waiters. Each call
   * adds a listener of its own, so the same callback subscribed twice is two listeners, each removed by
   * its own unsubscribe; node-redis sends one SUBSCRIBE per channel and connection, and UNSUBSCRIBE after
   * the last listener. Rejects once the adapter is closed. With `notifications: false` the adapter has no
   * `subscribe` member at all (it is `declare`d, so no field is emitted).
   */
  declare readonly subscribe?: (channel: string, onMessage: () => void) => Promise<Unsubscribe>;
  /**
   * The client given to the constructor, as given. The `Redlock` constructor compares it by identity to
   * refuse one client in two adapters, which would count one server as two nodes.
   */
  readonly client: NodeRedisClient | NodeRedisCluster;
  readonly #send: (args: string[], firstKey: string | undefined) => Promise<unknown>;
  readonly #ownedSubscriber: OwnedSubscriberLease | undefined;
  #isClosed = false;

  /**
   * @param client - A node-redis client from `createClient()` or `createCluster()`, connected or
   *   connecting; the adapter never closes it.
   * @param options - See {@link NodeRedisAdapterOptions}.
   * @throws `TypeError` if `client` has no `sendCommand` method, `options` is not an object or has an
   *   unknown option, `notifications` is not a boolean, `subscriber` is `client` itself or has no
   *   `subscribe`/`unsubscribe` methods, or `subscriber` is given with `notifications: false`.
   */
  constructor(client: NodeRedisClient | NodeRedisCluster, options: NodeRedisAdapterOptions = {}) {
    if (typeof (client as { sendCommand?: unknown } | null)?.sendCommand !== 'function') {
      throw new TypeError(`Expected \`client\` to be a node-redis client or cluster (with sendCommand), got ${describe(client)}`);
    }
    const { notifications, subscriber } = validatedOptions(client, options);
    const keyPrefix: unknown = Reflect.get(client, '_keyPrefix');
    if (keyPrefix !== undefined && keyPrefix !== '') {
      throw new TypeError(
        `Expected a node-redis client without \`keyPrefix\`, got one with \`${String(keyPrefix)}\`: node-redis puts it before the keys of its typed commands only, not of the raw commands this adapter sends, ` +
          'so lock keys would be written without it. Give the prefix to the Redlock instead (its `keyPrefix` option), over a client without one',
      );
    }
    this.client = client;
    // `typeMapping: {}` overrides whatever mapping the client was made with (node-redis 5 and later merge
    // the client's command options into each command's): replies come back as the strings and integers the
    // core reads, not as Buffers or Maps. node-redis 4 ignores the option.
    this.#send = isNodeRedisCluster(client)
      ? (args, firstKey) => (client.sendCommand as RawClusterSend)(firstKey, false, args, RAW_REPLIES)
      : (args) => (client.sendCommand as RawSend)(args, RAW_REPLIES);
    if (!notifications) return;
    let subscribeOnNode: (channel: string, onMessage: () => void) => Promise<Unsubscribe>;
    const selfSubscriber = isNodeRedisCluster(client) && isSubscriber(client) ? client : undefined;
    if (subscriber !== undefined || selfSubscriber !== undefined) {
      const given = (subscriber ?? selfSubscriber) as NodeRedisSubscriber;
      subscribeOnNode = (channel, onMessage) => subscribeWithListenerOfItsOwn(given, channel, onMessage);
    } else if (isDuplicableNodeRedisClient(client)) {
      const owned = ownedSubscriberOf(client).lease();
      this.#ownedSubscriber = owned;
      subscribeOnNode = (channel, onMessage) => owned.subscribe(channel, onMessage);
    } else {
      // A stand-in client that can neither subscribe nor open a second connection: timers only.
      return;
    }
    this.subscribe = (channel, onMessage) => {
      if (this.#isClosed) {
        return Promise.reject(new Error(`Cannot subscribe to "${channel}": this NodeRedisAdapter was closed`));
      }
      return subscribeOnNode(channel, onMessage);
    };
  }

  /**
   * Closes what the adapter opened: it leaves its channels, and closes the subscriber connection at once
   * (rejecting a SUBSCRIBE still in flight) unless another open adapter over the same client shares it.
   * Never closes `client` or a `subscriber` you gave; `evalsha` and `eval` keep working through
   * `client`. Final: from then on `subscribe` rejects, so waiters of a `Redlock` still using this adapter
   * fall back to their retry timers. Safe to call more than once. `Redlock.close()` calls it.
   */
  async close(): Promise<void> {
    this.#isClosed = true;
    this.#ownedSubscriber?.close();
  }

  /**
   * Whether `client` has no connection to its node now, and why: `undefined` while ready, and on a
   * cluster; while a single client's `isReady` is `false` (connecting, reconnecting, or closed), `error`
   * (what a call rejected with), or an error saying so (node-redis hands its connection errors to its
   * `'error'` listeners only). The core counts a node whose calls fail or time out for want of a
   * connection as down until the client is ready again (see `RedisAdapter.connectionError`).
   */
  connectionError(error?: unknown): unknown {
    const { client } = this;
    if (isNodeRedisCluster(client) || (client as { readonly isReady?: unknown }).isReady !== false) return undefined;
    return error ?? new Error('the client is not connected (node-redis `isReady` is false)');
  }

  /** Sends `EVALSHA sha1 numkeys ...keys ...args`; a script the node has not cached rejects with its `NOSCRIPT` error. */
  evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#call(evalshaCommand(sha1, keys, args), keys[0]);
  }

  /** Sends `EVAL source numkeys ...keys ...args`. */
  eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#call(evalCommand(source, keys, args), keys[0]);
  }

  /** Sends `SET key value NX PX ttlMs`: `'OK'` when it set the key, `null` when the key exists. */
  trySet(key: string, value: string, ttlMs: number): Promise<unknown> {
    return this.#call(trySetCommand(key, value, ttlMs), key);
  }

  /**
   * Sends `SET key value NX PX ttlMs GET`: `null` when it set the key, else the value the key holds,
   * unchanged. The core uses {@link NodeRedisAdapter.trySet} instead (a core before it used this).
   */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<unknown> {
    return this.#call(setIfAbsentCommand(key, value, ttlMs), key);
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

/** Subscribes a listener of its own on a subscriber the adapter does not own, and returns how to remove it. */
async function subscribeWithListenerOfItsOwn(subscriber: NodeRedisSubscriber, channel: string, onMessage: () => void): Promise<Unsubscribe> {
  // A listener of its own: node-redis keeps a Set per channel, so a shared callback would be one entry.
  const listener = (): void => onMessage();
  await subscriber.subscribe(channel, listener);
  let isListening = true;
  return async () => {
    if (!isListening) return;
    isListening = false;
    await subscriber.unsubscribe(channel, listener);
  };
}

/** Whether `value` has the members of a node-redis client that can subscribe. */
function isSubscriber(value: unknown): value is NodeRedisSubscriber {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate['subscribe'] === 'function' && typeof candidate['unsubscribe'] === 'function';
}

/** The names of {@link NodeRedisAdapterOptions}. */
const OPTION_NAMES: readonly string[] = ['notifications', 'subscriber'] satisfies (keyof NodeRedisAdapterOptions)[];

/** Command options that give every reply node-redis' default types, whatever the client maps them to. */
const RAW_REPLIES = Object.freeze({ typeMapping: Object.freeze({}) });

type RawSend = (args: string[], options: typeof RAW_REPLIES) => Promise<unknown>;
type RawClusterSend = (firstKey: string | undefined, isReadonly: boolean, args: string[], options: typeof RAW_REPLIES) => Promise<unknown>;

/** The constructor's options, checked, with their defaults. */
function validatedOptions(
  client: NodeRedisClient | NodeRedisCluster,
  options: NodeRedisAdapterOptions,
): { readonly notifications: boolean; readonly subscriber: NodeRedisSubscriber | undefined } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got ${describe(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.includes(name)) {
      throw new TypeError(`Unknown option \`${name}\` in the options of NodeRedisAdapter: it takes ${OPTION_NAMES.map((known) => `\`${known}\``).join(', ')}`);
    }
  }
  const { notifications = true, subscriber } = options;
  if (typeof notifications !== 'boolean') {
    throw new TypeError(`Expected \`notifications\` to be a boolean, got ${describe(notifications)}`);
  }
  if (subscriber === undefined) return { notifications, subscriber };
  if ((subscriber as unknown) === client) {
    throw new TypeError(
      isNodeRedisCluster(client)
        ? 'Expected `subscriber` to be a client of its own, got `client` itself: a cluster subscribes by itself, leave `subscriber` out'
        : 'Expected `subscriber` to be a client of its own, e.g. `await client.duplicate().connect()`, got `client` itself',
    );
  }
  if (!isSubscriber(subscriber)) {
    throw new TypeError(`Expected \`subscriber\` to be a node-redis client (with subscribe and unsubscribe), got ${describe(subscriber)}`);
  }
  if (!notifications) {
    throw new TypeError('Expected either `subscriber` or `notifications: false`, got both: a subscriber serves only notifications');
  }
  return { notifications, subscriber };
}

function describe(value: unknown): string {
  if (value === null) return '`null`';
  if (typeof value === 'object') return `an object without them (${Object.prototype.toString.call(value)})`;
  return `\`${String(value)}\``;
}
