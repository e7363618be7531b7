import { GLIDE_PATTERN_MODE } from './glide-client.js';

/**
 * The start of every release channel, as the core builds it (`releaseChannelOf` in redlock-core's
 * `scripts/release.ts`): the release script publishes on this prefix followed by the key. The core does
 * not export it, so it is repeated here; an integration test checks a real release arrives on it.
 */
export const RELEASE_CHANNEL_PREFIX = 'redlock:released:';

/** A message GLIDE hands to the pub/sub callback; only the channel is read (the release is the message). */
export interface GlidePubSubMessage {
  /** The channel the message was published on: a string, or a Buffer with the `Bytes` decoder. */
  readonly channel: string | Uint8Array;
}

/**
 * The pub/sub part of a GLIDE client's configuration (`pubsubSubscriptions`), as
 * {@link GlideReleaseNotifications} builds it: one pattern subscription, made when the client connects
 * and again after every reconnection, and the callback that hands each message to the adapter.
 */
export interface GlidePubSubSubscriptions {
  /** One pattern, under GLIDE's `PubSubChannelModes.Pattern` (1) for standalone and cluster clients alike. */
  readonly channelsAndPatterns: {
    /** The one pattern, e.g. `redlock:released:*`. */
    readonly [GLIDE_PATTERN_MODE]: Set<string>;
  };
  /** Called by GLIDE for every message on the pattern. */
  readonly callback: (message: GlidePubSubMessage) => void;
}

/** Options of {@link GlideReleaseNotifications}. */
export interface GlideReleaseNotificationsOptions {
  /**
   * The `keyPrefix` of the `Redlock`s that use the client, so that the client hears only their releases
   * (`redlock:released:<keyPrefix>*`) instead of every Redlock's on the node. Any string; glob characters
   * in it are escaped.
   * @defaultValue `''`: every release channel, `redlock:released:*`
   */
  readonly keyPrefix?: string;
}

/** The listeners of one client's release channels; messages from GLIDE's callback are dispatched here. */
export class ChannelListeners {
  readonly #listeners = new Map<string, Set<() => void>>();

  /** Calls `listener` for every message on `channel`; returns the function that stops it. */
  add(channel: string, listener: () => void): () => void {
    let listeners = this.#listeners.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#listeners.set(channel, listeners);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.#listeners.get(channel) === listeners) this.#listeners.delete(channel);
    };
  }

  /** Calls the listeners of `channel`. */
  dispatch(channel: string): void {
    const listeners = this.#listeners.get(channel);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) listener();
  }
}

/** The listeners behind each notifications object; kept out of its public members. */
const LISTENERS = new WeakMap<GlideReleaseNotifications, ChannelListeners>();

/** The listeners that `notifications`' callback dispatches to. */
export function channelListenersOf(notifications: GlideReleaseNotifications): ChannelListeners {
  return LISTENERS.get(notifications) as ChannelListeners;
}

/**
 * Release notifications for one GLIDE client. GLIDE fixes a client's subscriptions and its message
 * callback when the client is created, and delivers pub/sub messages only over RESP3 (its default), so the
 * adapter cannot subscribe later as other adapters do: create this first, put its
 * {@link GlideReleaseNotifications.pubsubSubscriptions} in the client's configuration, and give it to the
 * {@link GlideAdapter} of that client. The client then holds one pattern subscription to the release
 * channels (`redlock:released:<keyPrefix>*`) on the connection it already has (RESP3 lets one connection
 * carry commands and messages), and the adapter hands each release to the waiters of that channel.
 *
 * One object per client: the adapter refuses an object already given to an adapter of another client.
 *
 * @example
 * ```ts
 * import { GlideClient } from '@valkey/valkey-glide';
 * import { GlideAdapter, GlideReleaseNotifications } from 'redlock-glide-adapter';
 *
 * const notifications = new GlideReleaseNotifications({ keyPrefix: 'lock:' });
 * const client = await GlideClient.createClient({
 *   addresses: [{ host: 'redis-a', port: 6379 }],
 *   requestTimeout: 2_000,
 *   pubsubSubscriptions: notifications.pubsubSubscriptions,
 * });
 * const adapter = new GlideAdapter(client, { notifications });
 * ```
 */
export class GlideReleaseNotifications {
  /** The glob pattern the client subscribes to, e.g. `redlock:released:lock:*`. */
  readonly pattern: string;
  /** The value for the client configuration's `pubsubSubscriptions`: the pattern and the callback. */
  readonly pubsubSubscriptions: GlidePubSubSubscriptions;

  /**
   * @param options - See {@link GlideReleaseNotificationsOptions}.
   * @throws `TypeError` if `options` is not an object, has an unknown option, or `keyPrefix` is not a string.
   */
  constructor(options: GlideReleaseNotificationsOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object, got \`${String(options)}\``);
    }
    for (const name of Object.keys(options)) {
      if (name !== 'keyPrefix') throw new TypeError(`Unknown option \`${name}\` in the options of GlideReleaseNotifications: it takes \`keyPrefix\``);
    }
    const { keyPrefix = '' } = options;
    if (typeof keyPrefix !== 'string') {
      throw new TypeError(`Expected \`keyPrefix\` to be a string, got \`${String(keyPrefix)}\``);
    }
    const listeners = new ChannelListeners();
    LISTENERS.set(this, listeners);
    this.pattern = `${RELEASE_CHANNEL_PREFIX}${escapeGlob(keyPrefix)}*`;
    this.pubsubSubscriptions = {
      channelsAndPatterns: { [GLIDE_PATTERN_MODE]: new Set([this.pattern]) },
      callback: (message) => listeners.dispatch(channelNameOf(message.channel)),
    };
  }

  /** Whether a message published on `channel` reaches the client through {@link GlideReleaseNotifications.pattern}. */
  covers(channel: string): boolean {
    return globMatches(this.pattern, channel);
  }
}

/** `channel` as a string, from a string or the Buffer of the `Bytes` decoder. */
function channelNameOf(channel: string | Uint8Array): string {
  return typeof channel === 'string' ? channel : Buffer.from(channel).toString();
}

/** `text` with Redis glob characters (`*`, `?`, `[`, `]`, `\`) escaped, so it matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Whether `text` matches `pattern`, a literal text with escapes followed by one `*`, as this file builds it. */
function globMatches(pattern: string, text: string): boolean {
  const literal = pattern.slice(0, -1).replace(/\\(.)/g, '$1');
  return text.startsWith(literal);
}
