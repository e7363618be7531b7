import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { LockAcquireError, Redlock, type RedlockOptions } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { useRedisNodes } from '../support/redis-servers.js';

// Keys the library did not write, on real Redis: a key at a lock's key that is not a lock (another type,
// or a string without a TTL) is reported as foreign, never waited on nor overwritten; a fencing counter
// never lands on a key a resource name can reach, and never overwrites a key that is not a counter.

const NODE_COUNT = 3;
const TTL_MS = 5_000;
const COUNTER_SUFFIX = ':fencing-counter';

const redis = useRedisNodes(NODE_COUNT);

let admins: Redis[] = [];
let prefix = '';

beforeAll(() => {
  admins = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: 1 }));
});
beforeEach(() => {
  prefix = `foreign-keys:${randomUUID()}:`;
});

/** A Redlock with clients of its own, as another process would have; retries left, so that stopping early shows. */
function newRedlock(options: RedlockOptions = {}): Redlock {
  const clients = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: 1 }));
  return new Redlock(
    clients.map((client) => new IoredisAdapter(client)),
    { keyPrefix: prefix, retryCount: 10, retryDelayMs: 50, retryJitterMs: 0, nodeTimeoutMs: 1_000, ...options },
  );
}

async function acquireError(acquiring: Promise<unknown>): Promise<LockAcquireError> {
  const error = await acquiring.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  if (!(error instanceof LockAcquireError)) throw new Error(`Expected a LockAcquireError, got ${String(error)}`);
  return error;
}

/** What each node stores at `key`, as a comparable snapshot: type, string value, and whether it has a TTL. */
async function snapshotOf(key: string): Promise<{ type: string; value: string | null; hasTtl: boolean }[]> {
  return Promise.all(
    admins.map(async (admin) => {
      const type = await admin.type(key);
      return { type, value: type === 'string' ? await admin.get(key) : null, hasTtl: (await admin.pttl(key)) >= 0 };
    }),
  );
}

/** Every key of this test on every node, once no node holds one of `keys` any more (cleanups finish after the rejection). */
async function keysOfTestWithout(keys: readonly string[]): Promise<string[]> {
  const read = async (): Promise<string[]> => (await Promise.all(admins.map((admin) => admin.keys(`${prefix}*`)))).flat();
  for (let tries = 0; tries < 100 && (await read()).some((key) => keys.includes(key)); tries += 1) await delay(20);
  return read();
}

/** Plants something that is not a lock at `key` on one node. */
type Plant = (admin: Redis, key: string) => Promise<unknown>;

const NOT_LOCKS: readonly [string, Plant][] = [
  ['a hash', (admin, key) => admin.hset(key, 'field', 'value')],
  ['a hash with a TTL', (admin, key) => admin.multi().hset(key, 'field', 'value').pexpire(key, 60_000).exec()],
  ['a list', (admin, key) => admin.rpush(key, 'value')],
  ['a set', (admin, key) => admin.sadd(key, 'value')],
  ['a sorted set', (admin, key) => admin.zadd(key, 1, 'value')],
  ['a stream', (admin, key) => admin.xadd(key, '*', 'field', 'value')],
  ['a string without a TTL', (admin, key) => admin.set(key, 'user-data')],
];

describe('a key at a lock key that is not a lock', () => {
  it.each(NOT_LOCKS)('makes acquire() fail at once with foreign-key when every node holds %s, leaving it alone', async (_, plant) => {
    const key = `${prefix}r`;
    await Promise.all(admins.map((admin) => plant(admin, key)));
    const before = await snapshotOf(key);
    const error = await acquireError(newRedlock().acquire('r', TTL_MS));
    expect(error.reason).toBe('foreign-key');
    expect(error.attempts).toHaveLength(1);
    expect(error.attempts[0]?.nodes.map((node) => node.status)).toEqual(Array(NODE_COUNT).fill('foreign'));
    expect(error.message).toContain("the key is not a lock (another type, such as a semaphore's or a read-write lock's, or a string without a TTL)");
    expect(await snapshotOf(key)).toEqual(before);
    await Promise.all(admins.map((admin) => admin.del(key)));
  });

  it.each(NOT_LOCKS)('makes inspect() report every node holding %s as foreign, not as a lock without end', async (_, plant) => {
    const key = `${prefix}r`;
    await Promise.all(admins.map((admin) => plant(admin, key)));
    const inspection = await newRedlock().inspect('r');
    expect(inspection).toEqual({
      resource: 'r',
      isLocked: false,
      remainingMs: 0,
      nodes: [0, 1, 2].map((nodeIndex) => ({ nodeIndex, status: 'foreign' })),
    });
    await Promise.all(admins.map((admin) => admin.del(key)));
  });

  it('still locks the resource when such keys are on a minority of nodes, and leaves them alone', async () => {
    const key = `${prefix}r`;
    await admins[0]?.hset(key, 'field', 'value');
    const lock = await newRedlock().acquire('r', TTL_MS);
    expect(await admins[0]?.hget(key, 'field')).toBe('value');
    // Extend and release read the foreign key as not ours: no error, and it is left alone.
    const extended = await lock.extend(TTL_MS);
    expect(extended.state).toBe('held');
    const settled = await (await lock.release()).settled;
    expect(settled.map((node) => node.status)).toEqual(['not-held', 'released', 'released']);
    await admins[0]?.del(key);
    expect(await keysOfTestWithout([key])).toEqual([]);
  });

  it("treats a string with a TTL that is not our token as another client's lock: held, and inspected with its time", async () => {
    const key = `${prefix}r`;
    await Promise.all(admins.map((admin) => admin.set(key, 'another-client', 'PX', 60_000)));
    const error = await acquireError(newRedlock({ retryCount: 2 }).acquire('r', TTL_MS));
    expect(error.reason).toBe('held-by-another-owner');
    expect(error.attempts).toHaveLength(3);
    const inspection = await newRedlock().inspect('r');
    expect(inspection.isLocked).toBe(true);
    expect(inspection.remainingMs).toBeGreaterThan(50_000);
    expect(inspection.remainingMs).toBeLessThanOrEqual(60_000);
    expect(inspection.nodes.map((node) => node.status)).toEqual(Array(NODE_COUNT).fill('locked'));
    await Promise.all(admins.map((admin) => admin.del(key)));
  });
});

describe('fencing counters', () => {
  it("never overwrite the lock another owner holds on {o}:a:fence while {o}:a is fenced, which used to be its counter's key", async () => {
    const holder = await newRedlock().acquire('{o}:a:fence', TTL_MS);
    const fenced = await newRedlock().acquire('{o}:a', TTL_MS, { fencing: true });
    expect(fenced.fencingToken).toBe(1);
    const holderKey = `${prefix}{o}:a:fence`;
    const values = await Promise.all(admins.map((admin) => admin.get(holderKey)));
    expect(values).toEqual(Array(NODE_COUNT).fill(holder.token));
    for (const admin of admins) expect(await admin.pttl(holderKey)).toBeGreaterThan(0);
    await expect(holder.extend(TTL_MS)).resolves.toBe(holder);
    expect((await (await holder.release()).settled).map((node) => node.status)).toEqual(Array(NODE_COUNT).fill('released'));
    await (await fenced.release()).settled;
    // The resource can be locked again, and its counter is where no resource name reaches.
    await (await (await newRedlock().acquire('{o}:a:fence', TTL_MS)).release()).settled;
    const counterKey = `${prefix}{o}:a${COUNTER_SUFFIX}`;
    expect(await Promise.all(admins.map((admin) => admin.get(counterKey)))).toEqual(Array(NODE_COUNT).fill('1'));
    await Promise.all(admins.map((admin) => admin.del(counterKey)));
    expect(await keysOfTestWithout([])).toEqual([]);
  });

  it('reject a resource whose key would be a counter key with a RangeError, before any node is called', async () => {
    const redlock = newRedlock();
    const resource = `{o}:a${COUNTER_SUFFIX}`;
    const expected = new RangeError(
      `Expected every resource to make a key that does not end with "${COUNTER_SUFFIX}", which is reserved for fencing counters, got \`"${resource}"\``,
    );
    await expect(redlock.acquire(resource, TTL_MS)).rejects.toThrow(expected);
    await expect(redlock.acquire(['{o}:a', resource], TTL_MS, { fencing: true })).rejects.toThrow(expected);
    await expect(redlock.inspect(resource)).rejects.toThrow(expected);
    expect(await keysOfTestWithout([])).toEqual([]);
  });

  it.each<[string, Plant]>([
    ["another client's lock (a string with a TTL)", (admin, key) => admin.set(key, '7', 'PX', 60_000)],
    ['a string that is not a number', (admin, key) => admin.set(key, 'user-data')],
    ['a hash', (admin, key) => admin.hset(key, 'field', '7')],
  ])('never overwrite a counter key holding %s: the acquisition fails at once with foreign-key and leaves no key of ours', async (_, plant) => {
    const counterKey = `{${prefix}r}${COUNTER_SUFFIX}`;
    await Promise.all(admins.map((admin) => plant(admin, counterKey)));
    const before = await snapshotOf(counterKey);
    const error = await acquireError(newRedlock().acquire('r', TTL_MS, { fencing: true }));
    expect(error.reason).toBe('foreign-key');
    expect(error.attempts).toHaveLength(1);
    expect(error.message).toContain('a lock or fencing counter key holds something else');
    expect(await snapshotOf(counterKey)).toEqual(before);
    expect(await keysOfTestWithout([`${prefix}r`])).toEqual([]);
    await Promise.all(admins.map((admin) => admin.del(counterKey)));
  });

  it('ignore a foreign counter key on a minority: the token comes from the counters of the granting quorum', async () => {
    const counterKey = `{${prefix}r}${COUNTER_SUFFIX}`;
    await admins[0]?.set(counterKey, '99', 'PX', 60_000);
    await Promise.all(admins.slice(1).map((admin) => admin.set(counterKey, '4')));
    const lock = await newRedlock().acquire('r', TTL_MS, { fencing: true });
    expect(lock.fencingToken).toBe(5);
    await (await lock.release()).settled;
    expect(await Promise.all(admins.map((admin) => admin.get(counterKey)))).toEqual(['99', '5', '5']);
    expect(await admins[0]?.pttl(counterKey)).toBeGreaterThan(0);
    await Promise.all(admins.map((admin) => admin.del(counterKey)));
  });
});
