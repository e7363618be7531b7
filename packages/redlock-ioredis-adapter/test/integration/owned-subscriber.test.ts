import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { WAKE_CHANNEL_PREFIX } from '../../../redlock-core/src/scripts/wake-queue.js';
import { IoredisAdapter } from '../../src/index.js';
import { ownedSubscriberOf, SUBSCRIBER_CONNECTION_NAME } from '../../src/owned-subscriber.js';
import { eventually } from '../support/eventually.js';
import { connectionNamesOn, HAND_OFF_RETRY_DELAY_MS, handOff, subscribersOf, wakeListenerCountOf, within } from '../support/handoff.js';
import { itWithFaults, useRedisNodes } from '../support/redis-servers.js';

/**
 * The idle time of the subscriber in the idle test, which makes it for its client first (the default,
 * `OWNED_SUBSCRIBER_IDLE_MS`, is a minute), and how long it may take to close: that, and room.
 */
const TEST_IDLE_MS = 1_000;
const IDLE_CLOSE_LIMIT_MS = TEST_IDLE_MS + 5_000;

const redis = useRedisNodes(1);

/** A key of this test file's own. */
const keyNamed = (name: string): string => `owned-subscriber-test:${name}:${randomUUID()}`;

/** A connection name of a test's own, so `CLIENT LIST` tells its subscriber from any other. */
const connectionNamed = (name: string): string => `owned-subscriber-test-${name}-${randomUUID().slice(0, 8)}`;

/** Whether the adapter's subscriber for a client named `connectionName` is connected, read `CLIENT LIST`. */
async function isSubscriberConnected(connectionName: string): Promise<boolean> {
  return (await connectionNamesOn(redis.createClient(0))).includes(`${connectionName}:${SUBSCRIBER_CONNECTION_NAME}`);
}

/** Hands a lock over from a holder of its own to a waiter on `waiter`; see {@link handOff}. */
function handOffTo(waiter: IoredisAdapter, key: string): Promise<number> {
  return handOff({
    holder: new IoredisAdapter(redis.createClient(0), { notifications: false }),
    waiter,
    resource: key,
    subscriberCount: () => wakeListenerCountOf(redis.createClient(0), key),
  });
}

describe('an IoredisAdapter given only a Redis client', () => {
  it('wakes a waiter by the release notification, long before its retry timer', async () => {
    const adapter = new IoredisAdapter(redis.createClient(0));
    try {
      expect(await handOffTo(adapter, keyNamed('hand-off'))).toBeLessThan(HAND_OFF_RETRY_DELAY_MS);
    } finally {
      await adapter.close();
    }
  });

  it(
    'closes its subscriber connection once idle, and opens it again for the next waiter',
    async () => {
      const connectionName = connectionNamed('idle');
      const client = redis.createClient(0, { connectionName });
      ownedSubscriberOf(client, TEST_IDLE_MS);
      const adapter = new IoredisAdapter(client);
      try {
        expect(await isSubscriberConnected(connectionName)).toBe(false); // opened at the first wait, not before
        await handOffTo(adapter, keyNamed('idle-first'));
        expect(await isSubscriberConnected(connectionName)).toBe(true);

        expect(await eventually(() => isSubscriberConnected(connectionName), (isConnected) => !isConnected, IDLE_CLOSE_LIMIT_MS)).toBe(false);

        await handOffTo(adapter, keyNamed('idle-again'));
        expect(await isSubscriberConnected(connectionName)).toBe(true);
      } finally {
        await adapter.close();
      }
    },
    60_000,
  );

  it('closes its subscriber connection when the client is quit, and subscribes no more', async () => {
    const connectionName = connectionNamed('quit');
    const client = redis.createClient(0, { connectionName });
    const adapter = new IoredisAdapter(client);
    const unsubscribe = await adapter.subscribe!(WAKE_CHANNEL_PREFIX + keyNamed('quit'), () => undefined);
    expect(await isSubscriberConnected(connectionName)).toBe(true);

    await client.quit();
    expect(await eventually(() => isSubscriberConnected(connectionName), (isConnected) => !isConnected, 5_000)).toBe(false);
    await expect(unsubscribe()).resolves.toBeUndefined();
    await expect(adapter.subscribe!(WAKE_CHANNEL_PREFIX + keyNamed('quit'), () => undefined)).rejects.toThrow(
      'Cannot subscribe to release notifications: the client has ended',
    );
  });

  it('closes its subscriber connection at close(), leaves the client open, and rejects later subscriptions', async () => {
    const connectionName = connectionNamed('close');
    const client = redis.createClient(0, { connectionName });
    const adapter = new IoredisAdapter(client);
    const channel = WAKE_CHANNEL_PREFIX + keyNamed('close');
    await adapter.subscribe!(channel, () => undefined);
    expect(await isSubscriberConnected(connectionName)).toBe(true);

    await adapter.close();
    expect(await eventually(() => isSubscriberConnected(connectionName), (isConnected) => !isConnected, 5_000)).toBe(false);
    expect(await client.ping()).toBe('PONG');
    expect(client.status).toBe('ready');
    await expect(adapter.subscribe!(channel, () => undefined)).rejects.toThrow(`Cannot subscribe to "${channel}": this IoredisAdapter was closed`);
    await expect(adapter.close()).resolves.toBeUndefined(); // idempotent
    // Scripts still run on the client.
    await expect(adapter.eval('return 7', [], [])).resolves.toBe(7);
  });

  it('shares one subscriber connection between the adapters of one client (one per Redlock), until the last one closes', async () => {
    const connectionName = connectionNamed('shared');
    const client = redis.createClient(0, { connectionName });
    const adapters = [1, 2, 3].map(() => new IoredisAdapter(client));
    const channels = adapters.map((_, index) => WAKE_CHANNEL_PREFIX + keyNamed(`shared-${index}`));
    let heard = 0;
    await Promise.all(adapters.map((adapter, index) => adapter.subscribe!(channels[index]!, () => (heard += 1))));
    const admin = redis.createClient(0);
    const subscribers = async (): Promise<number> => (await connectionNamesOn(admin)).filter((name) => name === `${connectionName}:${SUBSCRIBER_CONNECTION_NAME}`).length;
    expect(await subscribers()).toBe(1);
    // One adapter closed: its channel is left, the others still hear theirs on the same connection.
    await adapters[0]!.close();
    expect(await subscribersOf(admin, channels[0]!, 0)).toBe(0);
    await admin.publish(channels[1]!, '1');
    expect(await eventually(() => heard, (count) => count === 1, 5_000)).toBe(1);
    // The last one closed: the connection goes at once, not after its idle time.
    await Promise.all(adapters.slice(1).map((adapter) => adapter.close()));
    expect(await eventually(subscribers, (count) => count === 0, 2_000)).toBe(0);
  });

  it('rejects a subscription still in flight when closed, and leaves no connection behind', async () => {
    const connectionName = connectionNamed('in-flight');
    const adapter = new IoredisAdapter(redis.createClient(0, { connectionName }));
    const pending = adapter.subscribe!(WAKE_CHANNEL_PREFIX + keyNamed('in-flight'), () => undefined);
    await adapter.close();
    await expect(pending).rejects.toThrow('Connection is closed');
    expect(await eventually(() => isSubscriberConnected(connectionName), (isConnected) => !isConnected, 5_000)).toBe(false);
  });

  it('gives its subscriber connection the client name followed by `:redlock-subscriber`, or that alone', async () => {
    const unnamed = new IoredisAdapter(redis.createClient(0));
    const channel = WAKE_CHANNEL_PREFIX + keyNamed('name');
    const admin = redis.createClient(0);
    const before = (await connectionNamesOn(admin)).filter((name) => name === SUBSCRIBER_CONNECTION_NAME).length;
    await unnamed.subscribe!(channel, () => undefined);
    try {
      const after = (await connectionNamesOn(admin)).filter((name) => name === SUBSCRIBER_CONNECTION_NAME).length;
      expect(after).toBe(before + 1);
    } finally {
      await unnamed.close();
    }
  });
});

describe('the subscriber connection of an IoredisAdapter when its node is killed', () => {
  const node = useRedisNodes(1);
  // That no 'error' event goes unhandled meanwhile is checked in a child process (process-exit.test.ts):
  // ioredis reports one with `console.error` only for errors of its own realm, which Jest's are not.
  itWithFaults('hears releases again once the node is back', async () => {
    const client = node.createClient(0);
    const adapter = new IoredisAdapter(client);
    const channel = WAKE_CHANNEL_PREFIX + keyNamed('killed');
    const left = WAKE_CHANNEL_PREFIX + keyNamed('left-while-down');
    let heard = 0;
    try {
      await adapter.subscribe!(channel, () => (heard += 1));
      const unsubscribe = await adapter.subscribe!(left, () => undefined);
      await node.nodes[0]!.kill();
      // Left while the node is down: not held until it is back (redlock.close() waited its 2 s bound for it).
      await eventually(() => client.status, (status) => status !== 'ready', 5_000);
      // The subscriber connection sees its socket close with the client's; a moment for its own event.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await within(1_000, unsubscribe(), 'leaving a channel waited for the node that is down');
      // Long enough for several failed reconnection attempts, each an 'error' event on the connection.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await node.nodes[0]!.start();

      const admin = node.createClient(0);
      expect(await subscribersOf(admin, channel, 1)).toBe(1); // subscribed again after the reconnect
      expect(await subscribersOf(admin, left, 0)).toBe(0); // and no longer to the channel it left
      await admin.publish(channel, '1');
      expect(await eventually(() => heard, (count) => count === 1, 5_000)).toBe(1);
      // Reconnected before the file's clients are quit: QUIT on a client still reconnecting leaves a 2 s timer.
      expect(await eventually(() => client.status, (status) => status === 'ready', 5_000)).toBe('ready');
    } finally {
      await adapter.close();
    }
  }, 40_000);
});
