import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';
import { MisconfiguredNodeError, NodeError, type RedisAdapter, Redlock } from 'redlock-core';
import { type AdapterFactory, describeAdapterContract, type TestFunctions, useTestCluster } from 'redlock-adapter-test-kit';
import { IoredisAdapter, type IoredisAdapterOptions } from '../../src/index.js';
import { canStartCluster, useRedisNodes } from '../support/redis-servers.js';

const KEY_PREFIX = 'ioredis-adapter-test:';
const test: TestFunctions = { describe, it, beforeAll, afterAll, beforeEach, afterEach };

const redis = useRedisNodes(1);

/** Connects a client (a `Redis`, or a `Cluster` seeded with the URL), waits until it answers, wraps it. */
function ioredisFactory(kind: 'redis' | 'cluster', adapterOptions: (client: Redis | Cluster) => IoredisAdapterOptions = () => ({})): AdapterFactory {
  return async (url) => {
    const { hostname, port } = new URL(url);
    const client = kind === 'redis' ? new Redis(url) : new Cluster([{ host: hostname, port: Number(port) }]);
    client.on('error', () => undefined);
    await client.ping();
    const options = adapterOptions(client);
    const adapter = new IoredisAdapter(client, options);
    return {
      adapter,
      close: async () => {
        // What the adapter opened (its own subscriber), then the clients the test made.
        await adapter.close();
        for (const each of [client, options.subscriber as Redis | undefined]) each?.disconnect();
      },
    };
  };
}

describeAdapterContract({ name: 'IoredisAdapter over a Redis client', test, connect: ioredisFactory('redis') });
describeAdapterContract({
  name: 'IoredisAdapter with a subscriber',
  test,
  connect: ioredisFactory('redis', (client) => ({ subscriber: (client as Redis).duplicate() })),
});

(canStartCluster ? describe : describe.skip)('IoredisAdapter over a Redis Cluster', () => {
  const cluster = useTestCluster(test);

  describeAdapterContract({ name: 'IoredisAdapter over a Cluster client', test, connect: ioredisFactory('cluster'), cluster: true, nodes: cluster });

  describe('Redlock with the cluster as its one node', () => {
    let client: Cluster;
    let redlock: Redlock;

    beforeAll(async () => {
      client = new Cluster(cluster.urls.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) })));
      // Slot discovery happens on the first command: do it before the tests, and give each call room on a
      // loaded machine, since none of these tests is about timeouts.
      await client.ping();
      redlock = new Redlock([new IoredisAdapter(client)], { keyPrefix: KEY_PREFIX, retryCount: 0, nodeTimeoutMs: 2_000 });
    });
    afterAll(async () => {
      await redlock.close();
      client.disconnect();
    });

    it('acquires, extends and releases resources that share a hash tag', async () => {
      const resources = ['{order:42}:items', '{order:42}:payment'];
      const keys = resources.map((resource) => KEY_PREFIX + resource);

      const lock = await redlock.acquire(resources, 10_000);
      expect(lock.state).toBe('held');
      for (const key of keys) {
        expect(await client.get(key)).toBe(lock.token);
        expect(await client.pttl(key)).toBeLessThanOrEqual(10_000);
      }

      await lock.extend(60_000);
      for (const key of keys) expect(await client.pttl(key)).toBeGreaterThan(50_000);

      const result = await lock.release();
      expect(result.releasedCount).toBe(1);
      for (const key of keys) expect(await client.exists(key)).toBe(0);
    });

    it('fails with MisconfiguredNodeError, telling to use a hash tag, when resources hash to different slots', async () => {
      const resources = ['{order:1}:items', '{order:2}:items'];
      const [firstSlot, secondSlot] = await Promise.all(
        resources.map((resource) => client.cluster('KEYSLOT', KEY_PREFIX + resource)),
      );
      expect(firstSlot).not.toBe(secondSlot);

      const error = await redlock.acquire(resources, 10_000).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(MisconfiguredNodeError);
      const { problem, nodeIndexes, nodeErrors, message } = error as MisconfiguredNodeError;
      expect(problem).toBe('cross-slot');
      expect(nodeIndexes).toEqual([0]);
      expect(message).toMatch(/hash tag/);
      expect(nodeErrors[0]).toBeInstanceOf(NodeError);
      expect(nodeErrors[0]?.message).toMatch(/CROSSSLOT/);
      expect((nodeErrors[0]?.cause as Error).message).toMatch(/^CROSSSLOT /);
      for (const resource of resources) expect(await client.exists(KEY_PREFIX + resource)).toBe(0);
    });
  });
});

describe('IoredisAdapter over a client that throws', () => {
  it.each(['evalsha', 'eval'] as const)('rejects %s with what the client threw, never throwing itself', async (method) => {
    const thrown = new Error('client bug');
    const throwing = () => {
      throw thrown;
    };
    // Only the two methods the adapter calls: a stand-in for a client in a state it cannot handle.
    const client = { evalsha: throwing, eval: throwing } as unknown as Redis;
    const adapter = new IoredisAdapter(client);
    let pending: Promise<unknown> | undefined;
    expect(() => {
      pending = adapter[method]('script', ['key'], ['arg']);
    }).not.toThrow();
    await expect(pending).rejects.toBe(thrown);
  });
});

describe('Redlock over IoredisAdapters', () => {
  it('exposes the client it wraps, as given', () => {
    const client = redis.createClient(0);
    expect(new IoredisAdapter(client).client).toBe(client);
  });

  it('refuses one client in two adapters, which would count one server as two nodes', () => {
    const [shared, other] = [redis.createClient(0), redis.createClient(0)];
    const adapters = [new IoredisAdapter(shared), new IoredisAdapter(shared), new IoredisAdapter(other)];
    expect(() => new Redlock(adapters)).toThrow(TypeError);
    expect(() => new Redlock(adapters)).toThrow('got the same client at `nodes[0]` and `nodes[1]`');
  });

  it('refuses a raw ioredis Redis or Cluster client, saying to wrap it in an IoredisAdapter', () => {
    const advice = 'got what looks like an ioredis client: wrap it in one, e.g. `new IoredisAdapter(client)`';
    const client = redis.createClient(0);
    expect(() => new Redlock([client as unknown as RedisAdapter])).toThrow(TypeError);
    expect(() => new Redlock([client as unknown as RedisAdapter])).toThrow(`Expected \`nodes[0]\` to be an adapter, ${advice}`);
    // Never connected: the check looks at the object only.
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    try {
      expect(() => new Redlock([{ adapter: cluster as unknown as RedisAdapter }])).toThrow(`Expected \`nodes[0].adapter\` to be an adapter, ${advice}`);
    } finally {
      cluster.disconnect();
    }
  });
});

describe('IoredisAdapter subscriptions', () => {
  /** Publishes on `channel` from a client of its own; resolves with the number of subscribed connections. */
  const published = async (channel: string): Promise<number> => redis.createClient(0).publish(channel, '1');

  it('has the subscribe capability by default, and none with `notifications: false`', () => {
    expect(new IoredisAdapter(redis.createClient(0)).subscribe).toBeInstanceOf(Function);
    expect(new IoredisAdapter(redis.createClient(0), { notifications: false }).subscribe).toBeUndefined();
  });

  it('refuses the main client as its own subscriber', () => {
    const client = redis.createClient(0);
    expect(() => new IoredisAdapter(client, { subscriber: client })).toThrow(TypeError);
  });

  it('delivers messages while subscribed, shares one SUBSCRIBE per channel, and stops after the last unsubscribe', async () => {
    const subscriber = redis.createClient(0);
    const adapter = new IoredisAdapter(redis.createClient(0), { subscriber });
    const channel = `${KEY_PREFIX}released:${Date.now()}`;
    const received: string[] = [];
    const first = await adapter.subscribe!(channel, () => received.push('first'));
    const second = await adapter.subscribe!(channel, () => received.push('second'));
    expect(await published(channel)).toBe(1); // one subscribed connection, however many listeners
    await waitFor(() => received.length === 2);
    expect(received.sort()).toEqual(['first', 'second']);

    await first();
    await first(); // a second call is a no-op
    expect(await published(channel)).toBe(1);
    await waitFor(() => received.length === 3);
    expect(received[2]).toBe('second');

    await second();
    expect(await published(channel)).toBe(0);
    // The subscriber connection is back to normal mode: the adapter never closes it.
    expect(await subscriber.ping()).toBe('PONG');
  });
});

/** Polls `condition` every 10 ms for at most 2 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let tries = 0; tries < 200 && !condition(); tries += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}
