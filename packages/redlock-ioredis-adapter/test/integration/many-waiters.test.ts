import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import { LockAcquireError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { recordAttempts } from '../support/attempt-trace.js';
import { useRedisNodes } from '../support/redis-servers.js';

/** How long each waiter holds the lock, in milliseconds. */
const HOLD_MS = 2;

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

  it('gives every one of 300 waiters the lock in turn, none at the same time, each handed off by the release', async () => {
    const redlock = await newRedlock(`many-waiters:${randomUUID()}:`);
    const shared = { inside: 0, overlaps: 0 };
    const recording = recordAttempts('orders:42');
    let outcomes: ('acquired' | 'gave up')[];
    try {
      outcomes = await runWaiters(redlock, 300, shared);
    } finally {
      recording.stop();
    }
    expect({ gaveUp: outcomes.filter((outcome) => outcome === 'gave up').length, overlaps: shared.overlaps }).toEqual({ gaveUp: 0, overlaps: 0 });
    // How each waiter got the lock, from the attempt trace rather than from the time it took (the
    // milliseconds are the bench's): every one by its first attempt, which it makes once the previous
    // holder in this process released (its turn in the process's own queue, not a node's wake: no node
    // started it, so it asks every node), none by a timed retry 200 ± 100 ms later.
    const acquiring = recording.attempts.filter((attempt) => attempt.result?.outcome === 'acquired');
    expect(acquiring).toHaveLength(300);
    expect(acquiring.filter((attempt) => attempt.attemptNumber !== 1)).toEqual([]);
  });

  it('gives every waiter of two processes the lock, none at the same time, when both queue on one resource', async () => {
    const prefix = `many-waiters:${randomUUID()}:`;
    const [first, second] = await Promise.all([newRedlock(prefix), newRedlock(prefix)]);
    const shared = { inside: 0, overlaps: 0 };
    const outcomes = (await Promise.all([runWaiters(first, 150, shared), runWaiters(second, 150, shared)])).flat();
    expect({ gaveUp: outcomes.filter((outcome) => outcome === 'gave up').length, overlaps: shared.overlaps }).toEqual({ gaveUp: 0, overlaps: 0 });
  });
});
