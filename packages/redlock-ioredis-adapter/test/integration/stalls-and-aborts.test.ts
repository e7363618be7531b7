import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { startLatencyProxy, type LatencyProxy } from 'local-redis-nodes';
import { LockAcquireError, LockExtendError, LockLostError, LockReleaseError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { itWithFaults, useRedisNodes } from '../support/redis-servers.js';

/** Blocks the event loop for `ms`, as a long synchronous task or a GC pause would. */
function stallEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Busy: no timer, no socket read, no promise callback runs meanwhile.
  }
}

describe('a holder whose event loop stalls, on 3 real nodes', () => {
  const redis = useRedisNodes(3);

  it('has lock.assertValid() throw right after the stall, while the signal cannot know yet', async () => {
    const redlock = new Redlock(
      redis.urls.map((_, index) => new IoredisAdapter(redis.createClient(index))),
      // A 300 ms TTL kept extended is meant here (`shortTtlMs` takes it): a 400 ms stall outlasts it.
      { keyPrefix: `stall:${randomUUID()}:`, shortTtlMs: 300 },
    );
    let seen: { aborted: boolean; error: unknown } | undefined;
    const using = redlock.using('report', 300, async (signal, lock) => {
      lock.assertValid();
      stallEventLoop(400);
      let error: unknown;
      try {
        lock.assertValid();
      } catch (thrown) {
        error = thrown;
      }
      seen = { aborted: signal.aborted, error };
    });
    // The routine went on after the validity ran out: using() does not resolve as if the lock had held.
    await expect(using).rejects.toBeInstanceOf(LockLostError);
    expect(seen?.aborted).toBe(false);
    expect(seen?.error).toBeInstanceOf(LockLostError);
    expect((seen?.error as Error).message).toBe('The lock on "report" is expired');
  });
});

describe('a waiter whose subscription does not come', () => {
  const redis = useRedisNodes(3);

  itWithFaults('rejects with the signal reason at once when aborted while subscribing, and leaves no key', async () => {
    const keyPrefix = `abort-subscribe:${randomUUID()}:`;
    const clients = redis.urls.map((_, index) => redis.createClient(index));
    // Every subscriber connection goes through a proxy that holds every byte: SUBSCRIBE is never answered.
    const proxies: LatencyProxy[] = await Promise.all(redis.nodes.map((node) => startLatencyProxy({ targetPort: node.port })));
    try {
      for (const proxy of proxies) proxy.partition();
      const subscribers = proxies.map((proxy) => redis.connect(proxy.url, { maxRetriesPerRequest: null }));
      const adapters = clients.map((client, index) => new IoredisAdapter(client, { subscriber: subscribers[index] }));
      // A 10 s TTL with node timeouts of 2 s: the wait for the subscription is bounded only by those.
      const redlock = new Redlock(adapters, { keyPrefix, nodeTimeoutMs: 2_000 });
      const holder = await redlock.acquire('job', 10_000, { retryCount: 0 });
      const abort = new AbortController();
      const reason = new Error('gave up waiting');
      const waiting = redlock.acquire('job', 10_000, { signal: abort.signal }).catch((error: unknown) => error);
      // Long enough for the waiter's first attempt to find the lock held and start subscribing.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const abortedAt = performance.now();
      abort.abort(reason);
      expect(await waiting).toBe(reason);
      expect(performance.now() - abortedAt).toBeLessThan(500);
      await (await holder.release()).settled;
      const left = await Promise.all(clients.map((client) => client.keys(`${keyPrefix}*`)));
      expect(left.flat()).toEqual([]);
    } finally {
      await Promise.all(proxies.map((proxy) => proxy.close()));
    }
  });
});

describe('a hold whose extension needs a stalled node, on 3 real nodes', () => {
  const redis = useRedisNodes(3);

  /**
   * Waits until the lock has `leftMs` of validity left, measured then: a fixed sleep read the property only on
   * a quiet machine (on a busy one the timer came 400 ms late, the keys had expired, and the release then
   * rightly waited for the node timeouts).
   */
  async function untilValidityLeft(lock: { readonly remainingValidityMs: number }, leftMs: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lock.remainingValidityMs - leftMs)));
  }

  /** A lock on 3 nodes with node timeouts of 1.5 s, longer than what is left of it when nodes 1 and 2 stop. */
  async function lockBehindStalledNodes(prefix: string): Promise<{ redlock: Redlock; lock: Awaited<ReturnType<Redlock['acquire']>>; validUntil: number }> {
    const adapters = redis.urls.map((_, index) => new IoredisAdapter(redis.createClient(index)));
    const redlock = new Redlock(adapters, { keyPrefix: `${prefix}:${randomUUID()}:`, nodeTimeoutMs: 1_500 });
    const lock = await redlock.acquire('job', 2_000, { retryCount: 0 });
    return { redlock, lock, validUntil: performance.now() + lock.remainingValidityMs };
  }

  itWithFaults('ends extend() where the validity ends, not a node timeout later, with each node\'s outcome', async () => {
    const { redlock, lock, validUntil } = await lockBehindStalledNodes('extend-stalled');
    try {
      // 600 ms left: a timer late by as much still stops the nodes before the end, and the node timeouts
      // (1.5 s) end well after it.
      await untilValidityLeft(lock, 600);
      redis.nodes[1]?.pause();
      redis.nodes[2]?.pause();
      const error = await lock.extend(2_000).catch((failure: unknown) => failure);
      const endedAt = performance.now();
      expect(error).toBeInstanceOf(LockExtendError);
      expect((error as LockExtendError).message).toMatch(/its validity ended before a quorum agreed/);
      expect((error as LockExtendError).nodes.map((node) => node.status)).toEqual(['extended', 'timeout', 'timeout']);
      // On 9fd2e2a it settled when the node timeouts ran out, 1.1 s after the validity.
      expect(endedAt - validUntil).toBeLessThan(500);
    } finally {
      redis.nodes[1]?.resume();
      redis.nodes[2]?.resume();
      await redlock.close();
    }
  });

  itWithFaults('ends release() where the keys expire, not a node timeout later, with each node\'s outcome', async () => {
    const { redlock, lock, validUntil } = await lockBehindStalledNodes('release-stalled');
    try {
      // 600 ms left: a timer late by as much still stops the nodes before the end, and the node timeouts
      // (1.5 s) end well after it.
      await untilValidityLeft(lock, 600);
      redis.nodes[1]?.pause();
      redis.nodes[2]?.pause();
      const error = await lock.release().catch((failure: unknown) => failure);
      const endedAt = performance.now();
      expect(error).toBeInstanceOf(LockReleaseError);
      expect((error as LockReleaseError).message).toMatch(/its keys expired before a quorum confirmed/);
      expect((error as LockReleaseError).nodes.map((node) => node.status)).toEqual(['released', 'timeout', 'timeout']);
      // On 9fd2e2a it settled when the node timeouts ran out, 1.1 s after the keys expired.
      expect(endedAt - validUntil).toBeLessThan(500);
    } finally {
      redis.nodes[1]?.resume();
      redis.nodes[2]?.resume();
      await redlock.close();
    }
  });

  itWithFaults('ends a re-entry that needs an extension at its waitMs, and at its signal', async () => {
    const { redlock, lock } = await lockBehindStalledNodes('reenter-stalled');
    try {
      redis.nodes[1]?.pause();
      redis.nodes[2]?.pause();
      let startedAt = performance.now();
      const expired = await redlock.acquire('job', 10_000, { reentrant: lock, waitMs: 50 }).catch((failure: unknown) => failure);
      expect(expired).toBeInstanceOf(LockAcquireError);
      expect((expired as LockAcquireError).waitMs).toBe(50);
      // On 9fd2e2a it waited for the node timeouts (1.5 s); the validity left was longer still.
      expect(performance.now() - startedAt).toBeLessThan(1_000);
      startedAt = performance.now();
      const aborted = await redlock.acquire('job', 10_000, { reentrant: lock, signal: AbortSignal.timeout(50) }).catch((failure: unknown) => failure);
      expect((aborted as Error).name).toBe('TimeoutError');
      expect(performance.now() - startedAt).toBeLessThan(1_000);
    } finally {
      redis.nodes[1]?.resume();
      redis.nodes[2]?.resume();
      await redlock.close();
    }
  });
});
