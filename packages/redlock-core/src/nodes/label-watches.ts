// Who watches the labels of locks (`redlock.watchLabel()`): each watched resource key's label channel, which
// the extend script publishes to when it writes or clears a label (scripts/label.ts).
import type { RedisAdapter, Unsubscribe } from '../base/adapter.js';
import { warnOnce } from '../base/warnings.js';
import { LABEL_CHANNEL_PREFIX } from '../scripts/label.js';
import { resolveResources } from '../settings/resolve-resources.js';

/** One watched channel: its listeners, and by node what ends its subscription (`undefined` where none), once subscribed. */
interface Channel {
  readonly listeners: Set<() => void>;
  readonly subscriptions: Promise<Unsubscribe | undefined>[];
  /** By node, whether its SUBSCRIBE is still in flight (waiting for a connection to a node that may be down). */
  readonly isSubscribing: boolean[];
  /** By node, the end of its subscription, once the channel is let go of (see {@link endOf}). */
  endings?: Promise<void>[];
}

/** The label watches of one `Redlock`: a channel is subscribed on every node that can while anyone watches it. */
export class LabelWatches {
  readonly #channels = new Map<string, Channel>();
  /** By channel name: the channel being let go of, whose end a new subscription waits for (one subscription per channel at a time). */
  readonly #ending = new Map<string, Channel>();
  #isClosed = false;

  constructor(
    private readonly adapters: readonly RedisAdapter[],
    private readonly keyPrefix: string,
  ) {}

  /**
   * Calls `listener` each time a node announces a change of `resource`'s label, until the returned function
   * is called. Subscribes in the background; a node that cannot subscribe (no `subscribe`, refused, down) is
   * left out, so a change may go unannounced: the announcement is a hint to read the label again, never
   * the label itself. Once closed, it watches nothing.
   * @throws `TypeError` or `RangeError` for a bad resource or listener.
   */
  watch(resource: string, listener: () => void): () => void {
    const key = resolveResources(resource, this.keyPrefix).keys[0] as string;
    if (typeof listener !== 'function') throw new TypeError(`Expected \`listener\` to be a function, got \`${typeof listener}\``);
    const name = LABEL_CHANNEL_PREFIX + key;
    if (this.#isClosed) return () => undefined;
    const channel = this.#channels.get(name) ?? this.#subscribe(name);
    // A listener added twice still stops once.
    const own = (): void => listener();
    channel.listeners.add(own);
    return () => {
      if (!channel.listeners.delete(own) || channel.listeners.size > 0 || this.#channels.get(name) !== channel) return;
      this.#channels.delete(name);
      this.#ending.set(name, channel);
      void endOf(channel, false).then(() => {
        if (this.#ending.get(name) === channel) this.#ending.delete(name);
      });
    };
  }

  /**
   * Ends every subscription, and subscribes no more (`redlock.close()`); never rejects. A SUBSCRIBE in flight
   * is not waited for: it is ended once it is in place (or by the adapter's `close()`).
   */
  close(): Promise<void> {
    this.#isClosed = true;
    const endings = [...this.#channels.values(), ...this.#ending.values()].map((channel) => endOf(channel, true));
    this.#channels.clear();
    return Promise.all(endings).then(() => undefined);
  }

  #subscribe(name: string): Channel {
    const listeners = new Set<() => void>();
    const announce = (): void => {
      for (const listener of [...listeners]) listener();
    };
    const previous = this.#ending.get(name);
    const ending = previous === undefined ? Promise.resolve() : endOf(previous, false);
    const isSubscribing = this.adapters.map(() => true);
    const subscriptions = this.adapters.map((adapter, nodeIndex) =>
      ending
        .then(() => (typeof adapter.subscribe !== 'function' || this.#isClosed ? undefined : adapter.subscribe(name, announce)))
        .catch((error: unknown) => {
          if (error instanceof Error && error.message.startsWith('NOPERM')) {
            warnOnce(
              adapter,
              'REDLOCK_NO_LABEL_CHANNEL_PERMISSION',
              `Node ${nodeIndex} refused to subscribe to a label channel (${error.message}): label watchers there see changes on their own timers only. Give the Redis user the channels \`&redlock:label:*\``,
            );
          }
          return undefined;
        })
        .finally(() => (isSubscribing[nodeIndex] = false)),
    );
    const channel = { listeners, subscriptions, isSubscribing };
    this.#channels.set(name, channel);
    return channel;
  }
}

/**
 * Unsubscribes `channel` on every node where it subscribes (once, whoever asks again), and resolves once it
 * did; never rejects. With `isClosing`, resolves without the nodes whose SUBSCRIBE is still in flight, which
 * are unsubscribed once it is in place.
 */
function endOf(channel: Channel, isClosing: boolean): Promise<void> {
  channel.endings ??= channel.subscriptions.map((subscribed) => subscribed.then((unsubscribe) => unsubscribe?.()).catch(() => undefined));
  const awaited = channel.endings.filter((_, nodeIndex) => !(isClosing && channel.isSubscribing[nodeIndex] === true));
  return Promise.all(awaited).then(() => undefined);
}
