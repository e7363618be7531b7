import { GLIDE_PATTERN_MODE } from './glide-client.js';

/**
 * The start of every wake channel, as the core builds it (`WAKE_CHANNEL_PREFIX` in redlock-core's
 * `scripts/wake-queue.ts`): a release wakes the next waiting process on this prefix followed by that
 * process's queue member. The core does not export it, so it is repeated here; a unit test compares the two.
 */
export const WAKE_CHANNEL_PREFIX = 'redlock:wake:';

/** A message GLIDE hands to the pub/sub callback; only the channel is read (the wake is the message). */
export interface GlidePubSubMessage {
  /** The channel the message was published on: a string, or a Buffer with the `Bytes` decoder. */
  readonly channel: string | Uint8Array;
  /** The pattern it came through, for a pattern subscription; `null` or absent for a channel's own. */
  readonly pattern?: string | Uint8Array | null;
}

/**
 * The pub/sub part of a GLIDE client's configuration (`pubsubSubscriptions`), as
 * {@link GlideReleaseNotifications} builds it: one pattern subscription, made when the client connects
 * and again after every reconnection, and the callback that hands each message to the adapter.
 */
export interface GlidePubSubSubscriptions {
  /** One pattern, under GLIDE's `PubSubChannelModes.Pattern` (1) for standalone and cluster clients alike. */
  readonly channelsAndPatterns: {
    /** The one pattern, `redlock:wake:*`. */
    readonly [GLIDE_PATTERN_MODE]: Set<string>;
  };
  /** Called by GLIDE for every message on the pattern. */
  readonly callback: (message: GlidePubSubMessage) => void;
}

/** Options of {@link GlideReleaseNotifications}. */
export interface GlideReleaseNotificationsOptions {
  /**
   * Ignored: accepted (as a string) so that code written for earlier versions still runs. It narrowed the
   * pattern to the release channels of one `Redlock` key prefix; a wake channel names a waiting process,
   * not a key, so there is nothing left to narrow.
   * @deprecated Leave it out: the client subscribes to `redlock:wake:*` whatever it is.
   * @defaultValue `''`
   */
  readonly keyPrefix?: string;
}

/**
 * The listeners of one client's wake channels; messages from GLIDE's callback are dispatched here, each to
 * the listeners of its own channel only (the pattern brings the client every wake on the node).
 */
export class ChannelListeners {
  readonly #listeners = new Map<string, Set<() => void>>();
  /**
   * Whether the client subscribes to each channel itself (GLIDE 2.3 and later; see `GlideAdapter`): then a
   * message that came through the pattern, while it was still subscribed to it, is not dispatched twice.
   */
  bySubscribedChannel = false;

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

  /** Whether a listener is left on `channel`. */
  has(channel: string): boolean {
    return this.#listeners.has(channel);
  }

  /** Calls the listeners of `channel`, for a message that came through the pattern if `isByPattern`. */
  dispatch(channel: string, isByPattern = false): void {
    if (isByPattern && this.bySubscribedChannel) return;
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
 * {@link GlideAdapter} of that client. The client then holds one pattern subscription to the wake
 * channels (`redlock:wake:*`) on the connection it already has (RESP3 lets one connection carry commands
 * and messages), and the adapter hands each wake to the waiters of its channel, dropping the others.
 *
 * A wake channel names one waiting process (`redlock:wake:<its queue member>`), which GLIDE cannot know
 * when the client is created, hence the pattern. A GLIDE 2.3 client can subscribe later: its adapter drops
 * the pattern at the first subscription and subscribes to each waiting process's own channel instead, so
 * the node knows whether that process still waits, and the client receives only its own wakes. Before 2.3
 * the client keeps the pattern, receives every wake on its node, and the node cannot tell whether a process
 * it wakes through the pattern still waits: that member gets the wake but leaves the node's queue, and
 * queues again at its place where it is refused next (see `GlideAdapter.subscribesByPattern`).
 *
 * One object per client: the adapter refuses an object already given to an adapter of another client.
 *
 * @example
 * ```ts
 * import { GlideClient } from '@valkey/valkey-glide';
 * import { GlideAdapter, GlideReleaseNotifications } from 'redlock-glide-adapter';
 *
 * const notifications = new GlideReleaseNotifications();
 * const client = await GlideClient.createClient({
 *   addresses: [{ host: 'redis-a', port: 6379 }],
 *   requestTimeout: 2_000,
 *   pubsubSubscriptions: notifications.pubsubSubscriptions,
 * });
 * const adapter = new GlideAdapter(client, { notifications });
 * ```
 */
export class GlideReleaseNotifications {
  /** The glob pattern the client subscribes to: `redlock:wake:*`. */
  readonly pattern: string;
  /** The value for the client configuration's `pubsubSubscriptions`: the pattern and the callback. */
  readonly pubsubSubscriptions: GlidePubSubSubscriptions;

  /**
   * @param options - See {@link GlideReleaseNotificationsOptions}; `keyPrefix` is ignored.
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
    this.pattern = `${WAKE_CHANNEL_PREFIX}*`;
    this.pubsubSubscriptions = {
      channelsAndPatterns: { [GLIDE_PATTERN_MODE]: new Set([this.pattern]) },
      callback: (message) => listeners.dispatch(channelNameOf(message.channel), message.pattern !== undefined && message.pattern !== null),
    };
  }

  /** Whether a message published on `channel` reaches the client through {@link GlideReleaseNotifications.pattern}. */
  covers(channel: string): boolean {
    return channel.startsWith(WAKE_CHANNEL_PREFIX);
  }
}

/** `channel` as a string, from a string or the Buffer of the `Bytes` decoder. */
function channelNameOf(channel: string | Uint8Array): string {
  return typeof channel === 'string' ? channel : Buffer.from(channel).toString();
}
