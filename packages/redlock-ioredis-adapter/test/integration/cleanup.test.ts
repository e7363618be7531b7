import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { beforeAll, beforeEach, describe, expect } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { LatencyProxy } from 'local-redis-nodes';
import { LockAcquireError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { eventually } from '../support/eventually.js';
import { useLatencyProxies } from '../support/latency-proxies.js';
import { itWithFaults, useRedisNodes } from '../support/redis-servers.js';

// Keys that must be removed although the node could not be told at the time, on real redis-server
// processes: a failed attempt's cleanup dropped by a fail-fast client while its connection was down, and
// the keys of nodes that granted late, after the outer of two re-entrant handles was released. Bounded in
// time; stops by itself.

const NODE_COUNT = 5;

const redis = useRedisNodes(NODE_COUNT);
const proxies = useLatencyProxies();

/** Direct clients to the nodes, for looking at keys; never used for locks. */
let admins: Redis[] = [];
let prefix = '';

beforeAll(() => {
  admins = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: 1 }));
});
beforeEach(() => {
  prefix = `cleanup:${randomUUID()}:`;
});

/** What key `key` holds on each node, by node index. */
const valuesOf = (key: string): Promise<(string | null)[]> => Promise.all(admins.map((admin) => admin.get(key)));

async function keysOfTest(): Promise<string[]> {
  return (await Promise.all(admins.map((admin) => admin.keys(`${prefix}*`)))).flat();
}

/** A proxy in front of node `index`, adding `delayMs` each way. */
const proxyTo = (index: number, delayMs = 0): Promise<LatencyProxy> => proxies.start((redis.nodes[index] as { port: number }).port, delayMs);

describe('the cleanup of a failed attempt', () => {
  const TTL_MS = 30_000;
  /** How long the fail-fast client waits before it reconnects, in milliseconds. */
  const RECONNECT_DELAY_MS = 1_000;

  itWithFaults('is sent again once a fail-fast connection that dropped it is back, long before the keys expire', async () => {
    const proxy = await proxyTo(0);
    // Node 0 as the adapter README advises: commands fail at once while its connection is down.
    const failFast = redis.connect(proxy.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => RECONNECT_DELAY_MS });
    if (failFast.status !== 'ready') await once(failFast, 'ready');
    const nodes = [{ adapter: new IoredisAdapter(failFast), timeoutMs: 5_000 }, ...[1, 2].map((index) => new IoredisAdapter(redis.createClient(index)))];
    const redlock = new Redlock(nodes, { keyPrefix: prefix, retryCount: 0 });
    await (await (await redlock.acquire('warm-up', TTL_MS)).release()).settled;

    // Another owner holds the lock on nodes 1 and 2: only node 0 grants, and the attempt fails.
    const key = `${prefix}cut`;
    await Promise.all([1, 2].map((index) => admins[index]?.set(key, 'another-owner', 'PX', TTL_MS)));
    proxy.delayMs = 200;
    const acquiring = redlock.acquire('cut', TTL_MS).catch((error: unknown) => error);
    // Node 0 ran the acquire script while its reply is still on the way: the connection drops now.
    const [granted] = await eventually(() => valuesOf(key), ([value]) => value !== null, 2_000);
    expect(granted).toEqual(expect.any(String));
    proxy.cutConnections();
    proxy.delayMs = 0;
    const error = (await acquiring) as LockAcquireError;
    expect(error).toBeInstanceOf(LockAcquireError);
    // A single try ends once nodes 1 and 2 refused: node 0 had not answered yet.
    expect(error.attempts[0]?.nodes.map((node) => node.status)).toEqual(['timeout', 'held', 'held']);
    expect(error.message).toContain('1 not answered yet');

    // The release could not be sent: the key is still there while the client reconnects. (The try ended
    // before the cut, so the client may not have seen it yet.)
    expect(await eventually(() => failFast.status, (status) => status !== 'ready', 2_000)).not.toBe('ready');
    expect((await valuesOf(key))[0]).toBe(granted);
    await once(failFast, 'ready');
    const [left] = await eventually(() => valuesOf(key), ([value]) => value !== granted, 2_000);
    expect(left).toBeNull();
    await Promise.all([1, 2].map((index) => admins[index]?.del(key)));
    expect(await keysOfTest()).toEqual([]);
  });
});

describe('a late grant under re-entrant handles', () => {
  /** Its default node timeout, 150 ms, leaves room for the proxies' 60 ms round trip. */
  const TTL_MS = 30_000;
  const ONE_WAY_DELAY_MS = 30;

  itWithFaults('leaves the inner handle its keys on nodes that granted after the outer handle was released', async () => {
    const [proxy3, proxy4] = [await proxyTo(3, ONE_WAY_DELAY_MS), await proxyTo(4, ONE_WAY_DELAY_MS)];
    const urls = redis.urls.map((url, index) => (index === 3 ? proxy3.url : index === 4 ? proxy4.url : url));
    const redlock = new Redlock(
      urls.map((url) => new IoredisAdapter(redis.connect(url))),
      { keyPrefix: prefix },
    );
    await (await (await redlock.acquire('warm-up', TTL_MS)).release()).settled;

    // Nodes 3 and 4 hold their answers until the outer handle is released.
    proxy3.partition();
    proxy4.partition();
    const outer = await redlock.acquire('reentrant', TTL_MS);
    const inner = await redlock.acquire('reentrant', TTL_MS / 2, { reentrant: outer });
    await outer.release();
    expect([outer.state, inner.state]).toEqual(['released', 'held']);
    proxy3.heal();
    proxy4.heal();

    const key = `${prefix}reentrant`;
    await eventually(() => valuesOf(key), (values) => values.every((value) => value === inner.token), 3_000);
    // Long enough for the late grants to come back and for any release they caused to reach the nodes.
    await delay(20 * ONE_WAY_DELAY_MS);
    expect(await valuesOf(key)).toEqual(Array(NODE_COUNT).fill(inner.token));
    expect(inner.state).toBe('held');

    const settled = await (await inner.release()).settled;
    expect(settled.map((node) => node.status)).toEqual(Array(NODE_COUNT).fill('released'));
    expect(await keysOfTest()).toEqual([]);
  });
});
