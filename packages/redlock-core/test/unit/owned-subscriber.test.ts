import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import {
  OWNED_SUBSCRIBER_IDLE_MS,
  OwnedSubscriber,
  type OwnedSubscriberClient,
  type OwnedSubscriberConnection,
  SUBSCRIBER_CONNECTION_NAME,
  subscriberConnectionNameOf,
} from '../../src/base/owned-subscriber.js';

/** A connection of the fake client: records what the owned subscriber did with it. */
interface FakeConnection extends OwnedSubscriberConnection {
  readonly subscribed: string[];
  readonly unsubscribed: string[];
  closeCount: number;
  isEnded: boolean;
  /** Ends the connection by itself, as a reconnection that gave up. */
  end(): void;
}

/** A client whose connections subscribe at once (or fail with `subscribeError`), and which can end. */
function fakeClient(): OwnedSubscriberClient & {
  readonly connections: FakeConnection[];
  endListenerCount(): number;
  end(): void;
  subscribeError: Error | undefined;
} {
  const endListeners = new Set<() => void>();
  let hasEnded = false;
  const client = {
    connections: [] as FakeConnection[],
    subscribeError: undefined as Error | undefined,
    endListenerCount: () => endListeners.size,
    end() {
      hasEnded = true;
      for (const listener of [...endListeners]) listener();
    },
    endedReason: () => (hasEnded ? 'the fake client ended' : undefined),
    open(onEnd: () => void): FakeConnection {
      const connection: FakeConnection = {
        subscribed: [],
        unsubscribed: [],
        closeCount: 0,
        isEnded: false,
        end() {
          connection.isEnded = true;
          onEnd();
        },
        async subscribe(channel) {
          if (client.subscribeError !== undefined) throw client.subscribeError;
          connection.subscribed.push(channel);
          return async () => {
            connection.unsubscribed.push(channel);
          };
        },
        hasEnded: () => connection.isEnded,
        close() {
          connection.closeCount += 1;
        },
      };
      client.connections.push(connection);
      return connection;
    },
    onClientEnd(listener: () => void) {
      endListeners.add(listener);
      return () => endListeners.delete(listener);
    },
  };
  return client;
}

describe('subscriberConnectionNameOf()', () => {
  it('puts `redlock-subscriber` after the client name, or uses it alone for a client without one', () => {
    expect(subscriberConnectionNameOf('app')).toBe(`app:${SUBSCRIBER_CONNECTION_NAME}`);
    expect(subscriberConnectionNameOf('')).toBe(SUBSCRIBER_CONNECTION_NAME);
    expect(subscriberConnectionNameOf(undefined)).toBe(SUBSCRIBER_CONNECTION_NAME);
    expect(subscriberConnectionNameOf(42)).toBe(SUBSCRIBER_CONNECTION_NAME);
  });
});

describe('OwnedSubscriber', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('opens one connection at the first subscription and subscribes every channel on it', async () => {
    const client = fakeClient();
    const owned = new OwnedSubscriber(client);
    expect(client.connections).toHaveLength(0);
    await owned.subscribe('a', () => undefined);
    await owned.subscribe('b', () => undefined);
    expect(client.connections).toHaveLength(1);
    expect(client.connections[0]!.subscribed).toEqual(['a', 'b']);
    expect(client.endListenerCount()).toBe(1);
  });

  it(`closes the connection ${OWNED_SUBSCRIBER_IDLE_MS} ms after its last subscription ended, and opens a new one for the next`, async () => {
    const client = fakeClient();
    const owned = new OwnedSubscriber(client);
    const unsubscribeA = await owned.subscribe('a', () => undefined);
    const unsubscribeB = await owned.subscribe('b', () => undefined);
    await unsubscribeA();
    await unsubscribeA(); // a second call does nothing
    jest.advanceTimersByTime(OWNED_SUBSCRIBER_IDLE_MS * 2);
    expect(client.connections[0]!.closeCount).toBe(0); // 'b' is still subscribed

    await unsubscribeB();
    expect(client.connections[0]!.unsubscribed).toEqual(['a', 'b']);
    jest.advanceTimersByTime(OWNED_SUBSCRIBER_IDLE_MS - 1);
    expect(client.connections[0]!.closeCount).toBe(0);
    jest.advanceTimersByTime(1);
    expect(client.connections[0]!.closeCount).toBe(1);
    expect(client.endListenerCount()).toBe(0);

    await owned.subscribe('c', () => undefined);
    expect(client.connections).toHaveLength(2);
    expect(client.connections[1]!.subscribed).toEqual(['c']);
  });

  it("closes the connection after the client's own idleMs, and never by itself with Infinity", async () => {
    const short = { ...fakeClient(), idleMs: 250 };
    const shortOwned = new OwnedSubscriber(short);
    await (await shortOwned.subscribe('a', () => undefined))();
    jest.advanceTimersByTime(249);
    expect(short.connections[0]!.closeCount).toBe(0);
    jest.advanceTimersByTime(1);
    expect(short.connections[0]!.closeCount).toBe(1);

    const kept = { ...fakeClient(), idleMs: Infinity };
    const keptOwned = new OwnedSubscriber(kept);
    const lease = keptOwned.lease();
    await (await lease.subscribe('a', () => undefined))();
    jest.advanceTimersByTime(OWNED_SUBSCRIBER_IDLE_MS * 100);
    expect(kept.connections[0]!.closeCount).toBe(0);
    lease.close(); // the last lease still closes it at once
    expect(kept.connections[0]!.closeCount).toBe(1);

    // Past what a Node timer can wait (which would fire at once): for ever too.
    const long = { ...fakeClient(), idleMs: 30 * 24 * 3_600_000 };
    await (await new OwnedSubscriber(long).subscribe('a', () => undefined))();
    jest.advanceTimersByTime(OWNED_SUBSCRIBER_IDLE_MS * 100);
    expect(long.connections[0]!.closeCount).toBe(0);
  });

  it.each([-1, Number.NaN, '5000'])('refuses an idleMs of %p before it opens anything', (idleMs) => {
    const client = { ...fakeClient(), idleMs: idleMs as number };
    expect(() => new OwnedSubscriber(client)).toThrow(RangeError);
    expect(() => new OwnedSubscriber(client)).toThrow('Expected `idleMs` to be a number of milliseconds from 0 up, or Infinity');
    expect(client.connections).toHaveLength(0);
  });

  it('keeps an idle connection open when a subscription comes within the idle time', async () => {
    const client = fakeClient();
    const owned = new OwnedSubscriber(client);
    await (await owned.subscribe('a', () => undefined))();
    jest.advanceTimersByTime(OWNED_SUBSCRIBER_IDLE_MS - 1);
    await owned.subscribe('b', () => undefined);
    jest.advanceTimersByTime(OWNED_SUBSCRIBER_IDLE_MS * 2);
    expect(client.connections).toHaveLength(1);
    expect(client.connections[0]!.closeCount).toBe(0);
  });

  it('counts a failed SUBSCRIBE as ended, so the connection still closes once idle', async () => {
    const client = fakeClient();
    const owned = new OwnedSubscriber(client);
    client.subscribeError = new Error('ERR refused');
    await expect(owned.subscribe('a', () => undefined)).rejects.toThrow('ERR refused');
    jest.advanceTimersByTime(OWNED_SUBSCRIBER_IDLE_MS);
    expect(client.connections[0]!.closeCount).toBe(1);
  });

  it('closes the connection when the client ends, and rejects later subscriptions with the reason', async () => {
    const client = fakeClient();
    const owned = new OwnedSubscriber(client);
    const unsubscribe = await owned.subscribe('a', () => undefined);
    client.end();
    expect(client.connections[0]!.closeCount).toBe(1);
    expect(client.endListenerCount()).toBe(0);
    await unsubscribe(); // nothing left to end on a closed connection
    expect(client.connections[0]!.unsubscribed).toEqual([]);
    await expect(owned.subscribe('b', () => undefined)).rejects.toThrow('Cannot subscribe to release notifications: the fake client ended');
    expect(client.connections).toHaveLength(1);
  });

  it('opens a new connection after the last one ended by itself, or was found ended', async () => {
    const client = fakeClient();
    const owned = new OwnedSubscriber(client);
    await owned.subscribe('a', () => undefined);
    client.connections[0]!.end();
    expect(client.connections[0]!.closeCount).toBe(1);
    await owned.subscribe('b', () => undefined);
    expect(client.connections).toHaveLength(2);

    client.connections[1]!.isEnded = true; // ended without telling
    await owned.subscribe('c', () => undefined);
    expect(client.connections[1]!.closeCount).toBe(1);
    expect(client.connections).toHaveLength(3);
    expect(client.connections[2]!.subscribed).toEqual(['c']);
    expect(client.endListenerCount()).toBe(1);
  });

  it('closes the connection at close(), once, and opens a new one for a later subscription', async () => {
    const client = fakeClient();
    const owned = new OwnedSubscriber(client);
    const unsubscribe = await owned.subscribe('a', () => undefined);
    owned.close();
    owned.close();
    expect(client.connections[0]!.closeCount).toBe(1);
    await unsubscribe();
    jest.advanceTimersByTime(OWNED_SUBSCRIBER_IDLE_MS);
    expect(client.connections[0]!.closeCount).toBe(1);
    await owned.subscribe('b', () => undefined);
    expect(client.connections).toHaveLength(2);
  });

  it('is one per client with of(): the adapters of one client share one connection and one end listener', async () => {
    const key = {};
    const client = fakeClient();
    const makeClient = jest.fn(() => client);
    const leases = Array.from({ length: 30 }, () => OwnedSubscriber.of(key, makeClient).lease());
    for (const lease of leases) await lease.subscribe('a', () => undefined);
    expect(makeClient).toHaveBeenCalledTimes(1);
    expect(client.connections).toHaveLength(1);
    expect(client.endListenerCount()).toBe(1);
    expect(OwnedSubscriber.of({}, fakeClient)).not.toBe(OwnedSubscriber.of(key, makeClient));
  });

  it("ends a closed lease's own subscriptions only, rejects its later ones, and closes the connection with the last lease", async () => {
    const client = fakeClient();
    const shared = new OwnedSubscriber(client);
    const [first, second] = [shared.lease(), shared.lease()];
    await first.subscribe('a', () => undefined);
    await second.subscribe('b', () => undefined);
    first.close();
    first.close();
    await Promise.resolve();
    const connection = client.connections[0]!;
    expect(connection.unsubscribed).toEqual(['a']);
    expect(connection.closeCount).toBe(0);
    await expect(first.subscribe('c', () => undefined)).rejects.toThrow('the adapter was closed');
    await second.subscribe('d', () => undefined);
    second.close();
    // The last lease: the connection closes at once, whatever its subscriptions.
    expect(connection.closeCount).toBe(1);
    expect(client.connections).toHaveLength(1);
  });
});
