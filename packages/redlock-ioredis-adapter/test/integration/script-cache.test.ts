import { randomUUID } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { LatencyProxy } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { useLatencyProxies } from '../support/latency-proxies.js';
import { canInjectFaults, itWithFaults, useRedisNodes } from '../support/redis-servers.js';

// Nodes that lose their script cache (SCRIPT FLUSH, as after a restart or a failover) on a real network
// delay, with default options: EVALSHA, NOSCRIPT, then EVAL takes two round trips, longer than the node
// timeout, so the EVAL must get a timeout of its own, or every node times out and the operation fails (or
// takes a retry). The case, a 30 ms round trip against the 50 ms timeout of a 10 s TTL, leaves
// 20 ms for a loaded machine (a full test run missed it); this runs the same proportions larger, a 200 ms
// round trip against the 300 ms timeout of a 60 s TTL, 100 ms to spare each way, and only around the
// calls under test. `bench/scripts/hardening-figures.mjs` measures the case.

const NODE_COUNT = 5;
/** Its default node timeout is 300 ms: more than one round trip, less than two. */
const TTL_MS = 60_000;
const ONE_WAY_DELAY_MS = 100;
const REPETITIONS = 10;

const redis = useRedisNodes(NODE_COUNT);
const latencyProxies = useLatencyProxies();

let proxies: LatencyProxy[] = [];
/** Direct clients to the nodes, for SCRIPT FLUSH; never used for locks. */
let admins: Redis[] = [];
let prefix = '';

beforeAll(async () => {
  if (!canInjectFaults) return;
  proxies = await Promise.all(redis.nodes.map((node) => latencyProxies.start(node.port)));
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
      /** Sets every proxy's delay: the calls under test are far away, the rest near, to keep the test short. */
      const far = (isFar: boolean): void => {
        for (const proxy of proxies) proxy.delayMs = isFar ? ONE_WAY_DELAY_MS : 0;
      };
      const failures: string[] = [];
      const failed = (step: string) => (error: unknown) => void failures.push(`${step}: ${String(error)}`);
      for (let repetition = 0; repetition < REPETITIONS; repetition += 1) {
        // Every script cached on every node, and known to be: the next calls go by EVALSHA.
        const warm = await redlock.acquire('warm-up', TTL_MS);
        await warm.extend(TTL_MS);
        await (await warm.release()).settled;

        await flushScripts();
        far(true);
        const lock = await redlock.acquire(`resource-${repetition}`, TTL_MS);
        far(false);
        if (lock.attempts !== 1) failures.push(`acquire ${repetition} took ${lock.attempts} attempts`);
        // The NOSCRIPT above made every script go by EVAL: this extend caches the extend script again.
        await lock.extend(TTL_MS).catch(failed(`extend ${repetition} before the flush`));
        await flushScripts();
        far(true);
        await lock.extend(TTL_MS).catch(failed(`extend ${repetition} after the flush`));
        far(false);
        await (await lock.release()).settled;
      }
      expect(failures).toEqual([]);
      const keys = (await Promise.all(admins.map((admin) => admin.keys(`${prefix}*`)))).flat();
      expect(keys).toEqual([]);
    },
    60_000,
  );
});
