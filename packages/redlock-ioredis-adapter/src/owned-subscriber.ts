import type { Unsubscribe } from 'redlock-core';
import type { DuplicableClient, OwnedConnection, SubscriberOverrides } from './ioredis-client.js';
import { SubscriptionRegistry } from './subscription-registry.js';

/**
 * How long the adapter's own subscriber connection stays open with no subscription, in milliseconds. The
 * core already keeps each channel for `SUBSCRIPTION_LINGER_MS` (1 s) after its last waiter; this keeps the
 * connection through the gaps between bursts of contention, and closes it when locks stop being contended.
 */
export const OWNED_SUBSCRIBER_IDLE_MS = 5_000;

/** The name the subscriber connection shows in `CLIENT LIST`, after the client's own name if it has one. */
export const SUBSCRIBER_CONNECTION_NAME = 'redlock-subscriber';

/** The subscriber's options where they differ from the client's; see {@link OwnedSubscriber}. */
function subscriberOverridesOf(client: DuplicableClient): SubscriberOverrides {
  const { connectionName } = client.options as { readonly connectionName?: unknown };
  return {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    autoResubscribe: true,
    lazyConnect: false,
    connectionName: typeof connectionName === 'string' && connectionName !== '' ? `${connectionName}:${SUBSCRIBER_CONNECTION_NAME}` : SUBSCRIBER_CONNECTION_NAME,
  };
}

/** One subscriber connection and the subscriptions made on it. */
interface Connection {
  readonly subscriber: OwnedConnection;
  readonly registry: SubscriptionRegistry;
  /** Subscriptions made and not yet ended, including those whose SUBSCRIBE is in flight. */
  subscriptionCount: number;
  idleTimer: NodeJS.Timeout | undefined;
  isOpen: boolean;
}

/**
 * The subscriber connection an adapter opens for itself over a `Redis` client: `client.duplicate()` with the
 * client's options (host, TLS, password, db, retry strategy…) except:
 *
 * - `maxRetriesPerRequest: null`: ioredis subscribes again after a reconnect, and with a finite limit a
 *   connection that drops during that re-subscription ends in an unhandled rejection;
 * - `enableOfflineQueue: true`: the connection is opened at the first SUBSCRIBE, which must wait for it to
 *   connect rather than fail (the core bounds how long a waiter waits for a subscription, so a SUBSCRIBE
 *   queued for a down node delays no one);
 * - `autoResubscribe: true`, `lazyConnect: false`, and `connectionName` `redlock-subscriber` (after the
 *   client's own name, if it has one), so it shows in `CLIENT LIST`.
 *
 * Opened at the first subscription; closed {@link OWNED_SUBSCRIBER_IDLE_MS} after its last subscription
 * ended, when the client ends (quit, or gave up reconnecting), or by {@link OwnedSubscriber.close}; opened
 * again at the next subscription. Its `'error'` events are ignored (a failure shows as waiters relying on
 * their retry timers); its idle timer never keeps the process alive.
 */
export class OwnedSubscriber {
  readonly #client: DuplicableClient;
  #current: Connection | undefined;
  readonly #onClientEnd = (): void => {
    if (this.#current !== undefined) this.#close(this.#current);
  };

  constructor(client: DuplicableClient) {
    this.#client = client;
  }

  /** Whether a subscriber connection is open now. */
  get isOpen(): boolean {
    return this.#current !== undefined;
  }

  /**
   * Subscribes to `channel` on the subscriber connection, opening it if needed; resolves once subscribed,
   * with the function that ends the subscription, or rejects with the error of SUBSCRIBE.
   */
  async subscribe(channel: string, onMessage: () => void): Promise<Unsubscribe> {
    if (this.#client.status === 'end') {
      throw new Error('Cannot subscribe to release notifications: the client has ended (it was quit, or gave up reconnecting)');
    }
    const connection = this.#current ?? this.#open();
    connection.subscriptionCount += 1;
    clearTimeout(connection.idleTimer);
    connection.idleTimer = undefined;
    let unsubscribe: Unsubscribe;
    try {
      unsubscribe = await connection.registry.subscribe(channel, onMessage);
    } catch (error) {
      this.#release(connection);
      throw error;
    }
    let isSubscribed = true;
    return async () => {
      if (!isSubscribed) return;
      isSubscribed = false;
      // Counted as ended before UNSUBSCRIBE is answered: a node that does not answer must not keep the
      // connection open past its idle time.
      this.#release(connection);
      // A closed connection has no subscription left to end.
      if (connection.isOpen) await unsubscribe();
    };
  }

  /** Closes the subscriber connection now, if one is open; a later subscription opens a new one. */
  close(): void {
    if (this.#current !== undefined) this.#close(this.#current);
  }

  #open(): Connection {
    const subscriber = this.#client.duplicate(subscriberOverridesOf(this.#client));
    // Without a listener ioredis prints every connection error; the core sees them as failed subscriptions.
    subscriber.on('error', () => undefined);
    const connection: Connection = {
      subscriber,
      registry: new SubscriptionRegistry(subscriber),
      subscriptionCount: 0,
      idleTimer: undefined,
      isOpen: true,
    };
    // If it ends by itself (its retry strategy gave up), the next subscription opens a new one.
    subscriber.on('end', () => this.#close(connection));
    this.#client.on('end', this.#onClientEnd);
    this.#current = connection;
    return connection;
  }

  #release(connection: Connection): void {
    connection.subscriptionCount -= 1;
    if (connection.subscriptionCount > 0 || !connection.isOpen) return;
    connection.idleTimer = setTimeout(() => this.#close(connection), OWNED_SUBSCRIBER_IDLE_MS);
    connection.idleTimer.unref();
  }

  #close(connection: Connection): void {
    if (!connection.isOpen) return;
    connection.isOpen = false;
    clearTimeout(connection.idleTimer);
    connection.idleTimer = undefined;
    if (this.#current === connection) {
      this.#current = undefined;
      this.#client.off('end', this.#onClientEnd);
    }
    // Not QUIT: it would wait in the offline queue for a node that is down. DISCONNECT rejects whatever is
    // pending and stops reconnecting. (On a connection that already ended it would start a reconnection.)
    if (connection.subscriber.status !== 'end') connection.subscriber.disconnect();
  }
}
