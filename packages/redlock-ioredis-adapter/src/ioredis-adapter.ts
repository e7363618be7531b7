import type { OwnedSubscriberLease, RedisAdapter, Unsubscribe } from 'redlock-core';
import { CoalescedWrites } from './coalesced-writes.js';
import type { DuplicableClient, IoredisClient, SubscriberClient } from './ioredis-client.js';
import { ownedSubscriberOf } from './owned-subscriber.js';
import { subscriptionRegistryOf } from './subscription-registry.js';

/** Options of an {@link IoredisAdapter}. */
export interface IoredisAdapterOptions {
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
   * another client to the same node, e.g. `client.duplicate({ maxRetriesPerRequest: null })`. A `Redis` in
   * subscriber mode can run nothing else, so it must not be `client` itself. The adapter never closes it.
   * Several adapters to the same node (e.g. one per `Redlock`) may share one subscriber: they share its
   * subscriptions, counted per channel, and one `'message'` listener on it. Its own `keyPrefix` does not
   * matter: ioredis prefixes no channel.
   * @defaultValue none: for a `Redis`, the adapter opens its own (see {@link IoredisAdapter}); a `Cluster`
   * subscribes itself
   */
  readonly subscriber?: SubscriberClient;
  /**
   * Whether the commands the adapter sends to a `Redis` in a burst after its first (a burst: before the
   * promise continuations queued so far have run) leave in one write to its socket with the rest of that
   * turn of the event loop (it is corked from the second until `process.nextTick`), instead of one system
   * call each as ioredis sends them. Locks taken and released concurrently then cost far less CPU, on
   * the client and on the node; a lone lock, which sends one command per node per turn, is never held. A
   * held command waits until the code running now returns (microseconds, unless it goes on with long
   * synchronous work, which would delay the reply's handling as much anyway). It holds back the other
   * writes `client` makes in that turn after ours too (yours, if any), and sends them in order with ours.
   * No effect on a `Cluster`.
   * @defaultValue `true`
   */
  readonly coalesceWrites?: boolean;
}

/**
 * Connects one Redlock node to an ioredis (5 or 6) or iovalkey client: a `Redis` for a standalone master, or
 * a `Cluster`, where the client routes each call by the slot of its first key (so all keys of one lock must
 * share a hash tag, e.g. `{orders}:42:items` and `{orders}:42:payment`, or the node replies `CROSSSLOT`).
 *
 * It maps EVALSHA, EVAL and the SETs of the usual lock onto the client and adds nothing: no retries, timeouts or script caching, and
 * replies and errors pass through unchanged (the core relies on `NOSCRIPT` errors to fall back to EVAL).
 * It never closes or reconfigures the client: the client is yours, to create and to `quit()`. The client's
 * own options still apply, e.g. its `keyPrefix` is put before every lock key.
 *
 * **Release notifications (prompt hand-off) are on by default.** Over a `Redis`, the adapter opens a
 * subscriber connection of its own (`client.duplicate()` with `maxRetriesPerRequest: null` and the offline
 * queue on, named `redlock-subscriber`) at the first wait, closes it a minute after its last subscription ended,
 * when `client` ends, or at the {@link IoredisAdapter.close} of the last adapter over `client` (every
 * adapter over one client shares it), and opens it again when needed. A `Cluster` already subscribes on a connection of its own, which ioredis keeps and moves to
 * another node when one fails; a release script's wake is a PUBLISH, which a cluster broadcasts to every
 * node, so that connection hears every wake. `notifications: false` turns it off; `subscriber` brings your
 * own. The channels are passed through as the core names them: a wake channel holds no key, so an ioredis
 * `keyPrefix` changes none of them.
 *
 * For a lock client, make an unreachable node fail fast, and keep the offline queue so that a lock taken
 * right after creating the clients waits for them to connect: `maxRetriesPerRequest: 0` fails every
 * command waiting for a node at each failed reconnection attempt (every 2 s at most by default), instead of
 * after 20 of them. The core's per-node timeout bounds each call in any case.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { Redlock } from 'redlock-core';
 * import { IoredisAdapter } from 'redlock-ioredis-adapter';
 *
 * // Three independent masters, each behind its own client.
 * const clients = ['redis://a:6379', 'redis://b:6379', 'redis://c:6379'].map((url) => {
 *   const client = new Redis(url, { maxRetriesPerRequest: 0 });
 *   client.on('error', (error) => console.warn(`Redis ${url}: ${error.message}`));
 *   return client;
 * });
 * const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)));
 * const lock = await redlock.acquire(['{orders}:42:items', '{orders}:42:payment'], 10_000);
 * await lock.release();
 *
 * // At shutdown: close what the adapters opened, then your clients.
 * await redlock.close();
 * await Promise.all(clients.map((client) => client.quit()));
 * ```
 */
export class IoredisAdapter implements RedisAdapter {
  /**
   * Subscribes to a channel (the core's wake channels), passed to the client unchanged; present unless
   * `notifications` is `false`, which is how the core knows that this node can notify waiters.
   * Subscriptions are counted per subscriber connection, across every adapter that shares it: one
   * SUBSCRIBE per channel, and UNSUBSCRIBE only after the last listener.
   * Rejects once the adapter is closed. With `notifications: false` the adapter has no `subscribe` member
   * at all (it is `declare`d, so no field is emitted).
   */
  declare readonly subscribe?: (channel: string, onMessage: () => void) => Promise<Unsubscribe>;
  /**
   * The client given to the constructor, as given. The `Redlock` constructor compares it by identity to
   * refuse one client in two adapters, which would count one server as two nodes.
   */
  readonly client: IoredisClient;
  readonly #ownedSubscriber: OwnedSubscriberLease | undefined;
  /** What holds the client's writes back, unless `coalesceWrites` is `false`. */
  readonly #writes: CoalescedWrites | undefined;
  #isClosed = false;
  /** The error of the latest failed connection attempt since the client was last `ready` (see `connectionError`). */
  #socketError: unknown;

  /**
   * @param client - A connected or connecting ioredis or iovalkey `Redis` or `Cluster`; the adapter never
   *   closes it.
   * @param options - See {@link IoredisAdapterOptions}.
   * @throws `TypeError` if `options` is not an object or has an unknown option, `notifications` or
   *   `coalesceWrites` is not a boolean, `subscriber` is not a client or is `client` itself, or `subscriber`
   *   is given with `notifications: false`.
   */
  constructor(client: IoredisClient, options: IoredisAdapterOptions = {}) {
    const { notifications, subscriber, coalesceWrites } = validatedOptions(client, options);
    const clientOptions = (client as { options?: { stringNumbers?: unknown; redisOptions?: { stringNumbers?: unknown } } }).options;
    // A Cluster's connections take theirs from `redisOptions`.
    if (clientOptions?.stringNumbers === true || clientOptions?.redisOptions?.stringNumbers === true) {
      throw new TypeError(
        'Expected an ioredis client without `stringNumbers`, got one with it: its integer replies come back as strings, which the lock scripts do not answer with. Give the locks a client of their own',
      );
    }
    this.client = client;
    this.#writes = coalesceWrites ? new CoalescedWrites(client) : undefined;
    if (!notifications) return;
    let subscribeOnNode: (channel: string, onMessage: () => void) => Promise<Unsubscribe>;
    if (subscriber !== undefined || client.isCluster === true) {
      const registry = subscriptionRegistryOf(subscriber ?? client);
      subscribeOnNode = (channel, onMessage) => registry.subscribe(channel, onMessage);
    } else {
      const owned = ownedSubscriberOf(client as DuplicableClient).lease();
      this.#ownedSubscriber = owned;
      subscribeOnNode = (channel, onMessage) => owned.subscribe(channel, onMessage);
    }
    this.subscribe = (channel, onMessage) => {
      if (this.#isClosed) {
        return Promise.reject(new Error(`Cannot subscribe to "${channel}": this IoredisAdapter was closed`));
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
   * Whether `client` has no connection to its node now, and why: `undefined` while connected, and on a
   * `Cluster`; for a `Redis` that is not `ready`, the error a connection attempt failed with since it was
   * last ready (say `connect ECONNREFUSED 127.0.0.1:6379`), else `error` (what a call rejected with, say
   * `Connection is closed.`), else an error naming the client's state. The core counts a node whose calls
   * fail for want of a connection as down until the client connects again (see
   * `RedisAdapter.connectionError`).
   */
  connectionError(error?: unknown): unknown {
    const { client } = this;
    if (client.isCluster || client.status === 'ready') {
      this.#socketError = undefined;
      return undefined;
    }
    // The socket of the latest connection attempt: Node keeps the error it was destroyed with.
    const socketError: unknown = (client.stream as { readonly errored?: unknown } | undefined)?.errored;
    if (socketError != null) this.#socketError = socketError;
    return this.#socketError ?? error ?? new Error(`the client is not connected (ioredis status \`${client.status}\`)`);
  }

  /** Sends `EVALSHA sha1 numkeys ...keys ...args`; a script the node has not cached rejects with its `NOSCRIPT` error. */
  evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    // Not `async`, which would wrap the client's promise in another one on every call; the seam still
    // requires a rejection, never a synchronous throw.
    try {
      this.#writes?.hold();
      return this.client.evalsha(sha1, keys.length, ...keys, ...args);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends `EVAL source numkeys ...keys ...args`. */
  async eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    this.#writes?.hold();
    return this.client.eval(source, keys.length, ...keys, ...args);
  }

  /** Sends `SET key value NX PX ttlMs`: `'OK'` when it set the key, `null` when the key exists. */
  trySet(key: string, value: string, ttlMs: number): Promise<unknown> {
    // Not `async`, as `evalsha`: it takes most locks.
    try {
      this.#writes?.hold();
      return this.client.set(key, value, 'PX', ttlMs, 'NX');
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends `SET key value NX PX ttlMs GET`: `null` when it set the key, else the value the key holds,
   * unchanged. The core uses {@link IoredisAdapter.trySet} instead (a core before it used this).
   */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<unknown> {
    try {
      this.#writes?.hold();
      return this.client.set(key, value, 'PX', ttlMs, 'NX', 'GET');
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** Whether `value` has the members of a client that can subscribe. */
function isSubscriberClient(value: unknown): value is SubscriberClient {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ['subscribe', 'unsubscribe', 'on', 'off'].every((method) => typeof candidate[method] === 'function');
}

/** A value as an error message shows it: primitives as themselves, objects by their class. */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  return `[object ${(value.constructor as { name?: string } | undefined)?.name ?? 'Object'}]`;
}

/** The names of {@link IoredisAdapterOptions}. */
const OPTION_NAMES: readonly string[] = ['notifications', 'subscriber', 'coalesceWrites'] satisfies (keyof IoredisAdapterOptions)[];

/** The constructor's options, checked, with their defaults. */
function validatedOptions(
  client: IoredisClient,
  options: IoredisAdapterOptions,
): { readonly notifications: boolean; readonly subscriber: SubscriberClient | undefined; readonly coalesceWrites: boolean } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got \`${shown(options)}\``);
  }
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.includes(name)) {
      throw new TypeError(`Unknown option \`${name}\` in the options of IoredisAdapter: it takes ${OPTION_NAMES.map((known) => `\`${known}\``).join(', ')}`);
    }
  }
  const { notifications = true, subscriber, coalesceWrites = true } = options;
  if (typeof notifications !== 'boolean') {
    throw new TypeError(`Expected \`notifications\` to be a boolean, got \`${shown(notifications)}\``);
  }
  if (typeof coalesceWrites !== 'boolean') {
    throw new TypeError(`Expected \`coalesceWrites\` to be a boolean, got \`${shown(coalesceWrites)}\``);
  }
  if (subscriber === undefined) return { notifications, subscriber, coalesceWrites };
  if (!isSubscriberClient(subscriber)) {
    throw new TypeError(`Expected \`subscriber\` to be an ioredis or iovalkey client, got \`${shown(subscriber)}\``);
  }
  if (!notifications) {
    throw new TypeError('Expected either `subscriber` or `notifications: false`, got both: a subscriber serves only notifications');
  }
  if (subscriber === client) {
    throw new TypeError(
      client.isCluster === true
        ? 'Expected `subscriber` to be a client of its own, got `client` itself: a Cluster subscribes by itself, leave `subscriber` out'
        : 'Expected `subscriber` to be a client of its own, e.g. `client.duplicate()`, got `client` itself',
    );
  }
  return { notifications, subscriber, coalesceWrites };
}
