import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import { LockAcquireError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { useRedisNodes } from '../support/redis-servers.js';

/** How long each waiter holds the lock, in milliseconds. */
const HOLD_MS = 2;
/**
 * The most a critical section may take on average, in milliseconds: about 4 ms on an idle machine (the
 * 2 ms hold and one hand-off); generous, since the machine is shared and the time is not what is tested.
 */
const MAX_MS_PER_SECTION = 20;

describe('many waiters of one Redlock on one resource, on 5 real nodes with prompt hand-off', () => {
  const redis = useRedisNodes(5);

  /** A Redlock with default options, over clients of its own and a subscriber per node, once they are connected. */
  const newRedlock = async (keyPrefix: string): Promise<Redlock> => {
    const clients = redis.urls.map((_, index) => redis.createClient(index, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }));
    const subscribers = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: null }));
    // Without an offline queue, a command sent before the connection is up fails: wait for it.
    await Promise.all(
      [...clients, ...subscribers].map((client) =>
        client.status === 'ready' ? undefined : new Promise((resolve) => client.once('ready', resolve)),
      ),
    );
    return new Redlock(
      clients.map((client, index) => new IoredisAdapter(client, { subscriber: subscribers[index] })),
      { keyPrefix },
    );
  };

  /** Runs `count` waiters on `redlock`, each holding the lock `HOLD_MS`, and counts what happened. */
  const runWaiters = (redlock: Redlock, count: number, shared: { inside: number; overlaps: number }) =>
    Promise.all(
      Array.from({ length: count }, async (): Promise<'acquired' | 'gave up'> => {
        let lock;
        try {
          lock = await redlock.acquire('orders:42', 10_000);
        } catch (error) {
          if (error instanceof LockAcquireError) return 'gave up';
          throw error;
        }
        shared.inside += 1;
        if (shared.inside > 1) shared.overlaps += 1;
        await delay(HOLD_MS);
        shared.inside -= 1;
        await lock.release();
        return 'acquired';
      }),
    );

  it('gives every one of 300 waiters the lock in turn, none at the same time, at a few milliseconds per hand-off', async () => {
    const redlock = await newRedlock(`many-waiters:${randomUUID()}:`);
    const shared = { inside: 0, overlaps: 0 };
    const startMs = performance.now();
    const outcomes = await runWaiters(redlock, 300, shared);
    const msPerSection = (performance.now() - startMs) / 300;
    expect({ gaveUp: outcomes.filter((outcome) => outcome === 'gave up').length, overlaps: shared.overlaps }).toEqual({ gaveUp: 0, overlaps: 0 });
    expect(msPerSection).toBeLessThan(MAX_MS_PER_SECTION);
  });

  it('gives every waiter of two processes the lock, none at the same time, when both queue on one resource', async () => {
    const prefix = `many-waiters:${randomUUID()}:`;
    const [first, second] = await Promise.all([newRedlock(prefix), newRedlock(prefix)]);
    const shared = { inside: 0, overlaps: 0 };
    const outcomes = (await Promise.all([runWaiters(first, 150, shared), runWaiters(second, 150, shared)])).flat();
    expect({ gaveUp: outcomes.filter((outcome) => outcome === 'gave up').length, overlaps: shared.overlaps }).toEqual({ gaveUp: 0, overlaps: 0 });
  });
});
