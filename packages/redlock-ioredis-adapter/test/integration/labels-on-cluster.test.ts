import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from 'ioredis';
import { Redlock } from 'redlock-core';
// Test-only deep import: where a label goes is internal to the core, and this file checks it on a real cluster.
import { labelKeyOf } from '../../../redlock-core/src/scripts/label.js';
import { IoredisAdapter } from '../../src/index.js';
import { canStartCluster, useRedisCluster } from '../support/redis-servers.js';

// Labels (and the inspection that reads them) on a Redis Cluster, for every shape of name: a label key must
// be in its lock key's hash slot, or every script that takes both fails with CROSSSLOT. A name with a `}`
// outside a hash tag is hashed whole, and no tag can name it: its label goes by the slot's own tag.

const KEY_PREFIX = 'cluster-labels:';
/** Names hashed by a tag, hashed whole, and hashed whole with a `}` in them (the hard case). */
const NAMES = ['jobs', '{jobs}:1', 'jobs}x', 'a}b{c', '{}x}', 'x}{y}z'];

(canStartCluster ? describe : describe.skip)('lock labels on a Redis Cluster', () => {
  const cluster = useRedisCluster(3);
  let client: Cluster;
  let redlock: Redlock;

  beforeAll(async () => {
    client = cluster.createClient();
    // Slot discovery happens on the first command: do it before the tests.
    await client.ping();
    redlock = new Redlock([new IoredisAdapter(client)], { keyPrefix: KEY_PREFIX, retryCount: 0, nodeTimeoutMs: 2_000 });
  });
  afterAll(async () => {
    await redlock?.close();
  });

  it.each(NAMES)('keeps the label of %j in the slot of its lock key', async (name) => {
    const key = KEY_PREFIX + name;
    expect(await client.cluster('KEYSLOT', labelKeyOf(key))).toBe(await client.cluster('KEYSLOT', key));
  });

  it.each(NAMES)('inspects %j, labels its lock, and keeps extending it', async (name) => {
    expect(await redlock.inspect(name)).toMatchObject({ isLocked: false, label: undefined });
    // Fenced where its counter key shares the slot too (not yet for a name hashed whole with a `}`).
    const lock = await redlock.acquire(name, 10_000, { fencing: !name.includes('}') });
    try {
      await lock.setLabel('host-a');
      expect(await redlock.inspect(name)).toMatchObject({ isLocked: true, label: 'host-a' });
      await lock.extend(10_000);
      await lock.extend(10_000);
      expect(lock.state).toBe('held');
      expect(await redlock.inspect(name)).toMatchObject({ isLocked: true, label: 'host-a' });
    } finally {
      await lock.release();
    }
  });
});
