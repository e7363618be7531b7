import { deepStrictEqual, equal, ok } from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { setTimeout as delay } from 'node:timers/promises';

import {
  type AttemptTraceContext,
  DIAGNOSTICS_CHANNELS,
  type Lock,
  LockAcquireError,
  LockLostError,
  type RedisAdapter,
  Redlock,
  type RedlockOptions,
} from 'redlock-core';
import type { AdapterFactory, AdapterHandle } from './adapter-factory.js';
import { eventually, rejectionOf, waitFor } from './assertions.js';
import { closeAll } from './close-handles.js';
import { registerFaultTests, registerRestartGraceTest } from './redlock-suite-faults.js';
import { registerPrimitiveTests } from './redlock-suite-primitives.js';
import { NODE_COUNT, NODE_TIMEOUT_MS, SHORT_TTL_NODE_TIMEOUT_MS, type SuiteContext, TTL_MS } from './suite-context.js';
import { type TestNodes, useTestNodes } from './test-nodes.js';
import { HOOK_TIMEOUT_MS, skipOf, TEST_TIMEOUT_MS, type TestFunctions } from './test-functions.js';

/** The end of each attempt, as `node:diagnostics_channel` names the `asyncEnd` event of the core's attempt trace. */
const ATTEMPT_END_CHANNEL = `tracing:${DIAGNOSTICS_CHANNELS.attempt}:asyncEnd`;

/** Options of {@link describeRedlockSuite}. */
export interface RedlockSuiteOptions {
  /** Names the suite in the runner's report. */
  readonly name: string;
  /** Your runner's functions: see {@link TestFunctions}. */
  readonly test: TestFunctions;
  /** Makes an adapter for a node URL; each simulated process gets adapters of its own. */
  readonly connect: AdapterFactory;
  /**
   * Five nodes from {@link useTestNodes} in the enclosing `describe`, to share them between suites (e.g.
   * one per client version): the suite leaves every node running and answering after each test.
   * @defaultValue five nodes of its own, started and stopped by the suite
   */
  readonly nodes?: TestNodes;
}

/**
 * Registers Redlock end to end on 5 real nodes through the adapter: the lock cycle (acquire, extend,
 * release, inspect), contention between clients, expiry, fencing, re-entrance, hand-off to a waiter (at
 * once when the adapter has `subscribe`, at the retry timer otherwise), a stalled event loop, a counting
 * semaphore and a read-write lock, and faults: one and three nodes killed, a node restarted empty, a paused
 * node. Fault tests are registered as skipped when `REDLOCK_TEST_NODES` points at nodes the kit does not
 * control. Each test uses a key prefix of its own.
 *
 * @example
 * ```ts
 * import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from '@jest/globals';
 * import { describeRedlockSuite } from 'redlock-adapter-test-kit';
 *
 * describeRedlockSuite({
 *   name: 'MyAdapter',
 *   test: { describe, it, beforeAll, afterAll, beforeEach, afterEach },
 *   connect: connectMyAdapter, // see AdapterFactory
 * });
 * ```
 */
export function describeRedlockSuite(options: RedlockSuiteOptions): void {
  const { test, connect } = options;
  test.describe(`${options.name}: Redlock on ${NODE_COUNT} real nodes`, () => {
    const redis = options.nodes ?? useTestNodes(test, NODE_COUNT);
    const { canInjectFaults } = redis;
    const it = (name: string, body: () => Promise<void>): void => test.it(name, body, TEST_TIMEOUT_MS);
    const skip = skipOf(test);
    // Registered as skipped rather than left out, so that the runner's count shows what did not run.
    const itWithFaults = (name: string, body: () => Promise<void>): void => {
      if (canInjectFaults) it(name, body);
      else skip?.(name, body);
    };
    let prefix = '';
    let handles: AdapterHandle[] = [];

    const open = async (url: string): Promise<RedisAdapter> => {
      const handle = await connect(url);
      handles.push(handle);
      return handle.adapter;
    };
    /** A Redlock with adapters of its own, as another process would have. Made while every node answers. */
    const newRedlock = async (redlockOptions: RedlockOptions = {}): Promise<Redlock> => {
      const adapters = await Promise.all(redis.urls.map((url) => open(url)));
      return new Redlock(adapters, {
        keyPrefix: prefix,
        retryDelayMs: 20,
        retryJitterMs: 10,
        nodeTimeoutMs: NODE_TIMEOUT_MS,
        ...redlockOptions,
      });
    };
    /** Sends a command to every node, `'✕'` for a node that cannot answer. */
    const onEveryNode = (args: readonly string[]): Promise<unknown[]> =>
      Promise.all(redis.urls.map((_, index) => redis.command(index, args).catch(() => '✕')));
    /** What each node stores under a resource's key. */
    const valuesOf = (resource: string): Promise<unknown[]> => onEveryNode(['GET', prefix + resource]);
    const keysOnNodes = async (): Promise<unknown[]> => (await onEveryNode(['KEYS', `${prefix}*`])).flatMap((keys) => (Array.isArray(keys) ? keys : []));
    /** Waits, bounded, until no node holds a key of this test: cleanups of late nodes run in the background. */
    const eventuallyNoKeys = (): Promise<void> => eventually(keysOnNodes, []);
    const command = (index: number, ...args: string[]): Promise<unknown> => redis.command(index, args);
    const context: SuiteContext = { it, itWithFaults, redis, newRedlock, onEveryNode, valuesOf, keysOnNodes, eventuallyNoKeys, command, prefix: () => prefix };

    test.beforeEach(async () => {
      prefix = `redlock-suite:${randomUUID()}:`;
    });
    test.afterEach(async () => {
      // Bring every node back for the next test (resume the paused, restart the killed), then close.
      if (canInjectFaults) {
        for (const node of redis.nodes) if (node.isPaused) node.resume();
        await Promise.all(redis.nodes.filter((node) => !node.isRunning).map((node) => node.start()));
      }
      const closing = handles;
      handles = [];
      await closeAll(closing);
    }, HOOK_TIMEOUT_MS);

    it('acquires on every node, extends and releases', async () => {
      const lock = await (await newRedlock()).acquire(['orders:1', 'orders:2'], TTL_MS);
      await eventually(() => valuesOf('orders:1'), Array(NODE_COUNT).fill(lock.token));
      await eventually(() => valuesOf('orders:2'), Array(NODE_COUNT).fill(lock.token));
      ok(lock.remainingValidityMs > 0);
      ok(lock.remainingValidityMs <= TTL_MS - 32, 'validity leaves room for drift: 1% + 2 ms');

      await command(0, 'PEXPIRE', prefix + 'orders:1', '100');
      const extended = await lock.extend(10_000);
      equal(extended, lock);
      ok(Number(await command(0, 'PTTL', prefix + 'orders:1')) > 9_000, 'extend reset the TTL');
      ok(lock.remainingValidityMs > TTL_MS);

      const result = await lock.release();
      ok(result.releasedCount >= Math.floor(NODE_COUNT / 2) + 1);
      equal(lock.state, 'released');
      deepStrictEqual(
        (await result.settled).map((node) => node.status),
        Array(NODE_COUNT).fill('released'),
      );
      deepStrictEqual(await keysOnNodes(), []);
      equal(await lock.release(), result);
    });

    it('refuses a second owner until the first releases', async () => {
      const first = await newRedlock();
      const second = await newRedlock({ retryCount: 0 });
      const lock = await first.acquire('reports:daily', TTL_MS);
      // acquire() resolves once a quorum granted: the other nodes' grants may still be on their way, and
      // the second owner would win such a node first. Every node holds the lock before the second tries.
      await eventually(() => valuesOf('reports:daily'), Array(NODE_COUNT).fill(lock.token));
      const refusal = await rejectionOf(second.acquire('reports:daily', TTL_MS));
      ok(refusal instanceof LockAcquireError, String(refusal));
      equal(refusal.reason, 'held-by-another-owner');
      // A single try ends once the refusals deny a quorum: the nodes still silent then are not waited for.
      const statuses = refusal.attempts[0]?.nodes.map((node) => (node.status === 'timeout' && !node.error.isTimeout ? 'not answered yet' : node.status));
      ok(statuses !== undefined && statuses.filter((status) => status === 'held').length > NODE_COUNT / 2, refusal.message);
      ok(statuses.every((status) => status === 'held' || status === 'not answered yet'), refusal.message);
      // The refused attempt left nothing of its own behind, and the owner's keys are intact.
      await eventually(() => valuesOf('reports:daily'), Array(NODE_COUNT).fill(lock.token));

      await lock.release();
      const next = await second.acquire('reports:daily', TTL_MS);
      ok(next.token !== lock.token);
      await next.release();
    });

    it('never lets two of four contending clients inside the critical section at once', async () => {
      const counterKey = `${prefix}value`; // not the lock's own key, `${prefix}counter`
      let inside = 0;
      let overlaps = 0;
      const redlocks = await Promise.all(Array.from({ length: 4 }, () => newRedlock({ retryCount: 200 })));
      const workers = redlocks.map(async (redlock) => {
        for (let round = 0; round < 5; round += 1) {
          await redlock.using('counter', TTL_MS, async () => {
            inside += 1;
            if (inside > 1) overlaps += 1;
            // A read-modify-write with a pause in the middle loses updates unless the lock works.
            const value = Number(await command(0, 'GET', counterKey));
            await delay(2);
            await command(0, 'SET', counterKey, String(value + 1));
            inside -= 1;
          });
        }
      });
      await Promise.all(workers);
      equal(overlaps, 0);
      equal(await command(0, 'GET', counterKey), '20');
      await command(0, 'DEL', counterKey);
      // using() resolves once a quorum confirmed its release; the other nodes finish in the background.
      await eventuallyNoKeys();
    });

    it('lets the lock go when its TTL expires without a release', async () => {
      // A 200 ms TTL is meant (`shortTtlMs` takes it): no REDLOCK_SHORT_TTL warning in the adapter author's run.
      const lock = await (await newRedlock({ nodeTimeoutMs: SHORT_TTL_NODE_TIMEOUT_MS, shortTtlMs: 200 })).acquire('jobs:expire', 200);
      const other = await newRedlock({ retryCount: 0 });
      await delay(300);
      equal(lock.state, 'expired');
      const next = await other.acquire('jobs:expire', TTL_MS);
      equal((await lock.release()).releasedCount, 0);
      await eventually(() => valuesOf('jobs:expire'), Array(NODE_COUNT).fill(next.token));
      await next.release();
    });

    registerFaultTests(context);

    it('aborts the routine of using() when a majority of nodes no longer holds the lock', async () => {
      const lost = await rejectionOf(
        (await newRedlock({ nodeTimeoutMs: SHORT_TTL_NODE_TIMEOUT_MS })).using('payments:settle', 1_000, async (signal) => {
          // using() starts at a quorum; wait for the late grants, or one could land after the DEL and keep a majority.
          await eventually(async () => (await valuesOf('payments:settle')).every((value) => value !== null), true);
          await Promise.all([0, 1, 2].map((index) => command(index, 'DEL', prefix + 'payments:settle')));
          await new Promise((resolve, reject) => {
            const timer = setTimeout(resolve, 5_000);
            signal.addEventListener('abort', () => {
              clearTimeout(timer);
              reject(signal.reason);
            });
          });
        }),
      );
      ok(lost instanceof LockLostError, String(lost));
      await eventuallyNoKeys();
    });

    it('hands the lock to a waiter when it is released: woken by the release with subscribe, else by its retry timer', async () => {
      const holder = await newRedlock();
      const canNotify = typeof (await open(redis.urls[0] as string)).subscribe === 'function';
      // With notifications, a retry timer far beyond any wake on a loaded machine: were the waiter not woken,
      // it would wait it out. Without, a short one, which is then the only thing that can start its next attempt.
      const waiter = await newRedlock({ retryDelayMs: canNotify ? 10_000 : 1_500, retryJitterMs: 0 });
      const lock = await holder.acquire('orders:hand-off', TTL_MS);
      // Released only once the waiter can no longer find the lock free but by a wake or its timer, however
      // long that takes on this machine: after its first attempt found the lock held and, with
      // notifications, after the look it takes once it listens (which would also see an earlier release).
      const refusalsBeforeRelease = canNotify ? 2 : 1;
      const attempts: AttemptTraceContext[] = [];
      const onAttemptEnd = (message: unknown): void => {
        const context = message as AttemptTraceContext;
        if (context.resources.includes('orders:hand-off') && context.result !== undefined) attempts.push(context);
      };
      subscribe(ATTEMPT_END_CHANNEL, onAttemptEnd);
      try {
        const waiting = waiter.acquire('orders:hand-off', TTL_MS);
        await waitFor(() => attempts.length >= refusalsBeforeRelease, `the waiter's ${refusalsBeforeRelease} attempts to find the lock held`);
        deepStrictEqual(
          attempts.map((attempt) => attempt.result?.outcome === 'acquired'),
          Array(refusalsBeforeRelease).fill(false),
        );
        await lock.release();
        const next = await waiting;
        // The attempt that took the lock says what started it: only a woken attempt asks the node that woke it alone
        // first; a timed retry always asks every node. Milliseconds are the bench's business.
        const taking = attempts.at(-1);
        equal(taking?.result?.outcome, 'acquired');
        equal(attempts.length, refusalsBeforeRelease + 1, 'one attempt after the release, none lost to the timer');
        equal(taking?.isWoken, canNotify, canNotify ? 'woken by the release notification' : 'started by its retry timer');
        await next.release();
      } finally {
        unsubscribe(ATTEMPT_END_CHANNEL, onAttemptEnd);
      }
    });

    it('inspects a resource by the quorum view, without revealing the token', async () => {
      const redlock = await newRedlock();
      const free = await redlock.inspect('reports:inspected');
      deepStrictEqual([free.resource, free.isLocked, free.remainingMs], ['reports:inspected', false, 0]);
      const lock = await redlock.acquire('reports:inspected', TTL_MS);
      await eventually(() => valuesOf('reports:inspected'), Array(NODE_COUNT).fill(lock.token));
      const held = await redlock.inspect('reports:inspected');
      equal(held.isLocked, true);
      ok(held.remainingMs > TTL_MS - 1_000 && held.remainingMs <= TTL_MS, `remainingMs ${held.remainingMs}`);
      deepStrictEqual(
        held.nodes.map((node) => node.status),
        Array(NODE_COUNT).fill('locked'),
      );
      ok(!JSON.stringify(held).includes(lock.token));
      // Only 2 of 5 nodes keep a long TTL: the lock frees when the third-longest TTL runs out.
      const key = prefix + 'reports:inspected';
      await Promise.all([command(0, 'PEXPIRE', key, '60000'), command(1, 'PEXPIRE', key, '60000'), command(2, 'PEXPIRE', key, '500')]);
      await Promise.all([command(3, 'DEL', key), command(4, 'DEL', key)]);
      const partial = await redlock.inspect('reports:inspected');
      equal(partial.isLocked, true);
      ok(partial.remainingMs <= 500);
      await command(2, 'DEL', key);
      equal((await redlock.inspect('reports:inspected')).isLocked, false);
      await lock.release();
    });

    it('hands out fencing tokens that grow across clients, stored in counters that outlive the locks', async () => {
      const clients = [await newRedlock(), await newRedlock()];
      const tokens: unknown[] = [];
      for (let round = 0; round < 4; round += 1) {
        const lock = await (clients[round % 2] as Redlock).acquire('ledger:7', TTL_MS, { fencing: true });
        tokens.push(lock.fencingToken);
        await lock.release();
      }
      deepStrictEqual(tokens, [1, 2, 3, 4]);
      const counter = `{${prefix}ledger:7}:fencing-counter`;
      await eventually(() => onEveryNode(['GET', counter]), Array(NODE_COUNT).fill('4'));
      await onEveryNode(['DEL', counter]);
    });

    it('re-enters a held lock for its owner, keeping the keys until the last handle is released', async () => {
      const redlock = await newRedlock({ nodeTimeoutMs: SHORT_TTL_NODE_TIMEOUT_MS });
      const other = await newRedlock({ retryCount: 0 });
      // 1.5 s: the outer handle must still be valid when the re-entrant call extends it, also on a loaded
      // machine (500 ms failed once beside a 10,000-world simulation), and stay below TTL_MS - 1 s, so
      // that the PTTL below tells an extension from the outer TTL.
      const outer = await redlock.acquire('accounts:9', 1_500);
      const inner = await redlock.acquire('accounts:9', TTL_MS, { reentrant: outer });
      equal(inner.token, outer.token);
      // Asking for more than was left extended the keys for every handle.
      ok(Number(await command(0, 'PTTL', prefix + 'accounts:9')) > TTL_MS - 1_000);
      await outer.release();
      ok((await rejectionOf(other.acquire('accounts:9', TTL_MS))) instanceof LockAcquireError);
      await inner.release();
      const next = await other.acquire('accounts:9', TTL_MS);
      await next.release();
    });

    it('counts the replies of an attempt during which the event loop stalled past the per-node timeout', async () => {
      const redlock = await newRedlock({ nodeTimeoutMs: 50 });
      // Load the scripts first, so the stalled attempt is one round trip (no NOSCRIPT fallback).
      await (await redlock.acquire('jobs:stalled', TTL_MS)).release();
      // Block the event loop well past the timeout, on the turn after the call: a client that writes at
      // once (ioredis) has sent the commands and the replies arrive in the sockets meanwhile; one that
      // writes on a later turn of the loop (node-redis, on `setImmediate`) sends them only after the block.
      // Either way the core gives the calls a fresh timeout once the loop runs again.
      setImmediate(() => {
        const until = performance.now() + 300;
        while (performance.now() < until);
      });
      const lock = await redlock.acquire('jobs:stalled', TTL_MS);
      equal(lock.attempts, 1, 'the first attempt counted the replies instead of timing out');
      const released = await lock.release();
      deepStrictEqual(
        (await released.settled).map((node) => node.status),
        Array(NODE_COUNT).fill('released'),
      );
    });

    registerPrimitiveTests(context);

    it('keeps a lock past its TTL with using() while the routine runs', async () => {
      // A 400 ms TTL kept extended is meant here (`shortTtlMs` takes it): the routine outlasts it in 1 s.
      const redlock = await newRedlock({ nodeTimeoutMs: SHORT_TTL_NODE_TIMEOUT_MS, shortTtlMs: 400 });
      let seen: Lock | undefined;
      const value = await redlock.using('jobs:long', 400, async (signal, lock) => {
        seen = lock;
        await delay(1_000);
        equal(signal.aborted, false);
        deepStrictEqual(await valuesOf('jobs:long'), Array(NODE_COUNT).fill(lock.token));
        return 'done';
      });
      equal(value, 'done');
      equal(seen?.state, 'released');
      await eventuallyNoKeys();
    });

    registerRestartGraceTest(context);
  });
}

