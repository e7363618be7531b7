import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { useRedisNodes } from '../support/redis-servers.js';

// A worker loop on 3 real nodes: one Redlock that releases a lock and takes it back at once, again and again.
// Its releases wake waiters through one node, and through every node at least every 50 ms
// (`ONE_NODE_WAKES_MS`, lock/release.ts), so a loop costs the nodes one wake's queue work per release, not three.

const redis = useRedisNodes(3);

/** How many `PTTL` commands node `admin` has run: the waking release script runs one (on the key's wait queue) where a quiet one runs none. */
async function pttlCallsOn(admin: Redis): Promise<number> {
  const stats = (await admin.info('commandstats')) as string;
  return Number(/cmdstat_pttl:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe('a worker loop that takes a lock back at once', () => {
  it('wakes through one node per release, and through every node at least every 50 ms', async () => {
    const admins = redis.urls.map((_, index) => redis.createClient(index));
    const redlock = new Redlock(redis.urls.map((_, index) => new IoredisAdapter(redis.createClient(index))), { retryCount: 0 });
    const resource = `worker-loop:${randomUUID()}`;
    // Every node known (its first contact done) before the count starts.
    await (await redlock.acquire(resource, 10_000)).release();
    const before = await Promise.all(admins.map(pttlCallsOn));
    const startedAt = performance.now();
    let releases = 0;
    for (; releases < 60 || performance.now() - startedAt < 200; releases += 1) {
      const lock = await redlock.acquire(resource, 10_000);
      // Every node's release answered before the next acquisition, so that its SET finds the key gone.
      await (await lock.release()).settled;
    }
    const elapsedMs = performance.now() - startedAt;
    const after = await Promise.all(admins.map(pttlCallsOn));
    const waking = after.reduce((sum, count, index) => sum + count - (before[index] ?? 0), 0);
    // One node per release, and the two others at the releases that woke through every node: the first,
    // then at most one per 50 ms of the loop (each release that came 50 ms or more after the last such one).
    const everyNodeWakesAtMost = 1 + Math.ceil(elapsedMs / 50);
    expect(waking).toBeGreaterThanOrEqual(releases);
    expect(waking).toBeLessThanOrEqual(releases + 2 * everyNodeWakesAtMost);
    await redlock.close();
  });
});
