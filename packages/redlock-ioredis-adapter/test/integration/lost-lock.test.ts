import { randomUUID } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { type Lock, LockExtendError, LockLostError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { eventually } from '../support/eventually.js';
import { useRedisNodes } from '../support/redis-servers.js';

// A lock whose keys another owner took on a majority of real redis-server nodes (as after our keys
// expired there during a long pause): the next extend() finds it out, and from then on the lock reads
// lost everywhere a caller looks, and its release leaves the other owner's keys alone.

const NODE_COUNT = 5;
const TTL_MS = 10_000;

const redis = useRedisNodes(NODE_COUNT);

/** Direct clients to the nodes, for looking at and taking keys; never used for locks. */
let admins: Redis[] = [];
let prefix = '';

beforeAll(() => {
  admins = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: 1 }));
});
beforeEach(() => {
  prefix = `lost-lock:${randomUUID()}:`;
});

function newRedlock(): Redlock {
  return new Redlock(
    redis.urls.map((_, index) => new IoredisAdapter(redis.createClient(index))),
    { keyPrefix: prefix },
  );
}

/** What key `key` holds on each node, by node index. */
const valuesOf = (key: string): Promise<(string | null)[]> => Promise.all(admins.map((admin) => admin.get(key)));

/** Waits until every node holds `lock` (acquire resolves at a quorum), then gives nodes 0 to 2 to another owner. */
async function takenOnAMajority(lock: Lock, resource: string): Promise<void> {
  const key = `${prefix}${resource}`;
  await eventually(() => valuesOf(key), (values) => values.every((value) => value === lock.token), 3_000);
  await Promise.all([0, 1, 2].map((index) => admins[index]?.set(key, 'another-owner', 'PX', TTL_MS)));
}

describe('a lock whose keys another owner took on a majority', () => {
  it("reads 'lost' once extend() rejected, fails assertValid(), and its release leaves the other owner's keys", async () => {
    const lock = await newRedlock().acquire('taken', TTL_MS);
    await takenOnAMajority(lock, 'taken');
    // Until an operation looks, the lock cannot know.
    expect(lock.state).toBe('held');

    const error = (await lock.extend(TTL_MS).catch((failure: unknown) => failure)) as LockExtendError;
    expect(error).toBeInstanceOf(LockExtendError);
    expect(error.isLost).toBe(true);
    expect(error.nodes.map((node) => node.status)).toEqual(['not-held', 'not-held', 'not-held', 'extended', 'extended']);
    expect(lock.state).toBe('lost');
    expect(lock.remainingValidityMs).toBe(0);
    expect(() => lock.assertValid()).toThrow(LockLostError);
    let thrown: unknown;
    try {
      lock.assertValid();
    } catch (failure) {
      thrown = failure;
    }
    expect((thrown as LockLostError).cause).toBe(error);
    // No node is asked again: the lock is known lost.
    await expect(lock.extend(TTL_MS)).rejects.toThrow('the lock is already lost');

    const settled = await (await lock.release()).settled;
    expect(settled.map((node) => node.status)).toEqual(['not-held', 'not-held', 'not-held', 'released', 'released']);
    expect(lock.state).toBe('released');
    expect(await valuesOf(`${prefix}taken`)).toEqual(['another-owner', 'another-owner', 'another-owner', null, null]);
    await Promise.all(admins.map((admin) => admin.del(`${prefix}taken`)));
  });

  it("aborts using()'s signal with a LockLostError when the routine's extend() finds the keys taken", async () => {
    const redlock = newRedlock();
    const using = redlock.using('taken-in-using', TTL_MS, async (signal, lock) => {
      await takenOnAMajority(lock, 'taken-in-using');
      const extendError = await lock.extend(TTL_MS).catch((failure: unknown) => failure);
      return { extendError, aborted: signal.aborted, reason: signal.reason as unknown, state: lock.state };
    });
    // The routine returned, but the lock was lost meanwhile: using() rejects, with what it returned.
    const rejection = await using.catch((error: unknown) => error);
    expect(rejection).toBeInstanceOf(LockLostError);
    const seen = (rejection as LockLostError).result as { extendError: unknown; aborted: boolean; reason: unknown; state: string };
    expect((rejection as LockLostError).cause).toBe(seen.reason);
    expect(seen.extendError).toBeInstanceOf(LockExtendError);
    expect(seen).toMatchObject({ aborted: true, state: 'lost' });
    expect(seen.reason).toBeInstanceOf(LockLostError);
    expect(await valuesOf(`${prefix}taken-in-using`)).toEqual(['another-owner', 'another-owner', 'another-owner', null, null]);
    await Promise.all(admins.map((admin) => admin.del(`${prefix}taken-in-using`)));
  });
});
