import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from 'ioredis';
import { LockAcquireError, NodeError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { describeAdapterContract } from '../support/adapter-contract.js';
import { canStartCluster, useRedisCluster, useRedisNodes } from '../support/redis-servers.js';

const KEY_PREFIX = 'ioredis-adapter-test:';

const redis = useRedisNodes(1);

describeAdapterContract('IoredisAdapter over a Redis client', () => {
  const client = redis.createClient(0);
  return { adapter: new IoredisAdapter(client), ping: () => client.ping() };
});

(canStartCluster ? describe : describe.skip)('IoredisAdapter over a Redis Cluster', () => {
  const cluster = useRedisCluster(3);

  describeAdapterContract('IoredisAdapter over a Cluster client', () => {
    const client = cluster.createClient();
    return { adapter: new IoredisAdapter(client), ping: () => client.ping() };
  });

  describe('Redlock with the cluster as its one node', () => {
    let client: Cluster;
    let redlock: Redlock;

    beforeAll(() => {
      client = cluster.createClient();
      redlock = new Redlock([new IoredisAdapter(client)], { keyPrefix: KEY_PREFIX, retryCount: 0 });
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

    it('refuses a second owner while the lock is held', async () => {
      const lock = await redlock.acquire(['{order:7}:items', '{order:7}:payment'], 10_000);
      try {
        const error = await redlock.acquire(['{order:7}:payment'], 10_000).catch((failure: unknown) => failure);
        expect(error).toBeInstanceOf(LockAcquireError);
        expect((error as LockAcquireError).reason).toBe('held-by-another-owner');
      } finally {
        await lock.release();
      }
    });

    it('fails with a NodeError that mentions CROSSSLOT when resources hash to different slots', async () => {
      const resources = ['{order:1}:items', '{order:2}:items'];
      const [firstSlot, secondSlot] = await Promise.all(
        resources.map((resource) => client.cluster('KEYSLOT', KEY_PREFIX + resource)),
      );
      expect(firstSlot).not.toBe(secondSlot);

      const error = await redlock.acquire(resources, 10_000).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(LockAcquireError);
      const { reason, nodeErrors } = error as LockAcquireError;
      expect(reason).toBe('nodes-unreachable');
      expect(nodeErrors[0]).toBeInstanceOf(NodeError);
      expect(nodeErrors[0]?.nodeIndex).toBe(0);
      expect(nodeErrors[0]?.message).toMatch(/CROSSSLOT/);
      expect((nodeErrors[0]?.cause as Error).message).toMatch(/^CROSSSLOT /);
      for (const resource of resources) expect(await client.exists(KEY_PREFIX + resource)).toBe(0);
    });
  });
});
