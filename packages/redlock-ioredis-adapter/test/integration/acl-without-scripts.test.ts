import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { type Redis } from 'ioredis';
import { MisconfiguredNodeError, NodeError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { useRedisNodes } from '../support/redis-servers.js';

// A Redis user whose ACL denies EVAL and EVALSHA, on every node: it may still SET, so a lock of one resource
// (one plain SET per node) used to be granted that could never be released or extended, and a semaphore or
// a read-write lock reported nodes that answered NOPERM as unreachable. Every primitive must fail its first
// call with the node's NOPERM reply, and leave no key. A user of its own on nodes of this file's own.

const KEY_PREFIX = 'acl-without-scripts-test:';
const USER = `no-scripts-${randomUUID()}`;
const TTL_MS = 10_000;

describe('as an ACL user denied EVAL and EVALSHA', () => {
  const redis = useRedisNodes(3);
  let admins: Redis[];
  let redlock: Redlock;

  beforeAll(async () => {
    admins = [0, 1, 2].map((index) => redis.createClient(index));
    await Promise.all(admins.map((admin) => admin.call('ACL', 'SETUSER', USER, 'on', '>secret', 'allkeys', 'allchannels', '+@all', '-eval', '-evalsha')));
    const restricted = [0, 1, 2].map((index) => redis.createClient(index, { username: USER, password: 'secret' }));
    // A few quick retries: the error must come at the first call, and a call that retried would show it.
    redlock = new Redlock(
      restricted.map((client) => new IoredisAdapter(client)),
      { keyPrefix: KEY_PREFIX, retryCount: 2, retryDelayMs: 50, retryJitterMs: 0, nodeTimeoutMs: 2_000 },
    );
  });
  afterAll(async () => {
    await redlock?.close();
  });

  /** The keys under KEY_PREFIX on every node, wait queues included. */
  async function keysLeft(): Promise<string[]> {
    return (await Promise.all(admins.map((admin) => admin.keys(`*${KEY_PREFIX}*`)))).flat();
  }

  /** What `pending` rejected with; fails the test if it resolved. */
  async function rejectionOf(pending: Promise<unknown>): Promise<unknown> {
    return pending.then(
      (held) => {
        throw new Error(`expected a rejection, got ${String(held)}`);
      },
      (error: unknown) => error,
    );
  }

  /** Checks `error` is the permission error for `what`, with each node's NOPERM reply as the cause of its error. */
  function expectNoPermission(error: unknown, what: string): void {
    expect(error).toBeInstanceOf(MisconfiguredNodeError);
    const { problem, nodeIndexes, nodeErrors, message, cause } = error as MisconfiguredNodeError;
    expect(problem).toBe('no-permission');
    expect(nodeIndexes).toEqual([0, 1, 2]);
    expect(message).toContain(`Could not ${what}: nodes 0, 1, 2 replied "NOPERM this user has no permissions to run the 'eval' command"`);
    expect(message).toContain('allow EVALSHA, EVAL');
    for (const nodeError of nodeErrors) {
      expect(nodeError).toBeInstanceOf(NodeError);
      expect(nodeError.isDown).toBe(false);
      expect(nodeError.isTimeout).toBe(false);
      expect((nodeError.cause as Error).message).toMatch(/^NOPERM this user has no permissions to run the 'eval(sha)?' command/);
    }
    expect(cause).toBe(nodeErrors[0]);
  }

  it('fails acquire(), tryAcquire() and using() of a lock, of one resource or two, at the first call, and leaves no key', async () => {
    expectNoPermission(await rejectionOf(redlock.acquire('lock', TTL_MS)), 'acquire "lock"');
    expect(await keysLeft()).toEqual([]);
    expectNoPermission(await rejectionOf(redlock.tryAcquire('lock', TTL_MS)), 'acquire "lock"');
    let ran = false;
    const routine = (): void => {
      ran = true;
    };
    expectNoPermission(await rejectionOf(redlock.using('lock', TTL_MS, routine)), 'acquire "lock"');
    expect(ran).toBe(false);
    expectNoPermission(await rejectionOf(redlock.acquire(['{lock}:1', '{lock}:2'], TTL_MS)), 'acquire "{lock}:1", "{lock}:2"');
    expect(await keysLeft()).toEqual([]);
  });

  it('fails acquire(), tryAcquire() and using() of a semaphore with the NOPERM reply, not as unreachable nodes', async () => {
    const semaphore = redlock.semaphore('semaphore', { limit: 3 });
    expectNoPermission(await rejectionOf(semaphore.acquire(TTL_MS)), 'acquire 1 of 3 permits of "semaphore"');
    expectNoPermission(await rejectionOf(semaphore.tryAcquire(TTL_MS, { permits: 2 })), 'acquire 2 of 3 permits of "semaphore"');
    expectNoPermission(await rejectionOf(semaphore.using(TTL_MS, () => undefined)), 'acquire 1 of 3 permits of "semaphore"');
    expect(await keysLeft()).toEqual([]);
  });

  it('fails every call for a read lock with the NOPERM reply, not as unreachable nodes', async () => {
    const lock = redlock.readWriteLock('read');
    for (const call of [() => lock.acquireRead(TTL_MS), () => lock.tryAcquireRead(TTL_MS), () => lock.usingRead(TTL_MS, () => undefined)]) {
      expectNoPermission(await rejectionOf(call()), 'take the read lock on "read"');
    }
    expect(await keysLeft()).toEqual([]);
  });

  it('fails every call for a write lock with the NOPERM reply, not as unreachable nodes', async () => {
    const lock = redlock.readWriteLock('write');
    for (const call of [() => lock.acquireWrite(TTL_MS), () => lock.tryAcquireWrite(TTL_MS), () => lock.usingWrite(TTL_MS, () => undefined)]) {
      expectNoPermission(await rejectionOf(call()), 'take the write lock on "write"');
    }
    expect(await keysLeft()).toEqual([]);
  });
});
