import type { Unsubscribe } from 'redlock-core';
import type { SubscriberClient } from './ioredis-client.js';

/** A client in subscriber mode: the connection that carries release notifications. */
type Subscriber = SubscriberClient;

/** One registry per subscriber connection, however many adapters (and `Redlock`s) share it. */
const REGISTRIES = new WeakMap<Subscriber, SubscriptionRegistry>();

/** The registry of `subscriber`'s channels, created on first use and shared by every adapter using it. */
export function subscriptionRegistryOf(subscriber: Subscriber): SubscriptionRegistry {
  let registry = REGISTRIES.get(subscriber);
  if (registry === undefined) {
    registry = new SubscriptionRegistry(subscriber);
    REGISTRIES.set(subscriber, registry);
  }
  return registry;
}

/** The listeners of one channel and what the connection was last told about it. */
interface Channel {
  readonly listeners: Set<() => void>;
  /** True once SUBSCRIBE succeeded, false from the moment UNSUBSCRIBE is sent. */
  isSubscribed: boolean;
  /** The last SUBSCRIBE or UNSUBSCRIBE step queued, never rejecting: each step waits for the one before. */
  queue: Promise<void>;
  pendingSteps: number;
}

/**
 * The channels of one subscriber connection, reference-counted across every adapter that uses it.
 *
 * A connection's subscriptions are per channel, not per caller: one UNSUBSCRIBE ends the channel for every
 * listener on that connection. So the listeners of all adapters live here, the connection is subscribed
 * while any of them listens (SUBSCRIBE at the first, UNSUBSCRIBE after the last), and one `'message'`
 * listener per connection, added while any channel is in use, dispatches to them.
 *
 * The steps of one channel run one after the other, each bringing the connection in line with the
 * listeners at the moment it runs: a listener that arrives while UNSUBSCRIBE is in flight gets a new
 * SUBSCRIBE after it, one that arrives while SUBSCRIBE is in flight waits for its reply, and a listener
 * whose SUBSCRIBE failed is removed, so the next listener sends SUBSCRIBE again.
 */
export class SubscriptionRegistry {
  readonly #subscriber: Subscriber;
  readonly #channels = new Map<string, Channel>();
  readonly #onMessage = (channelName: string): void => {
    const channel = this.#channels.get(channelName);
    if (channel === undefined) return;
    for (const listener of [...channel.listeners]) listener();
  };

  constructor(subscriber: Subscriber) {
    this.#subscriber = subscriber;
  }

  /**
   * Calls `onMessage` for every message published on `channelName`; resolves once the connection is
   * subscribed, with the function that removes this listener, or rejects with the error of SUBSCRIBE.
   */
  async subscribe(channelName: string, onMessage: () => void): Promise<Unsubscribe> {
    const channel = this.#channelNamed(channelName);
    // Wrapped, so the same callback subscribed twice is still two listeners.
    const listener = (): void => onMessage();
    channel.listeners.add(listener);
    try {
      await this.#sync(channelName, channel);
    } catch (error) {
      channel.listeners.delete(listener);
      this.#forgetIfIdle(channelName, channel);
      throw error;
    }
    let isListening = true;
    return async () => {
      if (!isListening) return;
      isListening = false;
      channel.listeners.delete(listener);
      if (channel.listeners.size === 0) await this.#sync(channelName, channel);
    };
  }

  #channelNamed(channelName: string): Channel {
    let channel = this.#channels.get(channelName);
    if (channel === undefined) {
      if (this.#channels.size === 0) this.#subscriber.on('message', this.#onMessage);
      channel = { listeners: new Set(), isSubscribed: false, queue: Promise.resolve(), pendingSteps: 0 };
      this.#channels.set(channelName, channel);
    }
    return channel;
  }

  /** Queues a step that subscribes or unsubscribes the connection as the listeners need when it runs. */
  #sync(channelName: string, channel: Channel): Promise<void> {
    channel.pendingSteps += 1;
    const step = channel.queue
      .then(async () => {
        if (channel.listeners.size > 0 && !channel.isSubscribed) {
          await this.#subscriber.subscribe(channelName);
          channel.isSubscribed = true;
        } else if (channel.listeners.size === 0 && channel.isSubscribed) {
          // Not subscribed from now on, even if UNSUBSCRIBE fails: a later SUBSCRIBE is harmless, and
          // messages for a channel nobody listens to are dropped.
          channel.isSubscribed = false;
          const unsubscribing = this.#subscriber.unsubscribe(channelName);
          // A connection that is not ready (its node is down, it reconnects) holds the UNSUBSCRIBE until it
          // is, which may be never: nobody waits for that (`redlock.close()` would wait out its bound). It
          // still goes out once the connection is back, or is dropped with the connection.
          const { status } = this.#subscriber;
          if (status !== undefined && status !== 'ready') unsubscribing.catch(() => undefined);
          else await unsubscribing;
        }
      })
      .finally(() => {
        channel.pendingSteps -= 1;
        this.#forgetIfIdle(channelName, channel);
      });
    // A failed step must not block the next one; its own caller sees the failure.
    channel.queue = step.catch(() => undefined);
    return step;
  }

  /** Drops a channel nobody listens to, and the `'message'` listener with the last channel. */
  #forgetIfIdle(channelName: string, channel: Channel): void {
    if (channel.listeners.size > 0 || channel.isSubscribed || channel.pendingSteps > 0) return;
    if (this.#channels.get(channelName) !== channel) return;
    this.#channels.delete(channelName);
    if (this.#channels.size === 0) this.#subscriber.off('message', this.#onMessage);
  }
}
