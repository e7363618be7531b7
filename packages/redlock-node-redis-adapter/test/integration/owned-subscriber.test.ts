import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { useTestNodes } from 'redlock-adapter-test-kit';
import { WAKE_CHANNEL_PREFIX } from '../../../redlock-core/src/scripts/wake-queue.js';
import { NodeRedisAdapter } from '../../src/index.js';
import { ownedSubscriberOf, SUBSCRIBER_CONNECTION_NAME } from '../../src/owned-subscriber.js';
import { connectionNamesOn, eventually, HAND_OFF_RETRY_DELAY_MS, handOff } from '../support/handoff.js';
import { JEST, NODE_REDIS_VERSIONS, type NodeRedisVersion } from '../support/node-redis-versions.js';

/**
 * The idle time of the subscriber in the idle test, which makes it for its client first (the default,
 * `OWNED_SUBSCRIBER_IDLE_MS`, is a minute), and how long it may take to close: that, and room.
 */
const TEST_IDLE_MS = 1_000;
const IDLE_CLOSE_LIMIT_MS = TEST_IDLE_MS + 5_000;

const nodes = useTestNodes(JEST, 1);

/** A key of this test file's own. */
const keyNamed = (name: string): string => `owned-subscriber-test:${name}:${randomUUID()}`;
/** A connection name of a test's own, so `CLIENT LIST` tells its subscriber from any other. */
const connectionNamed = (name: string): string => `node-redis-owned-${name}-${randomUUID().slice(0, 8)}`;

type Client = ReturnType<NodeRedisVersion['createClient']>;
let opened: Client[] = [];
afterEach(async () => {
  const closing = opened;
  opened = [];
  await Promise.all(closing.map((client) => Promise.resolve().then(() => client.disconnect()).catch(() => undefined)));
});

/** A connected client of `version`, named `name` when given; disconnected after the test. */
async function connected(version: NodeRedisVersion, name?: string): Promise<Client> {
  const client = version.createClient(nodes.urls[0] as string);
  if (name !== undefined) {
    // The option is read at connect time in every version; set it the way duplicate() copies it.
    (client as unknown as { options: { name?: string } }).options.name = name;
  }
  client.on('error', () => undefined);
  opened.push(client);
  await client.connect();
  return client;
}

/** Whether the adapter's subscriber for a client named `name` is connected, read from `CLIENT LIST`. */
async function isSubscriberConnected(name: string): Promise<boolean> {
  return (await connectionNamesOn(nodes, 0)).includes(`${name}:${SUBSCRIBER_CONNECTION_NAME}`);
}

/** How many connections the node has, read from `CLIENT LIST` (the reading connection included). */
async function connectionCount(): Promise<number> {
  return String(await nodes.command(0, ['CLIENT', 'LIST']))
    .split('\n')
    .filter((line) => line.trim() !== '').length;
}

describe.each(NODE_REDIS_VERSIONS.map((version) => [version.name, version] as const))('a default NodeRedisAdapter, %s', (_, version) => {
  it('wakes a waiter by the release notification, long before its retry timer', async () => {
    const waiter = new NodeRedisAdapter(await connected(version));
    try {
      const holder = new NodeRedisAdapter(await connected(version), { notifications: false });
      expect(await handOff(nodes, holder, waiter, keyNamed('hand-off'))).toBeLessThan(HAND_OFF_RETRY_DELAY_MS / 3);
    } finally {
      await waiter.close();
    }
  });

  it('leaves no connection open after close(), keeps the client usable, and rejects later subscriptions', async () => {
    const name = connectionNamed('close');
    const client = await connected(version, name);
    const before = await connectionCount();
    const adapter = new NodeRedisAdapter(client);
    const channel = WAKE_CHANNEL_PREFIX + keyNamed('close');
    await adapter.subscribe!(channel, () => undefined);
    expect(await isSubscriberConnected(name)).toBe(true);
    expect(await connectionCount()).toBe(before + 1);

    await adapter.close();
    expect(await eventually(connectionCount, (count) => count === before, 5_000)).toBe(before);
    expect(await isSubscriberConnected(name)).toBe(false);
    await expect(adapter.eval('return 7', [], [])).resolves.toBe(7);
    await expect(adapter.subscribe!(channel, () => undefined)).rejects.toThrow(`Cannot subscribe to "${channel}": this NodeRedisAdapter was closed`);
    await expect(adapter.close()).resolves.toBeUndefined(); // idempotent
  });

  it('closes its subscriber connection when the client ends, and subscribes no more', async () => {
    const name = connectionNamed('end');
    const client = await connected(version, name);
    const adapter = new NodeRedisAdapter(client);
    const unsubscribe = await adapter.subscribe!(WAKE_CHANNEL_PREFIX + keyNamed('end'), () => undefined);
    expect(await isSubscriberConnected(name)).toBe(true);

    await client.disconnect();
    expect(await eventually(() => isSubscriberConnected(name), (isConnected) => !isConnected, 5_000)).toBe(false);
    await expect(unsubscribe()).resolves.toBeUndefined();
    await expect(adapter.subscribe!(WAKE_CHANNEL_PREFIX + keyNamed('end'), () => undefined)).rejects.toThrow(
      'Cannot subscribe to release notifications: the client is not open',
    );
  });
});

describe('a default NodeRedisAdapter over the newest node-redis', () => {
  const latest = NODE_REDIS_VERSIONS[NODE_REDIS_VERSIONS.length - 1] as NodeRedisVersion;

  it('opens its subscriber at the first wait, closes it once idle, and opens it again for the next waiter', async () => {
    const name = connectionNamed('idle');
    const client = await connected(latest, name);
    ownedSubscriberOf(client as unknown as Parameters<typeof ownedSubscriberOf>[0], TEST_IDLE_MS);
    const adapter = new NodeRedisAdapter(client);
    const holder = new NodeRedisAdapter(await connected(latest), { notifications: false });
    try {
      expect(await isSubscriberConnected(name)).toBe(false);
      await handOff(nodes, holder, adapter, keyNamed('idle-first'));
      expect(await isSubscriberConnected(name)).toBe(true);
      expect(await eventually(() => isSubscriberConnected(name), (isConnected) => !isConnected, IDLE_CLOSE_LIMIT_MS)).toBe(false);
      await handOff(nodes, holder, adapter, keyNamed('idle-again'));
      expect(await isSubscriberConnected(name)).toBe(true);
    } finally {
      await adapter.close();
    }
  }, 60_000);

  it('closes its subscriber connection when the client is closed gracefully with close()', async () => {
    const name = connectionNamed('graceful');
    const client = await connected(latest, name);
    const adapter = new NodeRedisAdapter(client);
    await adapter.subscribe!(WAKE_CHANNEL_PREFIX + keyNamed('graceful'), () => undefined);
    expect(await isSubscriberConnected(name)).toBe(true);
    await (client as unknown as { close(): Promise<void> }).close();
    expect(await eventually(() => isSubscriberConnected(name), (isConnected) => !isConnected, 5_000)).toBe(false);
  });

  it('rejects a subscription still in flight when closed, and leaves no connection behind', async () => {
    const name = connectionNamed('in-flight');
    const adapter = new NodeRedisAdapter(await connected(latest, name));
    const pending = adapter.subscribe!(WAKE_CHANNEL_PREFIX + keyNamed('in-flight'), () => undefined);
    await adapter.close();
    await expect(pending).rejects.toThrow();
    expect(await eventually(() => isSubscriberConnected(name), (isConnected) => !isConnected, 5_000)).toBe(false);
  });

  it('names its subscriber connection `redlock-subscriber` when the client has no name', async () => {
    const adapter = new NodeRedisAdapter(await connected(latest));
    const count = async (): Promise<number> => (await connectionNamesOn(nodes, 0)).filter((name) => name === SUBSCRIBER_CONNECTION_NAME).length;
    const before = await count();
    await adapter.subscribe!(WAKE_CHANNEL_PREFIX + keyNamed('unnamed'), () => undefined);
    try {
      expect(await count()).toBe(before + 1);
    } finally {
      await adapter.close();
    }
  });
});
