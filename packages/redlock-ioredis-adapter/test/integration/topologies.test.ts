import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { LatencyProxy } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { eventually } from '../support/eventually.js';
import { useLatencyProxies } from '../support/latency-proxies.js';
import { itWithFaults, useRedisNodes } from '../support/redis-servers.js';

/**
 * Multi-datacenter topologies on one machine: 5 real nodes, each behind a latency proxy adding half the
 * round trip each way, the client in datacenter A. Every operation runs at default options (no timeout
 * set anywhere), as a user who never heard of node timeouts would.
 */
const TOPOLOGIES: readonly { name: string; rttsMs: readonly number[]; blackholed?: readonly number[] }[] = [
  { name: 'T1 (0, 0, 30, 30, 80 ms)', rttsMs: [0, 0, 30, 30, 80] },
  { name: 'T2 (10, 30, 30, 80, 80 ms)', rttsMs: [10, 30, 30, 80, 80] },
  { name: 'T3 (T1 with the 80 ms node and one 30 ms node black-holed)', rttsMs: [0, 0, 30, 30, 80], blackholed: [3, 4] },
  { name: 'T4 (0, 0, 70, 70, 140 ms)', rttsMs: [0, 0, 70, 70, 140] },
];

describe('multi-datacenter topologies, at default options, on 5 real nodes', () => {
  const redis = useRedisNodes(5);
  const clients: Redis[] = [];
  // Before the proxies' own afterAll: clients close through proxies that still forward.
  afterAll(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });
  const proxies = useLatencyProxies();

  async function topology(rttsMs: readonly number[]): Promise<LatencyProxy[]> {
    return Promise.all(rttsMs.map((rttMs, index) => proxies.start(Number(new URL(redis.urls[index] as string).port), rttMs / 2)));
  }

  function redlockOver(nodeProxies: readonly LatencyProxy[], keyPrefix: string): Redlock {
    const adapters = nodeProxies.map((proxy) => {
      const client = new Redis(proxy.url, { maxRetriesPerRequest: 1 });
      const subscriber = client.duplicate({ maxRetriesPerRequest: null });
      clients.push(client, subscriber);
      return new IoredisAdapter(client, { subscriber });
    });
    return new Redlock(adapters, { keyPrefix });
  }

  async function keysLeft(keyPrefix: string): Promise<number[]> {
    return Promise.all(redis.urls.map((_, index) => redis.createClient(index).keys(`${keyPrefix}*`).then((keys) => keys.length)));
  }

  for (const { name, rttsMs, blackholed = [] } of TOPOLOGIES) {
    itWithFaults(`${name}: acquires, extends, releases, auto-extends past the TTL and hands off, leaving no key`, async () => {
      const keyPrefix = `topology:${randomUUID()}:`;
      const nodeProxies = await topology(rttsMs);
      for (const index of blackholed) nodeProxies[index]?.partition();
      try {
        const redlock = redlockOver(nodeProxies, keyPrefix);
        // A single try: the first call to each node, which also connects the client, must already succeed,
        // as in a fresh CLI process.
        const lock = await redlock.acquire('a', 10_000, { retryCount: 0 });
        await lock.extend(10_000);
        await lock.release();

        let wasAborted = true;
        await redlock.using('b', 2_000, async (signal) => {
          await delay(2_300);
          wasAborted = signal.aborted;
        });
        expect(wasAborted).toBe(false);

        // Hand-off to another client: it waits on its retry timer of 3 s unless the release wakes it.
        const other = redlockOver(nodeProxies, keyPrefix);
        const holder = await redlock.acquire('c', 5_000);
        const waiting = other.acquire('c', 5_000, { retryDelayMs: 3_000, retryJitterMs: 0 });
        await delay(400);
        const releasedAt = performance.now();
        await holder.release();
        const next = await waiting;
        expect(performance.now() - releasedAt).toBeLessThan(2_000);
        await next.release();

        const health = redlock.nodeHealth();
        for (const [index, node] of health.entries()) {
          if (blackholed.includes(index)) continue;
          // Answering nodes are never judged timed out, however far.
          expect(node).toMatchObject({ state: 'up', timeoutsInARow: 0 });
        }
      } finally {
        for (const index of blackholed) nodeProxies[index]?.heal();
      }
      expect(await eventually(() => keysLeft(keyPrefix), (counts) => counts.every((count) => count === 0), 5_000)).toEqual([0, 0, 0, 0, 0]);
    });
  }
});
