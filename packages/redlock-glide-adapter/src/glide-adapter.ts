import type { RedisAdapter, Unsubscribe } from 'redlock-core';
import { evalCommand, evalshaCommand, setIfAbsentCommand, trySetCommand } from 'redlock-core';
import {
  canSubscribeLater,
  GLIDE_PATTERN_MODE,
  GLIDE_STRING_DECODER,
  type GlideCluster,
  type GlideDynamicSubscriptions,
  type GlideStandalone,
  isGlideCluster,
} from './glide-client.js';
import { type ChannelListeners, channelListenersOf, GlideReleaseNotifications } from './glide-release-notifications.js';

/** Options of a {@link GlideAdapter}. */
export interface GlideAdapterOptions {
  /**
   * The release notifications whose `pubsubSubscriptions` the client was created with (see
   * {@link GlideReleaseNotifications}). With them the adapter has `subscribe`, and waiters in `acquire()`
   * are woken the moment the lock is released instead of at their next retry timer ("prompt hand-off"),
   * but for one limit: a wake sent to a process that has stopped waiting wakes nobody else (see
   * {@link GlideReleaseNotifications}).
   * At the first subscription the adapter checks, with the client's `getSubscriptions()`, that the client
   * really subscribes to their pattern; if not, every subscription rejects with an `Error` that says what
   * to configure, and one process warning (type `RedlockWarning`, code `REDLOCK_GLIDE_NOT_SUBSCRIBED`) is
   * emitted, while the lock itself keeps working on retry timers.
   * @defaultValue none: no `subscribe` capability; waiters retry on their timers only
   */
  readonly notifications?: GlideReleaseNotifications;
}

/** Which adapter's client each notifications object serves: one object per client. */
const CLIENT_OF_NOTIFICATIONS = new WeakMap<GlideReleaseNotifications, object>();

/** The names of {@link GlideAdapterOptions}. */
const OPTION_NAMES: readonly string[] = ['notifications'] satisfies (keyof GlideAdapterOptions)[];

/**
 * Connects one Redlock node to a Valkey GLIDE client (`@valkey/valkey-glide` 2): a standalone
 * `GlideClient`, or a `GlideClusterClient`, where each call goes to the primary of its first key's slot
 * (so all keys of one lock must share a hash tag, e.g. `{orders}:42:items` and `{orders}:42:payment`, or
 * the node replies `CROSSSLOT`). Works with Valkey and Redis servers.
 *
 * It sends EVALSHA, EVAL and the SETs of the usual lock as raw commands (`customCommand`, replies decoded
 * as strings whatever the client's `defaultDecoder`) and adds nothing: no retries, timeouts or script caching; replies and errors
 * pass through unchanged. GLIDE rewrites server errors (`NOSCRIPT …` arrives as `An error was signalled by
 * the server: - NoScriptError: …`), which the core recognises, so it still falls back to EVAL. The adapter
 * never closes or reconfigures the client: it is yours, to create and to `close()`.
 *
 * **Set `requestTimeout`.** GLIDE fails any command that takes longer than its `requestTimeout`, 250 ms by
 * default; the core bounds each node call itself (`nodeTimeoutMs`, adaptive, up to 1 s for a 10 s TTL and
 * more for a lock of many keys), so give GLIDE more than that, e.g. `requestTimeout: 2_000`, and let the
 * core decide when a node is too slow.
 *
 * **Release notifications** need the client to be created with them (GLIDE fixes subscriptions at
 * creation, over RESP3): see {@link GlideReleaseNotifications}. Without them waiters retry on their timers.
 *
 * @example
 * ```ts
 * import { GlideClient } from '@valkey/valkey-glide';
 * import { Redlock } from 'redlock-core';
 * import { GlideAdapter, GlideReleaseNotifications } from 'redlock-glide-adapter';
 *
 * // Three independent masters, each behind its own client with its own release notifications.
 * const nodes = await Promise.all(
 *   ['redis-a', 'redis-b', 'redis-c'].map(async (host) => {
 *     const notifications = new GlideReleaseNotifications();
 *     const client = await GlideClient.createClient({
 *       addresses: [{ host, port: 6379 }],
 *       requestTimeout: 2_000,
 *       pubsubSubscriptions: notifications.pubsubSubscriptions,
 *     });
 *     return { client, adapter: new GlideAdapter(client, { notifications }) };
 *   }),
 * );
 * const redlock = new Redlock(nodes.map(({ adapter }) => adapter));
 * await redlock.using('orders:42', 10_000, async (signal) => chargeOrder(42, { signal }));
 *
 * // At shutdown: the Redlock, then your clients.
 * await redlock.close();
 * for (const { client } of nodes) client.close();
 * ```
 */
export class GlideAdapter implements RedisAdapter {
  /**
   * Subscribes to a wake channel; present only with `notifications`, which is how the core knows that
   * this node can notify waiters. It adds a listener of its own, called for messages on exactly `channel`:
   * the same callback subscribed twice is two listeners, each removed by its own unsubscribe. A GLIDE 2.3
   * client subscribes to the channel at its first listener (resolving once the node confirmed, within 5 s)
   * and unsubscribes after its last; before 2.3 the client's pattern hears it. Rejects when the channel is
   * outside the pattern (not a wake channel), or when the client was not created with the notifications'
   * `pubsubSubscriptions`.
   */
  declare readonly subscribe?: (channel: string, onMessage: () => void) => Promise<Unsubscribe>;
  /**
   * With `notifications`: `false` over a GLIDE 2.3 client, which subscribes to each wake channel itself;
   * `true` before 2.3, where the client hears wakes through the pattern `redlock:wake:*`, so the nodes wake
   * each waiting process of its `Redlock` once and take it off the queue (see {@link GlideReleaseNotifications}).
   */
  declare readonly subscribesByPattern?: boolean;
  /**
   * The client given to the constructor, as given. The `Redlock` constructor compares it by identity to
   * refuse one client in two adapters, which would count one server as two nodes.
   */
  readonly client: GlideStandalone | GlideCluster;
  readonly #send: (args: string[], firstKey: string | undefined) => Promise<unknown>;

  /**
   * @param client - A connected `GlideClient` or `GlideClusterClient`; the adapter never closes it.
   * @param options - See {@link GlideAdapterOptions}.
   * @throws `TypeError` if `client` has no `customCommand` method, `options` is not an object or has an
   *   unknown option, or `notifications` is not a {@link GlideReleaseNotifications} or was given to an
   *   adapter of another client.
   */
  constructor(client: GlideStandalone | GlideCluster, options: GlideAdapterOptions = {}) {
    if (typeof (client as { customCommand?: unknown } | null)?.customCommand !== 'function') {
      throw new TypeError(`Expected \`client\` to be a GlideClient or GlideClusterClient (with customCommand), got ${shown(client)}`);
    }
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object, got ${shown(options)}`);
    }
    for (const name of Object.keys(options)) {
      if (!OPTION_NAMES.includes(name)) {
        throw new TypeError(`Unknown option \`${name}\` in the options of GlideAdapter: it takes ${OPTION_NAMES.map((known) => `\`${known}\``).join(', ')}`);
      }
    }
    this.client = client;
    this.#send = isGlideCluster(client)
      ? (args, firstKey) =>
          client.customCommand(args, {
            decoder: GLIDE_STRING_DECODER,
            ...(firstKey === undefined ? {} : { route: { type: 'primarySlotKey', key: firstKey } }),
          })
      : (args) => client.customCommand(args, { decoder: GLIDE_STRING_DECODER });
    const { notifications } = options;
    if (notifications === undefined) return;
    if (!(notifications instanceof GlideReleaseNotifications)) {
      throw new TypeError(`Expected \`notifications\` to be a GlideReleaseNotifications, got ${shown(notifications)}`);
    }
    const servedClient = CLIENT_OF_NOTIFICATIONS.get(notifications);
    if (servedClient !== undefined && servedClient !== client) {
      throw new TypeError(
        'Expected `notifications` of this client, got one already given to an adapter of another client: create one GlideReleaseNotifications per client',
      );
    }
    CLIENT_OF_NOTIFICATIONS.set(notifications, client);
    const listeners = channelListenersOf(notifications);
    // Shared by every adapter of the client, as the client's subscriptions are.
    let state = STATE_OF_NOTIFICATIONS.get(notifications);
    if (state === undefined) {
      // GLIDE 2.3 and later subscribe to each wake channel itself; before, the pattern hears them all.
      state = { problem: undefined, channels: canSubscribeLater(client) ? new SubscribedChannels(client, listeners, notifications.pattern) : undefined };
      STATE_OF_NOTIFICATIONS.set(notifications, state);
    }
    const shared = state;
    const { channels } = shared;
    this.subscribesByPattern = channels === undefined;
    this.subscribe = async (channel, onMessage) => {
      if (!notifications.covers(channel)) {
        throw new Error(`Cannot subscribe to "${channel}": the client's release notifications cover ${notifications.pattern} only`);
      }
      // Cached once the client answered (before `channels` drops the pattern); a failed read (say the node
      // is down) is read again next time.
      shared.problem ??= subscriptionProblemOf(client, notifications.pattern).then(
        (found) => {
          if (found !== undefined) process.emitWarning(found, { type: 'RedlockWarning', code: 'REDLOCK_GLIDE_NOT_SUBSCRIBED' });
          return found;
        },
        (error: unknown) => {
          shared.problem = undefined;
          throw error;
        },
      );
      const found = await shared.problem;
      if (found !== undefined) throw new Error(found);
      if (channels !== undefined) return channels.add(channel, onMessage);
      // A listener of its own, so the same callback subscribed twice is two listeners.
      const remove = listeners.add(channel, () => onMessage());
      let isListening = true;
      return async () => {
        if (!isListening) return;
        isListening = false;
        remove();
      };
    };
  }

  /** Sends `EVALSHA sha1 numkeys ...keys ...args`; a script the node has not cached rejects with GLIDE's `NoScriptError`. */
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
   * unchanged. The core uses {@link GlideAdapter.trySet} instead (a core before it used this).
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

/** What every adapter of one client shares of its notifications: the check of its configuration, and its channels. */
interface NotificationsState {
  problem: Promise<string | undefined> | undefined;
  readonly channels: SubscribedChannels | undefined;
}

const STATE_OF_NOTIFICATIONS = new WeakMap<GlideReleaseNotifications, NotificationsState>();

/** How long a SUBSCRIBE, an UNSUBSCRIBE or the pattern's PUNSUBSCRIBE may wait for the node to confirm, in milliseconds. */
const SUBSCRIPTION_TIMEOUT_MS = 5_000;

/**
 * The wake channels a GLIDE 2.3 client subscribes to itself, each while it has a listener, so that the node
 * knows (`PUBSUB NUMSUB`) whether a waiting process still listens, and the client receives only its own
 * wakes. The pattern of its configuration is dropped at the first subscription: its messages would reach
 * the client for every process waiting on the node. A channel's SUBSCRIBE and UNSUBSCRIBE go in order.
 */
class SubscribedChannels {
  /** By channel: its latest SUBSCRIBE or UNSUBSCRIBE, settled or not. */
  readonly #steps = new Map<string, Promise<void>>();
  #isPatternDropped = false;

  constructor(
    private readonly client: Required<GlideDynamicSubscriptions>,
    private readonly listeners: ChannelListeners,
    private readonly pattern: string,
  ) {
    listeners.bySubscribedChannel = true;
  }

  /** Adds `onMessage` on `channel`, subscribing the client to it if it is the first; resolves with what removes it. */
  async add(channel: string, onMessage: () => void): Promise<Unsubscribe> {
    if (!this.#isPatternDropped) {
      this.#isPatternDropped = true;
      // Not waited for: a pattern message that still comes is not dispatched (see `bySubscribedChannel`).
      this.client.punsubscribe([this.pattern], SUBSCRIPTION_TIMEOUT_MS).catch(() => undefined);
    }
    const isFirst = !this.listeners.has(channel);
    // A listener of its own, so the same callback subscribed twice is two listeners.
    const remove = this.listeners.add(channel, () => onMessage());
    // The first listener subscribes; a later one waits for that SUBSCRIBE if it is still in flight.
    const subscribed = isFirst ? this.#step(channel, () => this.client.subscribe([channel], SUBSCRIPTION_TIMEOUT_MS)) : this.#steps.get(channel);
    try {
      await subscribed;
    } catch (error) {
      remove();
      // GLIDE keeps a SUBSCRIBE that timed out as wanted, and makes it later: a channel nobody listens on
      // would tell the node that this process still waits.
      this.#leaveIfUnheard(channel).catch(() => undefined);
      throw error;
    }
    let isListening = true;
    return async () => {
      if (!isListening) return;
      isListening = false;
      remove();
      await this.#leaveIfUnheard(channel);
    };
  }

  /** Unsubscribes the client from `channel` once no listener is left on it. */
  async #leaveIfUnheard(channel: string): Promise<void> {
    if (!this.listeners.has(channel)) await this.#step(channel, () => this.client.unsubscribe([channel], SUBSCRIPTION_TIMEOUT_MS));
  }

  /** Runs `command` on `channel` once its step before settled. */
  #step(channel: string, command: () => Promise<void>): Promise<void> {
    const step = (this.#steps.get(channel) ?? Promise.resolve()).catch(() => undefined).then(command);
    this.#steps.set(channel, step);
    void step.finally(() => {
      if (this.#steps.get(channel) === step) this.#steps.delete(channel);
    }).catch(() => undefined);
    return step;
  }
}

/**
 * Resolves with `undefined` if `client` subscribes to `pattern` (read with `getSubscriptions()`, where
 * GLIDE has it; assumed where it has not), else with the message saying what to configure.
 */
async function subscriptionProblemOf(client: GlideStandalone | GlideCluster, pattern: string): Promise<string | undefined> {
  if (typeof client.getSubscriptions !== 'function') return undefined;
  const state: unknown = await client.getSubscriptions();
  const desired = (state as { desiredSubscriptions?: Record<number, Iterable<unknown> | undefined> } | null)?.desiredSubscriptions;
  const patterns = [...(desired?.[GLIDE_PATTERN_MODE] ?? [])].map((each) => (typeof each === 'string' ? each : String(each)));
  if (patterns.includes(pattern)) return undefined;
  return (
    `Cannot subscribe to release notifications: the GLIDE client does not subscribe to ${pattern}; create it with ` +
    '`pubsubSubscriptions: notifications.pubsubSubscriptions` (and RESP3, GLIDE\'s default), or leave `notifications` out; ' +
    'waiters on this node retry on their timers until then'
  );
}

/** A value as an error message shows it: primitives as themselves, objects by their class. */
function shown(value: unknown): string {
  if (typeof value === 'string') return `\`${JSON.stringify(value)}\``;
  if (typeof value !== 'object' || value === null) return `\`${String(value)}\``;
  return `\`[object ${(value.constructor as { name?: string } | undefined)?.name ?? 'Object'}]\``;
}
