import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { LockAcquireError, Redlock, type RedlockOptions } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { eventually } from '../support/eventually.js';
import { useRedisNodes } from '../support/redis-servers.js';

// What the nodes run for a lock on one resource, read from their own command statistics: one SET NX PX
// each, where the acquire script would run three commands, and the script only where the SET found the
// key there; and what they send back.

const redis = useRedisNodes(3);
let admins: Redis[] = [];

beforeAll(() => {
  admins = redis.urls.map((_, index) => redis.createClient(index));
});

/** How many times each node ran `command` since the statistics were last reset (INFO commandstats). */
async function callsOf(command: string): Promise<number[]> {
  return Promise.all(
    admins.map(async (admin) => {
      const stats = await admin.info('commandstats');
      const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats);
      return Number(match?.[1] ?? 0);
    }),
  );
}

/** How many bytes each node has sent to its clients since it started (INFO stats). */
async function bytesSentByNodes(): Promise<number[]> {
  return Promise.all(admins.map(async (admin) => Number(/^total_net_output_bytes:(\d+)/m.exec(await admin.info('stats'))?.[1])));
}

/** The TTL of the locks of these tests, in milliseconds. */
const TTL_MS = 5_000;
async function resetStats(): Promise<void> {
  await Promise.all(admins.map((admin) => admin.config('RESETSTAT')));
}

function newRedlock(options: RedlockOptions = {}): Redlock {
  return new Redlock(
    redis.urls.map((_, index) => new IoredisAdapter(redis.createClient(index))),
    { retryCount: 0, ...options },
  );
}

describe('a lock on one resource over ioredis', () => {
  it('costs each node one SET and no script to take, and one release script to give back, which wakes nobody where nobody waits, at default options', async () => {
    const redlock = newRedlock();
    const resource = `set-if-absent:${randomUUID()}`;
    // First contact sends the probe and caches the release script: done before counting.
    await (await (await redlock.acquire(`${resource}:warm-up`, TTL_MS)).release()).settled;
    await resetStats();
    const lock = await redlock.acquire(resource, TTL_MS);
    expect(await callsOf('set')).toEqual([1, 1, 1]);
    expect(await callsOf('evalsha')).toEqual([0, 0, 0]);
    expect(await Promise.all(admins.map((admin) => admin.get(resource)))).toEqual([lock.token, lock.token, lock.token]);
    await (await lock.release()).settled;
    // One release script per node (by EVAL where the script cache was flushed meanwhile).
    const [evalshaCalls, evalCalls] = await Promise.all([callsOf('evalsha'), callsOf('eval')]);
    expect(evalshaCalls.map((calls, index) => calls + (evalCalls[index] ?? 0))).toEqual([1, 1, 1]);
    expect(await Promise.all(admins.map((admin) => admin.exists(resource)))).toEqual([0, 0, 0]);
    // A release publishes only to a process queued for the key: none here, so no PUBLISH at all.
    expect(await callsOf('publish')).toEqual([0, 0, 0]);
    await redlock.close();
  });

  it("asks the script only on the nodes where another owner's lock is, and leaves that lock alone", async () => {
    const redlock = newRedlock();
    const resource = `set-if-absent:${randomUUID()}`;
    // To its settled: release() resolves at a quorum, and a third node's release script (a GET) still running
    // after the reset below would be counted as this acquisition's.
    await (await (await redlock.acquire(`${resource}:warm-up`, 5_000)).release()).settled;
    await Promise.all(admins.slice(0, 2).map((admin) => admin.set(resource, 'another-owner', 'PX', 5_000)));
    await resetStats();
    const error = await redlock.acquire(resource, 5_000).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).reason).toBe('held-by-another-owner');
    expect(await callsOf('set')).toEqual([1, 1, 1]);
    // The script reads the key on the two held nodes; the third node's key is removed by the cleanup.
    expect(await callsOf('get')).toEqual([1, 1, 1]);
    expect(await Promise.all(admins.map((admin) => admin.get(resource)))).toEqual(['another-owner', 'another-owner', null]);
    await redlock.close();
  });

  it("never reads another owner's value back: tryAcquire() on a 16 MB lock value ends as held, the nodes sending bytes, not megabytes", async () => {
    const redlock = newRedlock({ retryCount: 3, retryDelayMs: 10 });
    const resource = `set-if-absent:${randomUUID()}`;
    // To its settled, as above: every node's release script has run before the statistics are reset.
    await (await (await redlock.acquire(`${resource}:warm-up`, 5_000)).release()).settled;
    const valueBytes = 16 * 1024 * 1024;
    await Promise.all(admins.map((admin) => admin.set(resource, 'v'.repeat(valueBytes), 'PX', 60_000)));
    try {
      await resetStats();
      const before = await bytesSentByNodes();
      // Not nodes-unreachable: reading the value back took longer than a node's timeout.
      expect(await redlock.tryAcquire(resource, 5_000)).toBeUndefined();
      const after = await bytesSentByNodes();
      // A small code per command (and the INFO reply that read `before`): a read-back is 16 MB per node.
      for (const [index, sentBytes] of after.entries()) expect(sentBytes - (before[index] as number)).toBeLessThan(64 * 1024);
      // One SET and one script per node: tryAcquire() makes one attempt, and the script gave the verdict.
      expect(await callsOf('set')).toEqual([1, 1, 1]);
      const [evalshaCalls, evalCalls] = await Promise.all([callsOf('evalsha'), callsOf('eval')]);
      expect(evalshaCalls.map((calls, index) => calls + (evalCalls[index] ?? 0))).toEqual([1, 1, 1]);
      // The script measured the value and never read it into Lua, which costs the node about a second.
      expect(await callsOf('strlen')).toEqual([1, 1, 1]);
      expect(await callsOf('get')).toEqual([0, 0, 0]);
    } finally {
      await Promise.all(admins.map((admin) => admin.del(resource)));
      await redlock.close();
    }
  });
});
