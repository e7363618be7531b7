import { OwnedSubscriber, type OwnedSubscriberConnection, subscriberConnectionNameOf } from 'redlock-core';
import type { DuplicableNodeRedisClient, OwnedNodeRedisConnection } from './node-redis-client.js';

export { OWNED_SUBSCRIBER_IDLE_MS, SUBSCRIBER_CONNECTION_NAME } from 'redlock-core';

/**
 * The subscriber connection an adapter opens for itself over a single node-redis client (the core's
 * `OwnedSubscriber`: opened at the first subscription, closed when idle, when the client ends (closed,
 * quit, or destroyed), or at `close()`): `client.duplicate()` (the client's own options: URL, TLS,
 * credentials, RESP version, reconnect strategy) named `redlock-subscriber` (after the client's own name,
 * if it has one), then `connect()`ed. node-redis counts listeners per channel on it and subscribes again
 * after a reconnection by itself. Its `'error'` events are ignored (a failure shows as waiters relying on
 * their retry timers). Every adapter over `client` shares it, each through a lease of its own: one
 * connection and one `'end'` listener per client, however many `Redlock`s. `idleMs` (the core's
 * `OWNED_SUBSCRIBER_IDLE_MS` by default) applies when this call makes it: the first for `client`.
 */
export function ownedSubscriberOf(client: DuplicableNodeRedisClient, idleMs?: number): OwnedSubscriber {
  return OwnedSubscriber.of(client, () => ({
    idleMs,
    endedReason: () => (client.isOpen === false ? 'the client is not open (it was closed, or connect() was not called)' : undefined),
    open: (onEnd) => openSubscriber(client, onEnd),
    onClientEnd: (listener) => {
      client.on('end', listener);
      return () => client.off('end', listener);
    },
  }));
}

/** Opens and connects a subscriber connection for `client`; `onEnd` is called if it ends by itself. */
function openSubscriber(client: DuplicableNodeRedisClient, onEnd: () => void): OwnedSubscriberConnection {
  const subscriber = client.duplicate({ name: subscriberConnectionNameOf(client.options?.name) });
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
  /** Settles once the connection is ready; rejects if it could not connect or was closed first. */
  const ready = Promise.race([connecting, abandoned]);
  let isOpen = true;
  // Closed while connecting: node-redis may finish opening a socket that disconnect() did not see yet.
  connecting.then(
    () => {
      if (!isOpen) disconnectQuietly(subscriber);
    },
    () => undefined,
  );
  subscriber.on('end', onEnd);
  // Its client closed while this connection reconnects (the node went away, then the client's quit(), which
  // waits for a node that is gone and emits no 'end'): this connection would go on reconnecting until its
  // idle time ran out, keeping the process alive; it ends with its client instead.
  subscriber.on('reconnecting', () => {
    if (client.isOpen === false) onEnd();
  });
  return {
    async subscribe(channel, onMessage) {
      // A listener of its own: node-redis keeps a Set per channel, so a shared callback would be one entry.
      const listener = (): void => onMessage();
      await ready;
      await subscriber.subscribe(channel, listener);
      return async () => {
        await subscriber.unsubscribe(channel, listener);
      };
    },
    // A connection whose reconnect strategy gave up is closed without an 'end' event in some versions.
    hasEnded: () => subscriber.isOpen === false,
    close() {
      isOpen = false;
      abandon(new Error('Cannot subscribe to release notifications: the subscriber connection was closed'));
      disconnectQuietly(subscriber);
    },
  };
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
