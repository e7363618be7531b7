import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { LocalRedisNode } from 'local-redis-nodes';
import { type Lock, LockAcquireError, LockInspectError, LockLostError, type RedisAdapter, Redlock, type RedlockOptions } from 'redlock-core';
import { canInjectFaults, itWithFaults, useRedisNodes } from './redis-servers.js';

const NODE_COUNT = 5;

/** Whether a local node answers commands: running and not paused. */
const isAnswering = (node: LocalRedisNode | undefined): boolean => node !== undefined && node.isRunning && !node.isPaused;
/** A TTL long enough that no test depends on speed. */
const TTL_MS = 3_000;
/**
 * A per-node timeout with room for a loaded CI machine, so that only the fault tests see timeouts; they
 * set a shorter one where they measure it.
 */
const NODE_TIMEOUT_MS = 1_000;
/**
 * The node timeout of the tests that lock for 200 ms to 1 s: `acquire()` refuses a TTL that leaves less
 * validity than one node timeout.
 */
const SHORT_TTL_NODE_TIMEOUT_MS = 150;

/**
 * Runs Redlock end to end on 5 real Redis nodes through an adapter: the lock cycle, contention between
 * clients, expiry, and faults (killed, paused and late nodes). Any new adapter runs it unchanged.
 *
 * @param makeAdapter - Wraps a client of the test's own for one node; `connect()` opens another client to
 *   the same node (e.g. for pub/sub). The suite closes them all.
 */
export function describeRedlockSuite(name: string, makeAdapter: (client: Redis, connect: () => Redis) => RedisAdapter): void {
  describe(`${name}: Redlock on ${NODE_COUNT} real nodes`, () => {
    const redis = useRedisNodes(NODE_COUNT);
    /** Plain clients to look at the nodes' keys, apart from the clients under test. */
    let inspectors: Redis[] = [];
    let prefix = '';

    /** A Redlock with clients of its own, as another process would have, once they are connected. */
    const newRedlock = async (options: RedlockOptions = {}): Promise<Redlock> => {
      const clients = redis.urls.map((_, index) => redis.createClient(index));
      await Promise.all(
        clients.map((client, index) => (canInjectFaults && !isAnswering(redis.nodes[index]) ? undefined : client.ping().catch(() => undefined))),
      );
      const adapters = clients.map((client, index) => makeAdapter(client, () => redis.createClient(index)));
      return new Redlock(adapters, {
        keyPrefix: prefix,
        retryDelayMs: 20,
        retryJitterMs: 10,
        nodeTimeoutMs: NODE_TIMEOUT_MS,
        ...options,
      });
    };
    /** What each node stores under a resource's key, `'✕'` for a node that cannot answer. */
    const valuesOf = (resource: string): Promise<(string | null)[]> =>
      Promise.all(inspectors.map((client) => client.get(prefix + resource).catch(() => '✕')));
    const keysOnNodes = async (): Promise<string[]> =>
      (await Promise.all(inspectors.map((client) => client.keys(`${prefix}*`).catch(() => [])))).flat();
    /**
     * Waits, bounded, until `read` returns `expected`: acquire() returns at quorum, so the slowest nodes
     * may set their keys a moment later.
     */
    const eventually = async <T>(read: () => Promise<T>, expected: T): Promise<void> => {
      for (let tries = 0; tries < 100; tries += 1) {
        try {
          expect(await read()).toEqual(expected);
          return;
        } catch {
          await delay(20);
        }
      }
      expect(await read()).toEqual(expected);
    };
    /** Waits, bounded, until no node holds a key of this test: cleanups of late nodes run in the background. */
    const eventuallyNoKeys = async (): Promise<string[]> => {
      for (let tries = 0; tries < 100; tries += 1) {
        const keys = await keysOnNodes();
        if (keys.length === 0) return keys;
        await delay(20);
      }
      return keysOnNodes();
    };

    beforeAll(() => {
      inspectors = redis.urls.map((_, index) =>
        redis.createClient(index, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 }),
      );
    });
    beforeEach(() => {
      prefix = `redlock-suite:${randomUUID()}:`;
    });
    afterEach(async () => {
      // Bring every node back for the next test: resume the paused, restart the killed.
      if (!canInjectFaults) return;
      for (const node of redis.nodes) if (node.isPaused) node.resume();
      await Promise.all(redis.nodes.filter((node) => !node.isRunning).map((node) => node.start()));
    });

    it('acquires on every node, extends and releases', async () => {
      const lock = await (await newRedlock()).acquire(['orders:1', 'orders:2'], TTL_MS);
      await eventually(() => valuesOf('orders:1'), Array(NODE_COUNT).fill(lock.token));
      await eventually(() => valuesOf('orders:2'), Array(NODE_COUNT).fill(lock.token));
      expect(lock.remainingValidityMs).toBeGreaterThan(0);
      expect(lock.remainingValidityMs).toBeLessThanOrEqual(TTL_MS - 32); // drift: 1% + 2 ms

      await inspectors[0]?.pexpire(prefix + 'orders:1', 100);
      const extended = await lock.extend(10_000);
      expect(extended).toBe(lock);
      expect(await inspectors[0]?.pttl(prefix + 'orders:1')).toBeGreaterThan(9_000);
      expect(lock.remainingValidityMs).toBeGreaterThan(TTL_MS);

      const result = await lock.release();
      expect(result.releasedCount).toBeGreaterThanOrEqual(Math.floor(NODE_COUNT / 2) + 1);
      expect(lock.state).toBe('released');
      expect((await result.settled).map((node) => node.status)).toEqual(Array(NODE_COUNT).fill('released'));
      expect(await keysOnNodes()).toEqual([]);
      expect(await lock.release()).toBe(result);
    });

    it('refuses a second owner until the first releases', async () => {
      const first = await newRedlock();
      const second = await newRedlock({ retryCount: 0 });
      const lock = await first.acquire('reports:daily', TTL_MS);
      const refusal = await second.acquire('reports:daily', TTL_MS).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(LockAcquireError);
      expect((refusal as LockAcquireError).reason).toBe('held-by-another-owner');
      expect((refusal as LockAcquireError).message).toContain(`${NODE_COUNT} held by another owner`);
      // The refused attempt left nothing of its own behind, and the owner's keys are intact.
      await eventually(() => valuesOf('reports:daily'), Array(NODE_COUNT).fill(lock.token));

      await lock.release();
      const next = await second.acquire('reports:daily', TTL_MS);
      expect(next.token).not.toBe(lock.token);
      await next.release();
    });

    it('never lets two of four contending clients inside the critical section at once', async () => {
      const counterKey = `${prefix}value`; // not the lock's own key, `${prefix}counter`
      let inside = 0;
      let overlaps = 0;
      const workers = Array.from({ length: 4 }, async () => {
        const redlock = await newRedlock({ retryCount: 200 });
        for (let round = 0; round < 5; round += 1) {
          await redlock.using('counter', TTL_MS, async () => {
            inside += 1;
            if (inside > 1) overlaps += 1;
            // A read-modify-write with a pause in the middle loses updates unless the lock works.
            const value = Number(await inspectors[0]?.get(counterKey));
            await delay(2);
            await inspectors[0]?.set(counterKey, String(value + 1));
            inside -= 1;
          });
        }
      });
      await Promise.all(workers);
      expect(overlaps).toBe(0);
      expect(await inspectors[0]?.get(counterKey)).toBe('20');
      await inspectors[0]?.del(counterKey);
      // using() resolves once a quorum confirmed its release; the other nodes finish in the background.
      expect(await eventuallyNoKeys()).toEqual([]);
    });

    it('lets the lock go when its TTL expires without a release', async () => {
      // A short TTL needs node timeouts within its validity (acquire() refuses it otherwise).
      const lock = await (await newRedlock({ nodeTimeoutMs: SHORT_TTL_NODE_TIMEOUT_MS })).acquire('jobs:expire', 200);
      await delay(300);
      expect(lock.state).toBe('expired');
      const next = await (await newRedlock({ retryCount: 0 })).acquire('jobs:expire', TTL_MS);
      expect((await lock.release()).releasedCount).toBe(0);
      await eventually(() => valuesOf('jobs:expire'), Array(NODE_COUNT).fill(next.token));
      await next.release();
    });

    itWithFaults('keeps working with one node killed, and reports that node', async () => {
      await redis.nodes[1]?.kill();
      const lock = await (await newRedlock()).acquire('orders:killed-one', TTL_MS);
      await eventually(async () => (await valuesOf('orders:killed-one')).filter((value) => value === lock.token).length, NODE_COUNT - 1);
      const result = await lock.release();
      expect(result.releasedCount).toBeGreaterThanOrEqual(Math.floor(NODE_COUNT / 2) + 1);
      const settled = await result.settled;
      expect(settled.filter((node) => node.status === 'released')).toHaveLength(NODE_COUNT - 1);
      expect(settled[1]?.status).toMatch(/^(timeout|error)$/);
    });

    itWithFaults('fails with nodes-unreachable when three of five nodes are killed, leaving no key', async () => {
      await Promise.all([redis.nodes[0]?.kill(), redis.nodes[2]?.kill(), redis.nodes[4]?.kill()]);
      const error = await (await newRedlock({ retryCount: 2, nodeTimeoutMs: 200 })).acquire('orders:killed-three', TTL_MS).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(LockAcquireError);
      const acquireError = error as LockAcquireError;
      expect(acquireError.reason).toBe('nodes-unreachable');
      expect(acquireError.message).toMatch(/^Could not acquire "orders:killed-three" after 3 attempts: nodes unreachable/);
      expect(acquireError.attempts).toHaveLength(3);
      expect(acquireError.nodeErrors.map((nodeError) => nodeError.nodeIndex)).toEqual([0, 2, 4, 0, 2, 4, 0, 2, 4]);
      expect(await keysOnNodes()).toEqual([]);
      const inspectError = await (await newRedlock({ nodeTimeoutMs: 200 })).inspect('orders:killed-three').catch((failure: unknown) => failure);
      expect(inspectError).toBeInstanceOf(LockInspectError);
      expect((inspectError as LockInspectError).nodeErrors).toHaveLength(3);
    });

    itWithFaults('re-seeds a node that restarted empty when the lock is extended', async () => {
      const redlock = await newRedlock();
      const lock = await redlock.acquire('orders:restarted', TTL_MS);
      await eventually(() => valuesOf('orders:restarted'), Array(NODE_COUNT).fill(lock.token));
      await redis.nodes[2]?.kill();
      await redis.nodes[2]?.start(); // persistence is off: the node comes back empty
      await eventually(async () => (await valuesOf('orders:restarted'))[2], null);
      // The client reconnects on its own; retry until the extension also reaches the restarted node.
      await eventually(async () => {
        await lock.extend(TTL_MS);
        return (await valuesOf('orders:restarted'))[2];
      }, lock.token);
      await lock.release();
    });

    itWithFaults('grants nothing on a node inside its restart grace', async () => {
      const graceMs = 2_000;
      // The other nodes must be older than the grace (they started with the test file), node 1 younger.
      const uptimeSeconds = Number(/uptime_in_seconds:(\d+)/.exec(await redis.createClient(0).info('server'))?.[1]);
      if (uptimeSeconds * 1000 < graceMs) await delay(graceMs - uptimeSeconds * 1000 + 1_000);
      await redis.nodes[1]?.kill();
      await redis.nodes[1]?.start();
      const redlock = await newRedlock({ restartGraceMs: graceMs });
      const lock = await redlock.acquire('orders:grace', TTL_MS);
      await eventually(
        async () => (await valuesOf('orders:grace')).map((value) => value === lock.token),
        [true, false, true, true, true],
      );
      await lock.release();
    });

    itWithFaults('finishes an attempt within about the per-node timeout while a node is paused', async () => {
      redis.nodes[3]?.pause();
      const started = performance.now();
      const redlock = await newRedlock({ nodeTimeoutMs: 250 });
      const lock = await redlock.acquire('orders:paused', TTL_MS);
      expect(performance.now() - started).toBeLessThan(2_000); // without the timeout it would wait forever
      const released = await lock.release();
      // Resolved by the healthy nodes, without waiting for the paused one.
      expect(released.nodes[3]).toBeUndefined();
      expect(released.releasedCount).toBeGreaterThanOrEqual(redlock.quorum);
      expect((await released.settled)[3]?.status).toBe('timeout');
    });

    itWithFaults('cleans up a paused node once it answers, after a successful and a failed attempt', async () => {
      // Success: node 4 is paused, 4 nodes grant, release; the paused node runs the queued commands later.
      redis.nodes[4]?.pause();
      const lock = await (await newRedlock({ nodeTimeoutMs: 250 })).acquire('orders:late', TTL_MS);
      await lock.release();
      // Failure: a majority is paused, so the attempt fails and must clean up on all of them.
      redis.nodes[0]?.pause();
      redis.nodes[1]?.pause();
      const error = await (await newRedlock({ nodeTimeoutMs: 250, retryCount: 0 }))
        .acquire('orders:late-failed', TTL_MS)
        .catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(LockAcquireError);
      expect((error as LockAcquireError).attempts[0]?.nodes.map((node) => node.status)).toEqual([
        'timeout',
        'timeout',
        'acquired',
        'acquired',
        'timeout',
      ]);
      for (const node of redis.nodes) node.resume();
      expect(await eventuallyNoKeys()).toEqual([]);
    });

    it('aborts the routine of using() when a majority of nodes no longer holds the lock', async () => {
      const lost = await (await newRedlock({ nodeTimeoutMs: SHORT_TTL_NODE_TIMEOUT_MS }))
        .using('payments:settle', 1_000, async (signal) => {
          await Promise.all(inspectors.slice(0, 3).map((client) => client.del(prefix + 'payments:settle')));
          await new Promise((resolve, reject) => {
            const timer = setTimeout(resolve, 5_000);
            signal.addEventListener('abort', () => {
              clearTimeout(timer);
              reject(signal.reason);
            });
          });
        })
        .catch((error: unknown) => error);
      expect(lost).toBeInstanceOf(LockLostError);
      expect(await eventuallyNoKeys()).toEqual([]);
    });

    it('hands the lock to a waiter when it is released: at once with notifications, else at its retry timer', async () => {
      const holder = await newRedlock();
      const waiter = await newRedlock({ retryDelayMs: 1_500, retryJitterMs: 0 });
      const lock = await holder.acquire('orders:hand-off', TTL_MS);
      const waiting = waiter.acquire('orders:hand-off', TTL_MS);
      await delay(100); // the waiter fails once and listens, if its adapter can
      await lock.release();
      const releasedAt = performance.now();
      const next = await waiting;
      const waitedMs = performance.now() - releasedAt;
      const canNotify = typeof makeAdapter(redis.createClient(0), () => redis.createClient(0)).subscribe === 'function';
      // Generous bounds on either side of the 1.5 s retry timer, so a loaded machine cannot flip the result.
      if (canNotify) expect(waitedMs).toBeLessThan(750);
      else expect(waitedMs).toBeGreaterThan(750);
      await next.release();
    });

    it('inspects a resource by the quorum view, without revealing the token', async () => {
      const redlock = await newRedlock();
      expect(await redlock.inspect('reports:inspected')).toMatchObject({ resource: 'reports:inspected', isLocked: false, remainingMs: 0 });
      const lock = await redlock.acquire('reports:inspected', TTL_MS);
      await eventually(() => valuesOf('reports:inspected'), Array(NODE_COUNT).fill(lock.token));
      const held = await redlock.inspect('reports:inspected');
      expect(held.isLocked).toBe(true);
      expect(held.remainingMs).toBeGreaterThan(TTL_MS - 1_000);
      expect(held.remainingMs).toBeLessThanOrEqual(TTL_MS);
      expect(held.nodes.map((node) => node.status)).toEqual(Array(NODE_COUNT).fill('locked'));
      expect(JSON.stringify(held)).not.toContain(lock.token);
      // Only 2 of 5 nodes keep a long TTL: the lock frees when the third-longest TTL runs out.
      const key = prefix + 'reports:inspected';
      await Promise.all([inspectors[0]?.pexpire(key, 60_000), inspectors[1]?.pexpire(key, 60_000), inspectors[2]?.pexpire(key, 500)]);
      await Promise.all([inspectors[3]?.del(key), inspectors[4]?.del(key)]);
      const partial = await redlock.inspect('reports:inspected');
      expect(partial.isLocked).toBe(true);
      expect(partial.remainingMs).toBeLessThanOrEqual(500);
      await inspectors[2]?.del(key);
      expect((await redlock.inspect('reports:inspected')).isLocked).toBe(false);
      await lock.release();
    });

    it('hands out fencing tokens that grow across clients, stored in counters that outlive the locks', async () => {
      const clients = [await newRedlock(), await newRedlock()];
      const tokens: number[] = [];
      for (let round = 0; round < 4; round += 1) {
        const lock = await (clients[round % 2] as Redlock).acquire('ledger:7', TTL_MS, { fencing: true });
        tokens.push(lock.fencingToken as number);
        await lock.release();
      }
      expect(tokens).toEqual([1, 2, 3, 4]);
      await eventually(() => Promise.all(inspectors.map((client) => client.get(`{${prefix}ledger:7}:fencing-counter`))), Array(NODE_COUNT).fill('4'));
      await Promise.all(inspectors.map((client) => client.del(`{${prefix}ledger:7}:fencing-counter`)));
    });

    it('re-enters a held lock for its owner, keeping the keys until the last handle is released', async () => {
      const redlock = await newRedlock({ nodeTimeoutMs: SHORT_TTL_NODE_TIMEOUT_MS });
      const other = await newRedlock({ retryCount: 0 });
      const outer = await redlock.acquire('accounts:9', 500);
      const inner = await redlock.acquire('accounts:9', TTL_MS, { reentrant: outer });
      expect(inner.token).toBe(outer.token);
      // Asking for more than was left extended the keys for every handle.
      expect(await inspectors[0]?.pttl(prefix + 'accounts:9')).toBeGreaterThan(TTL_MS - 1_000);
      await outer.release();
      await expect(other.acquire('accounts:9', TTL_MS)).rejects.toThrow(LockAcquireError);
      await inner.release();
      const next = await other.acquire('accounts:9', TTL_MS);
      await next.release();
    });

    it('counts replies that arrived while the event loop was stalled past the per-node timeout', async () => {
      const redlock = await newRedlock({ nodeTimeoutMs: 50 });
      // Load the scripts first, so the stalled attempt is one round trip (no NOSCRIPT fallback).
      await (await redlock.acquire('jobs:stalled', TTL_MS)).release();
      const acquiring = redlock.acquire('jobs:stalled', TTL_MS);
      // Block the event loop well past the timeout; the replies arrive in the sockets meanwhile.
      const until = performance.now() + 300;
      while (performance.now() < until);
      const lock = await acquiring;
      expect(lock.attempts).toBe(1); // the first attempt counted the replies instead of timing out
      const released = await lock.release();
      expect((await released.settled).map((node) => node.status)).toEqual(Array(NODE_COUNT).fill('released'));
    });

    it('keeps a lock past its TTL with using() while the routine runs', async () => {
      const redlock = await newRedlock({ nodeTimeoutMs: SHORT_TTL_NODE_TIMEOUT_MS });
      let seen: Lock | undefined;
      const value = await redlock.using('jobs:long', 400, async (signal, lock) => {
        seen = lock;
        await delay(1_000);
        expect(signal.aborted).toBe(false);
        expect(await valuesOf('jobs:long')).toEqual(Array(NODE_COUNT).fill(lock.token));
        return 'done';
      });
      expect(value).toBe('done');
      expect(seen?.state).toBe('released');
      expect(await eventuallyNoKeys()).toEqual([]);
    });
  });
}
