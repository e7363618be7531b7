import { randomUUID } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { LatencyProxy } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { useLatencyProxies } from '../support/latency-proxies.js';
import { canInjectFaults, itWithFaults, useRedisNodes } from '../support/redis-servers.js';

// Nodes that lose their script cache (SCRIPT FLUSH, as after a restart or a failover) on a real network
// delay: 5 nodes behind proxies adding 15 ms each way, a 30 ms round trip, with the default node timeout
// of a 10 s TTL (50 ms). EVALSHA, NOSCRIPT, then EVAL takes two round trips, 60 ms: the EVAL must get a
// timeout of its own, or every node times out and the operation fails (or takes a retry).

const NODE_COUNT = 5;
const TTL_MS = 10_000;
const ONE_WAY_DELAY_MS = 15;
const REPETITIONS = 10;

const redis = useRedisNodes(NODE_COUNT);
const latencyProxies = useLatencyProxies();

let proxies: LatencyProxy[] = [];
/** Direct clients to the nodes, for SCRIPT FLUSH; never used for locks. */
let admins: Redis[] = [];
let prefix = '';

beforeAll(async () => {
  if (!canInjectFaults) return;
  proxies = await Promise.all(redis.nodes.map((node) => latencyProxies.start(node.port, ONE_WAY_DELAY_MS)));
  admins = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: 1 }));
});
beforeEach(() => {
  prefix = `script-cache:${randomUUID()}:`;
});

async function flushScripts(): Promise<void> {
  await Promise.all(admins.map((admin) => admin.script('FLUSH')));
}

describe(`nodes that lost their scripts, ${2 * ONE_WAY_DELAY_MS} ms away`, () => {
  itWithFaults(
    `acquire on the first attempt and extend after SCRIPT FLUSH with default options, ${REPETITIONS} times out of ${REPETITIONS}`,
    async () => {
      const clients = proxies.map((proxy) => redis.connect(proxy.url));
      const redlock = new Redlock(
        clients.map((client) => new IoredisAdapter(client)),
        { keyPrefix: prefix },
      );
      const failures: string[] = [];
      const failed = (step: string) => (error: unknown) => void failures.push(`${step}: ${String(error)}`);
      for (let repetition = 0; repetition < REPETITIONS; repetition += 1) {
        // Every script cached on every node, and known to be: the next calls go by EVALSHA.
        const warm = await redlock.acquire('warm-up', TTL_MS);
        await warm.extend(TTL_MS);
        await (await warm.release()).settled;

        await flushScripts();
        const lock = await redlock.acquire(`resource-${repetition}`, TTL_MS);
        if (lock.attempts !== 1) failures.push(`acquire ${repetition} took ${lock.attempts} attempts`);
        // The NOSCRIPT above made every script go by EVAL: this extend caches the extend script again.
        await lock.extend(TTL_MS).catch(failed(`extend ${repetition} before the flush`));
        await flushScripts();
        await lock.extend(TTL_MS).catch(failed(`extend ${repetition} after the flush`));
        await (await lock.release()).settled;
      }
      expect(failures).toEqual([]);
      const keys = (await Promise.all(admins.map((admin) => admin.keys(`${prefix}*`)))).flat();
      expect(keys).toEqual([]);
    },
    30_000,
  );
});
