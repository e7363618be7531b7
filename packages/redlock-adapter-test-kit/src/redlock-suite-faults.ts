// The Redlock suite's fault tests: nodes killed, restarted empty, inside their restart grace, paused. Each is
// registered with `itWithFaults`, skipped where the kit does not control the nodes.
import { deepStrictEqual, equal, match, ok } from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { LockAcquireError, LockInspectError } from 'redlock-core';
import { eventually, rejectionOf } from './assertions.js';
import { NODE_COUNT, type SuiteContext, TTL_MS } from './suite-context.js';

/** Registers the fault tests, in their order in the suite. */
export function registerFaultTests(context: SuiteContext): void {
  const { itWithFaults, redis, newRedlock, valuesOf, keysOnNodes, eventuallyNoKeys, command } = context;
  itWithFaults('keeps working with one node killed, and reports that node', async () => {
    const redlock = await newRedlock();
    await redis.nodes[1]?.kill();
    const lock = await redlock.acquire('orders:killed-one', TTL_MS);
    await eventually(async () => (await valuesOf('orders:killed-one')).filter((value) => value === lock.token).length, NODE_COUNT - 1);
    const result = await lock.release();
    ok(result.releasedCount >= Math.floor(NODE_COUNT / 2) + 1);
    const settled = await result.settled;
    equal(settled.filter((node) => node.status === 'released').length, NODE_COUNT - 1);
    match(String(settled[1]?.status), /^(timeout|error)$/);
  });

  itWithFaults('fails with nodes-unreachable when three of five nodes are killed, leaving no key', async () => {
    const redlock = await newRedlock({ retryCount: 2, nodeTimeoutMs: 200 });
    const inspecting = await newRedlock({ nodeTimeoutMs: 200 });
    await Promise.all([redis.nodes[0]?.kill(), redis.nodes[2]?.kill(), redis.nodes[4]?.kill()]);
    const error = await rejectionOf(redlock.acquire('orders:killed-three', TTL_MS));
    ok(error instanceof LockAcquireError, String(error));
    equal(error.reason, 'nodes-unreachable');
    match(error.message, /^Could not acquire "orders:killed-three" after 3 attempts: nodes unreachable/);
    equal(error.attempts.length, 3);
    deepStrictEqual(
      error.nodeErrors.map((nodeError) => nodeError.nodeIndex),
      [0, 2, 4, 0, 2, 4, 0, 2, 4],
    );
    deepStrictEqual(await keysOnNodes(), []);
    const inspectError = await rejectionOf(inspecting.inspect('orders:killed-three'));
    ok(inspectError instanceof LockInspectError, String(inspectError));
    equal(inspectError.nodeErrors.length, 3);
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

  itWithFaults('finishes an attempt within about the per-node timeout while a node is paused', async () => {
    const redlock = await newRedlock({ nodeTimeoutMs: 250 });
    redis.nodes[3]?.pause();
    const started = performance.now();
    const lock = await redlock.acquire('orders:paused', TTL_MS);
    ok(performance.now() - started < 2_000, 'without the timeout it would wait for ever');
    const released = await lock.release();
    // Resolved by the healthy nodes, without waiting for the paused one.
    deepStrictEqual(released.nodes[3], { nodeIndex: 3, status: 'pending' });
    ok(released.releasedCount >= redlock.quorum);
    equal((await released.settled)[3]?.status, 'timeout');
  });

  itWithFaults('cleans up a paused node once it answers, after a successful and a failed attempt', async () => {
    const succeeding = await newRedlock({ nodeTimeoutMs: 250 });
    const failing = await newRedlock({ nodeTimeoutMs: 250, retryCount: 0 });
    // Success: node 4 is paused, 4 nodes grant, release; the paused node runs the queued commands later.
    redis.nodes[4]?.pause();
    const lock = await succeeding.acquire('orders:late', TTL_MS);
    await lock.release();
    // Failure: a majority is paused, so the attempt fails and must clean up on all of them.
    redis.nodes[0]?.pause();
    redis.nodes[1]?.pause();
    const error = await rejectionOf(failing.acquire('orders:late-failed', TTL_MS));
    ok(error instanceof LockAcquireError, String(error));
    deepStrictEqual(
      error.attempts[0]?.nodes.map((node) => node.status),
      ['timeout', 'timeout', 'acquired', 'acquired', 'timeout'],
    );
    for (const node of redis.nodes) node.resume();
    await eventuallyNoKeys();
  });
}

/**
 * Registers the restart-grace test, which needs every node but the one it restarts to be at least 2 s old:
 * registered last, after the tests that follow the fault tests, so that the nodes those restarted are
 * already that old and the test does not wait for them (it waited about 2 s in each adapter variant when
 * it ran among the fault tests).
 */
export function registerRestartGraceTest(context: SuiteContext): void {
  const { itWithFaults, redis, newRedlock, valuesOf, command } = context;
  itWithFaults('grants nothing on a node inside its restart grace', async () => {
    // Node 1 restarts, and the grace is the youngest other node's uptime (INFO rounds it down to whole
    // seconds, so the others grant), at least MIN_GRACE_MS. Node 1 must still be inside its grace when the
    // acquisition reaches it: its uptime, read after the acquisition, tells whether it was. When it was not
    // (a machine too slow to reach it within a second or more), nothing can be concluded and the
    // experiment runs again, with older nodes and so a longer grace: waiting for that every time cost each
    // adapter variant 5 s.
    const MIN_GRACE_MS = 2_000;
    const uptimeMsOf = async (index: number): Promise<number> => Number(/uptime_in_seconds:(\d+)/.exec(String(await command(index, 'INFO', 'server')))?.[1]) * 1000;
    const othersYoungestUptimeMs = async (): Promise<number> =>
      Math.min(...(await Promise.all(Array.from({ length: NODE_COUNT }, (_, index) => (index === 1 ? Infinity : uptimeMsOf(index))))));
    for (let round = 1; ; round += 1) {
      // An earlier test may have restarted one of the others.
      const youngestMs = await othersYoungestUptimeMs();
      if (youngestMs < MIN_GRACE_MS) await delay(MIN_GRACE_MS - youngestMs + 100);
      await redis.nodes[1]?.kill();
      await redis.nodes[1]?.start();
      const graceMs = await othersYoungestUptimeMs();
      const redlock = await newRedlock({ restartGraceMs: graceMs });
      const lock = await redlock.acquire('orders:grace', TTL_MS);
      const wasInsideGrace = (await uptimeMsOf(1)) < graceMs;
      if (wasInsideGrace) await eventually(async () => (await valuesOf('orders:grace')).map((value) => value === lock.token), [true, false, true, true, true]);
      await lock.release();
      if (wasInsideGrace) return;
      ok(round < 3, `node 1 was past its ${graceMs} ms grace when the acquisition reached it, ${round} times: the machine is too slow for this test`);
    }
  });
}
