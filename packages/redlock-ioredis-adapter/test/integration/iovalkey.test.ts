import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RedisOptions as ValkeyOptions, Redis as Valkey } from 'iovalkey';
import { LockAcquireError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { SUBSCRIBER_CONNECTION_NAME } from '../../src/owned-subscriber.js';
import { eventually } from '../support/eventually.js';
import { connectionNamesOn, HAND_OFF_RETRY_DELAY_MS, handOff, wakeListenerCountOf } from '../support/handoff.js';
import { useRedisNodes } from '../support/redis-servers.js';

// iovalkey is the ioredis fork of the Valkey project; it speaks to redis-server as well.
const KEY_PREFIX = 'iovalkey-test:';
const NODE_COUNT = 3;

const redis = useRedisNodes(NODE_COUNT);
const clients: Valkey[] = [];

/** An iovalkey client to node `index`, quit after the tests by {@link quitClients}. */
function valkeyClient(index: number, options: ValkeyOptions = {}): Valkey {
  const client = new Valkey(redis.urls[index]!, { maxRetriesPerRequest: 0, ...options });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

/** Quits every iovalkey client; runs in the `describe`, so before the file's nodes are stopped. */
async function quitClients(): Promise<void> {
  await Promise.all(clients.map((client) => (client.status === 'end' ? undefined : client.quit().catch(() => client.disconnect()))));
}

describe('Redlock over IoredisAdapters with iovalkey clients', () => {
  let adapters: IoredisAdapter[];
  let redlock: Redlock;

  beforeAll(() => {
    adapters = Array.from({ length: NODE_COUNT }, (_, index) => new IoredisAdapter(valkeyClient(index, { connectionName: 'iovalkey-test' })));
    redlock = new Redlock(adapters, { keyPrefix: KEY_PREFIX, retryCount: 0 });
  });
  afterAll(async () => {
    await Promise.all(adapters.map((adapter) => adapter.close()));
    await quitClients();
  });

  it('acquires on every node right after the clients were created, and releases', async () => {
    const resource = `orders:${randomUUID()}`;
    const lock = await redlock.acquire(resource, 10_000);
    expect(lock.state).toBe('held');
    for (let index = 0; index < NODE_COUNT; index += 1) {
      expect(await redis.createClient(index).get(KEY_PREFIX + resource)).toBe(lock.token);
    }
    const result = await lock.release();
    // It resolves at a quorum; the last node's release may still be on its way.
    expect(result.releasedCount).toBeGreaterThanOrEqual(2);
    const remaining = () => Promise.all(Array.from({ length: NODE_COUNT }, (_, index) => redis.createClient(index).exists(KEY_PREFIX + resource)));
    expect(await eventually(remaining, (counts) => counts.every((count) => count === 0), 5_000)).toEqual([0, 0, 0]);
  });

  it('refuses a second owner while the lock is held', async () => {
    const resource = `orders:${randomUUID()}`;
    const lock = await redlock.acquire(resource, 10_000);
    try {
      const error = await redlock.acquire(resource, 10_000).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(LockAcquireError);
      expect((error as LockAcquireError).reason).toBe('held-by-another-owner');
    } finally {
      await lock.release();
    }
  });

  it('wakes a waiter by the release notification, on a subscriber connection of its own', async () => {
    const resource = `orders:${randomUUID()}`;
    const admin = redis.createClient(0);
    const waiter = new IoredisAdapter(valkeyClient(0, { connectionName: 'iovalkey-test-waiter' }));
    try {
      const wokenAfterMs = await handOff({
        holder: new IoredisAdapter(valkeyClient(0), { notifications: false }),
        waiter,
        resource,
        subscriberCount: () => wakeListenerCountOf(admin, resource),
      });
      expect(wokenAfterMs).toBeLessThan(HAND_OFF_RETRY_DELAY_MS);
      expect(await connectionNamesOn(admin)).toContain(`iovalkey-test-waiter:${SUBSCRIBER_CONNECTION_NAME}`);
    } finally {
      await waiter.close();
    }
    const names = await eventually(() => connectionNamesOn(admin), (read) => !read.includes(`iovalkey-test-waiter:${SUBSCRIBER_CONNECTION_NAME}`), 5_000);
    expect(names).not.toContain(`iovalkey-test-waiter:${SUBSCRIBER_CONNECTION_NAME}`);
  });

  it('wakes a waiter by the release notification when the clients have a keyPrefix', async () => {
    const resource = `orders:${randomUUID()}`;
    const admin = redis.createClient(0);
    const waiter = new IoredisAdapter(valkeyClient(0, { keyPrefix: KEY_PREFIX }));
    try {
      const wokenAfterMs = await handOff({
        holder: new IoredisAdapter(valkeyClient(0, { keyPrefix: KEY_PREFIX }), { notifications: false }),
        waiter,
        resource,
        subscriberCount: () => wakeListenerCountOf(admin, KEY_PREFIX + resource),
      });
      expect(wokenAfterMs).toBeLessThan(HAND_OFF_RETRY_DELAY_MS);
    } finally {
      await waiter.close();
    }
  });
});
