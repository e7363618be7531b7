import { OwnedSubscriber, subscriberConnectionNameOf } from 'redlock-core';
import type { DuplicableClient, SubscriberOverrides } from './ioredis-client.js';
import { SubscriptionRegistry } from './subscription-registry.js';

export { OWNED_SUBSCRIBER_IDLE_MS, SUBSCRIBER_CONNECTION_NAME } from 'redlock-core';

/**
 * Why `client` can no longer carry subscriptions, or `undefined` while it can: it ended (`'end'`), or it
 * was disconnected while it waited to reconnect to a node that is down (`quit()` then disconnects too, when
 * no command is queued). ioredis 5 and 6 (and iovalkey) emit no `'end'` for the latter: `disconnect()`
 * clears the reconnection timer and leaves the status `'reconnecting'` for ever. No public member tells it, so this reads their internal `manuallyClosing`
 * (the same in ioredis 5, 6 and iovalkey): `disconnect()` sets it and only the close of a socket clears it,
 * which a reconnecting client has none left to do; a later `connect()` leaves `'reconnecting'`.
 */
function endedReasonOf(client: DuplicableClient): string | undefined {
  if (client.status === 'end') return 'the client has ended (it was quit, or gave up reconnecting)';
  const { manuallyClosing } = client as { readonly manuallyClosing?: unknown };
  if (client.status === 'reconnecting' && manuallyClosing === true) return 'the client was disconnected while reconnecting';
  return undefined;
}

/** The subscriber's options where they differ from the client's; see {@link ownedSubscriberOf}. */
function subscriberOverridesOf(client: DuplicableClient): SubscriberOverrides {
  const { connectionName, retryStrategy } = client.options as { readonly connectionName?: unknown; readonly retryStrategy?: unknown };
  return {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    autoResubscribe: true,
    lazyConnect: false,
    connectionName: subscriberConnectionNameOf(connectionName),
    disconnectTimeout: 0,
    // Returns null where the client's would stop (no strategy, or no number): ioredis then ends the connection.
    retryStrategy: (times) => {
      if (endedReasonOf(client) !== undefined || typeof retryStrategy !== 'function') return null;
      const delayMs: unknown = retryStrategy(times);
      return typeof delayMs === 'number' ? delayMs : null;
    },
  };
}

/**
 * The subscriber connection an adapter opens for itself over a `Redis` client (the core's
 * `OwnedSubscriber`: opened at the first subscription, closed when idle, when the client ends, or at
 * `close()`): `client.duplicate()` with the client's options (host, TLS, password, db, retry strategy…)
 * except:
 *
 * - `maxRetriesPerRequest: null`: ioredis subscribes again after a reconnect, and with a finite limit a
 *   connection that drops during that re-subscription ends in an unhandled rejection;
 * - `enableOfflineQueue: true`: the connection is opened at the first SUBSCRIBE, which must wait for it to
 *   connect rather than fail (the core bounds how long a waiter waits for a subscription, so a SUBSCRIBE
 *   queued for a down node delays no one);
 * - `autoResubscribe: true`, `lazyConnect: false`, and `connectionName` `redlock-subscriber` (after the
 *   client's own name, if it has one), so it shows in `CLIENT LIST`;
 * - `disconnectTimeout: 0`: at its close, nothing sent on it is worth waiting for, and ioredis' 2 s would
 *   keep the process alive that long when it closes while reconnecting to a node that is down (ioredis
 *   then arms that timer for a socket that has already closed, and nothing clears it). It also applies
 *   when ioredis drops the connection to reconnect (a `reconnectOnError` copied from your client's
 *   options): notifications in flight then may be lost, and their waiters retry on their timers;
 * - `retryStrategy`: the client's own, except that it stops reconnecting once the client has ended,
 *   including when the client was disconnected while reconnecting to a node that is down, for which ioredis
 *   emits no `'end'`. The connection then ends at its next failed attempt (within the client's retry
 *   delay, 2 s at most by ioredis' default), rejecting a SUBSCRIBE that waited for it; without this it
 *   would reconnect for ever and keep the process alive.
 *
 * Its channels are counted by a {@link SubscriptionRegistry} of its own. Its `'error'` events are ignored (a
 * failure shows as waiters relying on their retry timers). Every adapter over `client` shares it, each
 * through a lease of its own: one connection and one `'end'` listener per client, however many `Redlock`s.
 * `idleMs` (the core's `OWNED_SUBSCRIBER_IDLE_MS` by default) applies when this call makes it: the first for
 * `client`.
 */
export function ownedSubscriberOf(client: DuplicableClient, idleMs?: number): OwnedSubscriber {
  return OwnedSubscriber.of(client, () => ({
    idleMs,
    endedReason: () => endedReasonOf(client),
    open: (onEnd) => {
      const subscriber = client.duplicate(subscriberOverridesOf(client));
      // Without a listener ioredis prints every connection error; the core sees them as failed subscriptions.
      subscriber.on('error', () => undefined);
      subscriber.on('end', onEnd);
      const registry = new SubscriptionRegistry(subscriber);
      return {
        subscribe: (channel, onMessage) => registry.subscribe(channel, onMessage),
        hasEnded: () => subscriber.status === 'end',
        close: () => {
          // Not QUIT: it would wait in the offline queue for a node that is down. DISCONNECT rejects whatever
          // is pending and stops reconnecting. (On a connection that already ended it would start a reconnection.)
          if (subscriber.status !== 'end') subscriber.disconnect();
        },
      };
    },
    onClientEnd: (listener) => {
      client.on('end', listener);
      return () => client.off('end', listener);
    },
  }));
}
