import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeAll, beforeEach, describe, expect, jest } from '@jest/globals';
import type { Redis } from 'ioredis';
import { Lock, LockAcquireError, NodeConfigurationError, NodeError, Redlock, type RedlockOptions } from 'redlock-core';
import { writeTestLog } from '../../../redlock-core/test/support/test-log.js';
import { IoredisAdapter } from '../../src/index.js';
import { eventually } from '../support/eventually.js';
import { useLatencyProxies } from '../support/latency-proxies.js';
import { canInjectFaults, itWithFaults, useRedisNodes } from '../support/redis-servers.js';

// What a Redlock learns about its nodes, on real redis-server processes: a node that accepts commands and
// never answers is counted down and costs nothing more (no pile of pending commands), then up again once
// it answers; two clients of one server are refused as two nodes; an evicting `maxmemory-policy` gets a
// warning, or the node is never counted with `refuseEvictingNodes`. Bounded in time; stops by itself.

const NODE_COUNT = 5;
const TTL_MS = 10_000;

const redis = useRedisNodes(NODE_COUNT);
const proxies = useLatencyProxies();

/** Direct clients to the nodes, for looking at keys and changing settings; never used for locks. */
let admins: Redis[] = [];
let prefix = '';

beforeAll(() => {
  admins = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: 1 }));
});
beforeEach(() => {
  prefix = `node-health:${randomUUID()}:`;
});

/** Keys of this test on every node, asked directly. */
async function keysOfTest(): Promise<string[]> {
  return (await Promise.all(admins.map((admin) => admin.keys(`${prefix}*`)))).flat();
}

/** Waits, up to `limitMs`, until no node holds a key of this test; resolves with the keys still there. */
const noKeysWithin = (limitMs: number): Promise<string[]> => eventually(keysOfTest, (keys) => keys.length === 0, limitMs);

/** A Redlock over new clients of their own, one per node URL (the node's own, or a proxy's). */
function newRedlock(urls: readonly string[], options: RedlockOptions = {}): { readonly redlock: Redlock; readonly clients: readonly Redis[] } {
  const clients = urls.map((url) => redis.connect(url));
  return { redlock: new Redlock(clients.map((client) => new IoredisAdapter(client)), { keyPrefix: prefix, ...options }), clients };
}

/** Commands the client has sent or queued that have had no reply yet. */
function pendingCommands(client: Redis): number {
  const offlineQueue = Reflect.get(client, 'offlineQueue') as { readonly length: number };
  return client.commandQueue.length + offlineQueue.length;
}

/**
 * The most probes a silent node can be sent within `elapsedMs` of counting as silent: the first at once,
 * each later one once the one before timed out (after the longest timeout, 1 s for this TTL) and the wait
 * passed: 250 ms (FIRST_PROBE_DELAY_MS), then twice the wait before, at most 10 s (MAX_PROBE_DELAY_MS).
 */
function probesWithin(elapsedMs: number): number {
  let probes = 1;
  let waitMs = 250;
  for (let probeAtMs = 1_000 + waitMs; probeAtMs <= elapsedMs; probeAtMs += 1_000 + waitMs) {
    probes += 1;
    waitMs = Math.min(10_000, 2 * waitMs);
  }
  return probes;
}

/** The heap in use after a full garbage collection, in bytes (V8's `gc`, exposed to this file only). */
function heapUsedAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

async function cycle(redlock: Redlock, resource: string): Promise<void> {
  const lock = await redlock.acquire(resource, TTL_MS);
  await lock.release();
}

/**
 * {@link cycle}, until every node's release answered, not only a quorum's: a test that changes a node next
 * (a delay) must find no call of the cycle still in flight there, whose late answer would count for the
 * node as a reply to what the test sends after the change.
 */
async function settledCycle(redlock: Redlock, resource: string): Promise<void> {
  const lock = await redlock.acquire(resource, TTL_MS);
  await (await lock.release()).settled;
}

describe('a node that accepts commands and never answers', () => {
  const SILENT_NODE = 4;
  const CYCLES = 3_000;

  itWithFaults(
    `stops sending it commands 50 ms after it stopped answering, then ${CYCLES} acquire+release cycles add only probes and no heap, and it is up again once it answers`,
    async () => {
      const proxy = await proxies.start((redis.nodes[SILENT_NODE] as { port: number }).port);
      const urls = redis.urls.map((url, index) => (index === SILENT_NODE ? proxy.url : url));
      const { redlock, clients } = newRedlock(urls);
      const silentClient = clients[SILENT_NODE] as Redis;
      const timeouts = (): number => redlock.stats().nodes[SILENT_NODE]?.timeouts ?? 0;
      // On a loaded machine the near nodes sometimes miss the 50 ms timeout too, and a cycle fails: the
      // next one goes on, since what this test counts is what the silent node is sent. Few may fail.
      let failedCycles = 0;
      const cycleOn = (resource: string): Promise<void> =>
        cycle(redlock, resource).catch(() => {
          failedCycles += 1;
        });
      try {
        // First contact (probe, scripts) while every node answers, as in a deployment where a node later hangs;
        // then as many cycles as the test runs, so that one-time caches and JIT feedback do not count as growth.
        await cycle(redlock, 'warm-up');
        expect(redlock.nodeHealth().map((node) => node.state)).toEqual(Array(NODE_COUNT).fill('up'));
        // Its first answers measured it near, so its calls time out after the shortest node timeout (50 ms);
        // a node never heard from would get the longest (1 s for this TTL) before its first timeout.
        expect(await eventually(() => redlock.nodeHealth()[SILENT_NODE]?.rttMs, (rttMs) => rttMs !== undefined, 2_000)).toBeDefined();
        for (let index = 0; index < CYCLES; index += 1) await cycleOn('warm-up');

        // Cycles run on, back to back, until the node counts as silent: at the first timeout of a call sent
        // after its last answer, 50 ms after the partition (a call sent just before it may have been
        // answered later, and its timeout does not count). Until then every cycle sent it its acquire and
        // that lock's release, however many fit in those 50 ms on this machine. Before the fix, it took
        // 3 timeouts in a row and the first had to stay unanswered for 600 ms: thousands of cycles here.
        proxy.partition();
        const partitionedAt = performance.now();
        while (redlock.nodeHealth()[SILENT_NODE]?.state !== 'down' && performance.now() - partitionedAt < 5_000) await cycleOn('cycled');
        const downAt = performance.now();
        expect(redlock.nodeHealth()[SILENT_NODE]?.state).toBe('down');
        expect(downAt - partitionedAt).toBeLessThan(500);
        const pendingWhenDown = pendingCommands(silentClient);
        const heapWhenDown = heapUsedAfterGc();

        for (let index = 1; index <= CYCLES; index += 1) await cycleOn('cycled');
        expect(failedCycles).toBeLessThan(CYCLES / 100);
        const heapGrowth = heapUsedAfterGc() - heapWhenDown;
        const pendingAtEnd = pendingCommands(silentClient);

        // From then on, the node is sent only its probes, each an acquire and that lock's release, one at a
        // time; each cycle would add 2 commands, 6,000 in all, if it were still called.
        expect(pendingAtEnd - pendingWhenDown).toBeLessThanOrEqual(2 * probesWithin(performance.now() - downAt));
        // Nothing else piles up either: before the fix, 5 KB per cycle (the commands and what waited for them).
        expect(heapGrowth).toBeLessThan(1_000_000);
        const health = redlock.nodeHealth();
        expect(health[SILENT_NODE]).toMatchObject({ nodeIndex: SILENT_NODE, state: 'down' });
        expect(health.filter((node) => node.state === 'up')).toHaveLength(NODE_COUNT - 1);

        // Healed: the held commands run in order (each acquire before its release), and their late answers
        // bring the node back.
        proxy.heal();
        const healed = await eventually(
          async () => {
            await cycle(redlock, 'after-heal');
            await delay(50);
            return redlock.nodeHealth()[SILENT_NODE];
          },
          (node) => node?.state === 'up',
          15_000,
        );
        expect(healed).toMatchObject({ state: 'up', timeoutsInARow: 0 });
        expect(await eventually(() => pendingCommands(silentClient), (pending) => pending === 0, 5_000)).toBe(0);
        // Every key the held acquires set when they ran, at the heal, was released: not left to its 10 s TTL.
        expect(await noKeysWithin(3_000)).toEqual([]);
      } finally {
        proxy.heal();
      }
    },
    60_000,
  );
});

describe('a node that slows down', () => {
  const SLOW_NODE = 3;
  const STEP_DELAY_MS = 150;

  itWithFaults(
    `fails the tries of its probe's round trip when it steps from near to a ${2 * STEP_DELAY_MS} ms round trip while every vote needs it, then is waited for`,
    async () => {
      const proxy = await proxies.start((redis.nodes[SLOW_NODE] as { port: number }).port);
      const urls = redis.urls.map((url, index) => (index === SLOW_NODE ? proxy.url : url));
      const { redlock } = newRedlock(urls, { retryCount: 0 });
      const resource = `needs-node-${SLOW_NODE}`;
      // Another owner holds the resource on nodes 0 and 1: each quorum of 3 needs nodes 2, 3 and 4.
      await Promise.all([0, 1].map((index) => admins[index]?.set(`${prefix}${resource}`, 'another-owner', 'PX', 30_000)));
      try {
        // Measured near (its first answers, with the connection's setup, measure it farther): its calls time
        // out after the shortest timeout, 50 ms for this TTL, once those answers have left the last 16 its
        // timeout covers and its answers come within 30 ms (a quarter and 10 ms more is 50 ms or less).
        let warmUps = 0;
        const near = await eventually(
          async () => {
            await settledCycle(redlock, 'warm-up');
            warmUps += 1;
            return redlock.nodeHealth()[SLOW_NODE];
          },
          (node) => warmUps > 16 && node?.rttMs !== undefined && node.rttMs < 30,
          5_000,
        );
        expect(near?.rttMs).toBeLessThan(50);

        // Now 300 ms away: the first try times out after 50 ms, with no answer from the node since it was
        // sent, so the node counts as silent. The next try carries its probe, given the longest timeout (1 s
        // for this TTL), which the vote waits for only 50 ms, the node's pace so far (a paused node's probe
        // held split votes for a second): it fails too, and so do the tries while the probe is out, which
        // find the node probing. The probe's answer measures the node, and the next try gets the lock.
        // Tries follow one another, 50 ms apart, until one gets the lock. On a loaded machine a near node
        // can miss its own 50 ms timeout and fail a try too: what is measured is the tries the slow node
        // failed, not every try's fate, which depends on the machine's load.
        proxy.delayMs = STEP_DELAY_MS;
        const failedBySlowNode: number[] = [];
        const otherFailures: string[] = [];
        let second: Lock | undefined;
        for (let tryIndex = 0; second === undefined && tryIndex < 40; tryIndex += 1) {
          const result = await redlock.acquire(resource, TTL_MS).catch((error: unknown) => error);
          if (result instanceof Lock) second = result;
          else {
            // Any other error fails here, on this line, rather than deep in the library's stack.
            expect(result).toBeInstanceOf(LockAcquireError);
            const { nodeErrors } = result as LockAcquireError;
            if (nodeErrors.some((nodeError) => nodeError.nodeIndex === SLOW_NODE)) failedBySlowNode.push(tryIndex);
            else otherFailures.push(`try ${tryIndex}: ${(result as Error).message}`);
            await delay(50);
          }
        }
        expect({ firstFailedBySlowNode: failedBySlowNode.slice(0, 2), gotTheLock: second !== undefined }).toEqual({ firstFailedBySlowNode: [0, 1], gotTheLock: true });
        if (otherFailures.length > 0) writeTestLog(`tries failed by a near node under load: ${otherFailures.join('; ')}`);
        await (await (second as Lock).release()).settled;
        // The late answers measured it: waited for from then on.
        const measured = redlock.nodeHealth()[SLOW_NODE];
        expect(measured).toMatchObject({ state: 'up', timeoutsInARow: 0 });
        expect(measured?.rttMs).toBeGreaterThan(near?.rttMs ?? Infinity);
        await (await (await redlock.acquire(resource, TTL_MS)).release()).settled;
      } finally {
        proxy.delayMs = 0;
        await Promise.all(admins.map((admin) => admin.del(`${prefix}${resource}`)));
      }
      expect(await noKeysWithin(3_000)).toEqual([]);
    },
    20_000,
  );
});

describe('two clients of one Redis server as two nodes', () => {
  itWithFaults('reject every operation with NodeConfigurationError, grant no lock and leave no key, even when those two votes would make a quorum', async () => {
    // Nodes 0 and 1 are server 0; node 2 (server 1) never answers: only the double vote could make a quorum of 2.
    const { redlock } = newRedlock([redis.urls[0] as string, redis.urls[0] as string, redis.urls[1] as string], { retryCount: 0 });
    const paused = redis.nodes[1];
    paused?.pause();
    let error: unknown;
    try {
      error = await redlock.acquire('same-server', TTL_MS).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(NodeConfigurationError);
      expect(error).toMatchObject({ name: 'NodeConfigurationError', problem: 'same-server', nodeIndexes: [0, 1] });

      // Later operations reject the same way, at once.
      await expect(redlock.acquire('same-server', TTL_MS)).rejects.toBe(error);
      await expect(redlock.acquire('another', TTL_MS)).rejects.toBe(error);
      await expect(redlock.using('another', TTL_MS, () => 'ran')).rejects.toBe(error);
      await expect(redlock.inspect('same-server')).rejects.toBe(error);
    } finally {
      paused?.resume();
    }
    // The first attempt's keys were released on server 0 at once, and on server 1 once it ran its queue.
    expect(await noKeysWithin(3_000)).toEqual([]);
  });
});

describe('a node whose eviction policy can delete lock keys', () => {
  const EVICTING_NODE = 0;
  const WARNING_CODE = 'REDLOCK_EVICTING_NODE';

  /**
   * The warnings with `code` the Redlock emits (`process.emitWarning(message, { type, code })`) while
   * `work` runs: captured, so that an expected warning does not reach the terminal.
   */
  async function warningsDuring(code: string, work: () => Promise<void>): Promise<{ message: string; type: unknown }[]> {
    const warnings: { message: string; type: unknown }[] = [];
    const spy = jest.spyOn(process, 'emitWarning').mockImplementation((...args: unknown[]) => {
      const [message, options] = args as [unknown, { type?: unknown; code?: unknown } | undefined];
      if (options?.code === code) warnings.push({ message: String(message), type: options.type });
    });
    try {
      await work();
      return warnings;
    } finally {
      spy.mockRestore();
    }
  }

  /**
   * Resolves once the Redlock has heard node 0's probe (up to 3 s): an acquire resolves at a quorum, so
   * its first cycle may end before node 0 answered.
   */
  async function probeAnswered(redlock: Redlock): Promise<void> {
    await eventually(() => redlock.nodeHealth()[EVICTING_NODE]?.maxmemoryPolicy, (policy) => policy !== undefined, 3_000);
  }

  /** Another owner's key for `resource` on `nodeIndexes`, as if it held the lock there. */
  async function heldByAnotherOwner(resource: string, nodeIndexes: readonly number[]): Promise<void> {
    await Promise.all(nodeIndexes.map((index) => admins[index]?.set(`${prefix}${resource}`, 'another-owner', 'PX', TTL_MS)));
  }

  beforeEach(async () => {
    if (canInjectFaults) await admins[EVICTING_NODE]?.config('SET', 'maxmemory-policy', 'volatile-lru');
  });
  afterEach(async () => {
    if (canInjectFaults) await admins[EVICTING_NODE]?.config('SET', 'maxmemory-policy', 'noeviction');
  });

  itWithFaults(`gets one warning with code ${WARNING_CODE}, and still counts`, async () => {
    const { redlock } = newRedlock(redis.urls);
    const warnings = await warningsDuring(WARNING_CODE, async () => {
      for (let index = 0; index < 3; index += 1) await cycle(redlock, 'warned');
      await probeAnswered(redlock);
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.type).toBe('RedlockWarning');
    expect(warnings[0]?.message).toContain(`Node ${EVICTING_NODE} runs with maxmemory-policy volatile-lru`);
    expect(redlock.nodeHealth()[EVICTING_NODE]).toMatchObject({ state: 'up', maxmemoryPolicy: 'volatile-lru' });

    // Its vote counts: with another owner on nodes 1 and 2, nodes 0, 3 and 4 make the quorum.
    await heldByAnotherOwner('counted', [1, 2]);
    const lock = await redlock.acquire('counted', TTL_MS, { retryCount: 0 });
    await (await lock.release()).settled;
    await Promise.all(admins.map((admin) => admin.del(`${prefix}counted`)));
    expect(await noKeysWithin(3_000)).toEqual([]);
  });

  itWithFaults('is never counted, nor sent a lock, with refuseEvictingNodes', async () => {
    const { redlock } = newRedlock(redis.urls, { refuseEvictingNodes: true });
    const warnings = await warningsDuring(WARNING_CODE, async () => {
      // First contact: the probe finds the policy, and the node's answer is refused.
      await cycle(redlock, 'first');
      await probeAnswered(redlock);
    });
    expect(warnings).toEqual([]);
    expect(redlock.nodeHealth()[EVICTING_NODE]).toMatchObject({ state: 'refused', maxmemoryPolicy: 'volatile-lru' });

    // With another owner on nodes 1 and 2, nodes 3 and 4 are not a quorum without node 0's vote.
    await heldByAnotherOwner('contended', [1, 2]);
    const error = (await redlock.acquire('contended', TTL_MS, { retryCount: 0 }).catch((failure: unknown) => failure)) as LockAcquireError;
    expect(error).toBeInstanceOf(LockAcquireError);
    const refused = error.attempts[0]?.nodes[EVICTING_NODE];
    expect(refused?.status).toBe('error');
    const nodeError = (refused as { error: NodeError }).error;
    expect(nodeError).toBeInstanceOf(NodeError);
    expect(nodeError.cause).toBeInstanceOf(NodeConfigurationError);
    expect(nodeError.cause).toMatchObject({ problem: 'evicting-policy', nodeIndexes: [EVICTING_NODE] });

    // Not sent either: a lock held on the other four leaves node 0 without the key.
    const lock = await redlock.acquire('free', TTL_MS);
    const holders = await eventually(
      () => Promise.all(admins.map((admin) => admin.get(`${prefix}free`))),
      (values) => values.filter((value) => value === lock.token).length === NODE_COUNT - 1,
      3_000,
    );
    expect(holders).toEqual([null, lock.token, lock.token, lock.token, lock.token]);
    await (await lock.release()).settled;
    await Promise.all(admins.map((admin) => admin.del(`${prefix}contended`)));
    expect(await noKeysWithin(3_000)).toEqual([]);
  });
});
