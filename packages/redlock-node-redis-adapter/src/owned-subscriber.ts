import type { Unsubscribe } from 'redlock-core';
import type { DuplicableNodeRedisClient, OwnedNodeRedisConnection } from './node-redis-client.js';

/**
 * How long the adapter's own subscriber connection stays open with no subscription, in milliseconds. The
 * core already keeps each channel for `SUBSCRIPTION_LINGER_MS` (1 s) after its last waiter; this keeps the
 * connection through the gaps between bursts of contention, and closes it when locks stop being contended.
 */
export const OWNED_SUBSCRIBER_IDLE_MS = 5_000;

/** The name the subscriber connection shows in `CLIENT LIST`, after the client's own name if it has one. */
export const SUBSCRIBER_CONNECTION_NAME = 'redlock-subscriber';

/** One subscriber connection and the subscriptions made on it. */
interface Connection {
  readonly subscriber: OwnedNodeRedisConnection;
  /** Settles once the connection is ready; rejects if it could not connect or was closed first. */
  readonly ready: Promise<void>;
  /** Rejects `ready` and every wait on it: the connection was closed. */
  readonly abandon: (error: Error) => void;
  /** Subscriptions made and not yet ended, including those whose SUBSCRIBE is in flight. */
  subscriptionCount: number;
  idleTimer: NodeJS.Timeout | undefined;
  isOpen: boolean;
}

/**
 * The subscriber connection an adapter opens for itself over a single node-redis client:
 * `client.duplicate()` (the client's own options: URL, TLS, credentials, RESP version, reconnect strategy)
 * named `redlock-subscriber` (after the client's own name, if it has one), then `connect()`ed.
 * node-redis counts listeners per channel on it and subscribes again after a reconnection by itself.
 *
 * Opened at the first subscription; closed {@link OWNED_SUBSCRIBER_IDLE_MS} after its last subscription
 * ended, when the client ends (closed, quit, or destroyed), or by {@link OwnedSubscriber.close}; opened
 * again at the next subscription. Its `'error'` events are ignored (a failure shows as waiters relying on
 * their retry timers); its idle timer never keeps the process alive.
 */
export class OwnedSubscriber {
  readonly #client: DuplicableNodeRedisClient;
  #current: Connection | undefined;
  readonly #onClientEnd = (): void => {
    if (this.#current !== undefined) this.#close(this.#current);
  };

  constructor(client: DuplicableNodeRedisClient) {
    this.#client = client;
  }

  /**
   * Subscribes to `channel` on the subscriber connection, opening it if needed; resolves once subscribed,
   * with the function that ends the subscription, or rejects with the error of the connection or SUBSCRIBE.
   */
  async subscribe(channel: string, onMessage: () => void): Promise<Unsubscribe> {
    if (this.#client.isOpen === false) {
      throw new Error('Cannot subscribe to release notifications: the client is not open (it was closed, or connect() was not called)');
    }
    // A connection whose reconnect strategy gave up is closed without an 'end' event in some versions.
    if (this.#current?.subscriber.isOpen === false) this.#close(this.#current);
    const connection = this.#current ?? this.#open();
    connection.subscriptionCount += 1;
    clearTimeout(connection.idleTimer);
    connection.idleTimer = undefined;
    // A listener of its own: node-redis keeps a Set per channel, so a shared callback would be one entry.
    const listener = (): void => onMessage();
    try {
      await connection.ready;
      await connection.subscriber.subscribe(channel, listener);
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
      if (connection.isOpen) await connection.subscriber.unsubscribe(channel, listener);
    };
  }

  /** Closes the subscriber connection now, if one is open; a later subscription opens a new one. */
  close(): void {
    if (this.#current !== undefined) this.#close(this.#current);
  }

  #open(): Connection {
    const subscriber = this.#client.duplicate({ name: subscriberNameOf(this.#client) });
    // Without a listener node-redis throws every connection error; the core sees them as failed subscriptions.
    subscriber.on('error', () => undefined);
    let abandon: (error: Error) => void = () => undefined;
    const abandoned = new Promise<never>((_, reject) => {
      abandon = reject;
    });
    // Each wait on `ready` handles its rejection; this one only keeps an unawaited rejection quiet.
    abandoned.catch(() => undefined);
    let connecting: Promise<void>;
    try {
      // Called now, not on a later turn: node-redis counts the connection as open from this call on.
      connecting = subscriber.connect().then(() => undefined);
    } catch (error) {
      connecting = Promise.reject(error as Error);
    }
    connecting.catch(() => undefined);
    const connection: Connection = {
      subscriber,
      ready: Promise.race([connecting, abandoned]),
      abandon,
      subscriptionCount: 0,
      idleTimer: undefined,
      isOpen: true,
    };
    // Closed while connecting: node-redis may finish opening a socket that disconnect() did not see yet.
    connecting.then(
      () => {
        if (!connection.isOpen) disconnectQuietly(subscriber);
      },
      () => undefined,
    );
    // If it ends by itself (its reconnect strategy gave up), the next subscription opens a new one.
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
    connection.abandon(new Error('Cannot subscribe to release notifications: the subscriber connection was closed'));
    disconnectQuietly(connection.subscriber);
  }
}

/**
 * Closes `subscriber` at once. Not QUIT or close(): they wait for a node that may be down. disconnect()
 * rejects whatever is pending and stops reconnecting; on a connection that already ended it throws, which
 * is of no interest.
 */
function disconnectQuietly(subscriber: OwnedNodeRedisConnection): void {
  Promise.resolve()
    .then(() => subscriber.disconnect())
    .catch(() => undefined);
}

/** `redlock-subscriber`, after the client's own connection name if it has one. */
function subscriberNameOf(client: DuplicableNodeRedisClient): string {
  const name: unknown = client.options?.name;
  return typeof name === 'string' && name !== '' ? `${name}:${SUBSCRIBER_CONNECTION_NAME}` : SUBSCRIBER_CONNECTION_NAME;
}
