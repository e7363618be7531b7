import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { LockExtendError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { wakeListenerCountOf } from '../support/handoff.js';
import { useRedisNodes } from '../support/redis-servers.js';

// A lock handed from one Redlock to another by its resources and token, each on clients of its own, as a
// scheduler hands a job's lock to a worker in another process.

const redis = useRedisNodes(3);
const redlockOn = (): Redlock => new Redlock(redis.urls.map((_, index) => new IoredisAdapter(redis.createClient(index))), { retryCount: 0 });
const valuesOf = (key: string): Promise<(string | null)[]> => Promise.all(redis.urls.map((_, index) => redis.createClient(index).get(key)));

describe('handing a lock over by its token', () => {
  it('adopt() takes it over with a fresh TTL, and the adopted handle releases it', async () => {
    const [scheduler, worker] = [redlockOn(), redlockOn()];
    const resource = `hand-over:${randomUUID()}`;
    // 10 s, under the adopted 30 s: its 1 s timeout on first contact (the most an unmeasured node gets)
    // outlasts a loaded machine, where 1 s of TTL gave 100 ms, and retryCount 0 no second try.
    const held = await scheduler.acquire(`${resource}:job`, 10_000);
    const adopted = await worker.adopt(`${resource}:job`, held.token, 30_000);
    expect(adopted.remainingValidityMs).toBeGreaterThan(29_000);
    const ttls = await Promise.all(redis.urls.map((_, index) => redis.createClient(index).pttl(`${resource}:job`)));
    expect(ttls.filter((ttl) => ttl > 25_000).length).toBeGreaterThanOrEqual(2);
    expect((await adopted.release()).releasedCount).toBeGreaterThanOrEqual(2);
    // A quorum at least: the scheduler's SET to the third node, on a connection of its own, may come later.
    expect((await valuesOf(`${resource}:job`)).filter((value) => value === null).length).toBeGreaterThanOrEqual(2);
    await Promise.all([scheduler.close(), worker.close()]);
  });

  it('adopt() of a token that no longer holds the lock rejects with isLost, and takes nothing', async () => {
    const [scheduler, worker] = [redlockOn(), redlockOn()];
    const resource = `hand-over-lost:${randomUUID()}`;
    const lock = await scheduler.acquire(resource, 5_000);
    await (await lock.release()).settled;
    const next = await scheduler.acquire(resource, 5_000);
    const error = await worker.adopt(resource, lock.token, 5_000).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LockExtendError);
    expect((error as LockExtendError).isLost).toBe(true);
    expect((await valuesOf(resource)).filter((value) => value === next.token).length).toBeGreaterThanOrEqual(2);
    await next.release();
    await Promise.all([scheduler.close(), worker.close()]);
  });

  it('releaseByToken() releases a lock another Redlock acquired, and wakes its waiters', async () => {
    const [scheduler, worker, waiter] = [redlockOn(), redlockOn(), new Redlock(redis.urls.map((_, index) => new IoredisAdapter(redis.createClient(index))), { retryDelayMs: 10_000, retryCount: 1 })];
    const resource = `hand-over-release:${randomUUID()}`;
    const lock = await scheduler.acquire(resource, 30_000);
    // acquire() resolved at a quorum: the third node's SET, on a connection of its own, may come later than
    // the worker's release, which then finds one key fewer than it should. Every node holds it first.
    for (const deadline = Date.now() + 5_000; (await valuesOf(resource)).some((value) => value !== lock.token); await new Promise((resolve) => setTimeout(resolve, 10))) {
      if (Date.now() > deadline) throw new Error('The lock did not reach every node within 5 s');
    }
    const waiting = waiter.acquire(resource, 5_000);
    // The waiter's first attempt found the lock held: it is queued, and listens for its wake; its next
    // timed retry is 10 s away.
    for (const deadline = Date.now() + 5_000; ; await new Promise((resolve) => setTimeout(resolve, 10))) {
      const counts = await Promise.all(redis.urls.map((_, index) => wakeListenerCountOf(redis.createClient(index), resource)));
      if (counts.some((count) => count > 0)) break;
      if (Date.now() > deadline) throw new Error('The waiter did not listen for the release within 5 s');
    }
    const result = await worker.releaseByToken(resource, lock.token);
    expect(result.releasedCount).toBeGreaterThanOrEqual(2);
    // Woken by the release, long before its timed retry.
    const startedAt = Date.now();
    const next = await waiting;
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    await next.release();
    await Promise.all([scheduler.close(), worker.close(), waiter.close()]);
  });
});
