import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { type Lock, LockAcquireError, NodeConfigurationError, NodeError, Redlock, type RedlockOptions } from '../../src/index.js';
import { FIRST_PROBE_DELAY_MS } from '../../src/nodes/circuit-breaker.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNode, grantingNodes, hangingNode, keysOf } from '../../src/testing/fake-nodes.js';

/** Five nodes, the last of which accepts commands and never answers until resumed. */
function withSilentNode(options: RedlockOptions = {}) {
  const clock = new FakeClock();
  const silent = hangingNode(clock);
  const nodes = [...grantingNodes(clock, 4), silent];
  // A fixed timeout: these tests count timeouts, not how long each one takes (see node-latency.test.ts).
  return { clock, nodes, silent, redlock: new Redlock(nodes, { clock, retryCount: 0, nodeTimeoutMs: 50, ...options }) };
}

async function cycle(clock: FakeClock, redlock: Redlock, resource = 'r'): Promise<void> {
  const lock = await clock.runUntilSettled(redlock.acquire(resource, 1000));
  await clock.runUntilSettled(lock.release());
}

afterEach(() => {
  jest.restoreAllMocks();
});

/** Runs cycles until node `nodeIndex` counts as down, advancing the clock 10 ms between them; resolves with how many ran. */
async function cycleUntilDown(clock: FakeClock, redlock: Redlock, nodeIndex: number): Promise<number> {
  let cycles = 0;
  while (redlock.nodeHealth()[nodeIndex]?.state !== 'down' && cycles < 100) {
    await cycle(clock, redlock, `until-down-${cycles}`);
    await clock.advance(10);
    cycles += 1;
  }
  return cycles;
}

describe('a node that stops answering (circuit breaker)', () => {
  it('counts as down at its first call past the timeout, and is then sent only one probe at a time', async () => {
    const { clock, silent, redlock } = withSilentNode();
    // The cycles run at once while the silent node's first calls wait out their timeout: each sends it
    // an acquire and that lock's release.
    const lockCalls = (): number => silent.callsTo('acquire').length + silent.callsTo('release').length;
    for (let index = 0; index < 20; index += 1) await cycle(clock, redlock);
    expect(lockCalls()).toBe(40);
    expect(redlock.nodeHealth()[4]?.state).toBe('up');
    await clock.advance(50);
    // Its 20 acquires and 20 releases timed out together.
    expect(redlock.nodeHealth()[4]).toMatchObject({ nodeIndex: 4, state: 'down', timeoutsInARow: 40, probeInMs: 0 });
    // From then on: the probe (an acquire) and its lock's release, however many cycles run.
    for (let index = 0; index < 200; index += 1) await cycle(clock, redlock);
    expect(lockCalls()).toBe(42);
    await clock.advance(50);
    for (let index = 0; index < 200; index += 1) await cycle(clock, redlock);
    expect(lockCalls()).toBe(42);
    // The probe timed out just now (a fixed 50 ms timeout): the next one waits.
    expect(redlock.nodeHealth()[4]).toMatchObject({ state: 'down', probeInMs: FIRST_PROBE_DELAY_MS });
    expect(redlock.nodeHealth().slice(0, 4).map((node) => node.state)).toEqual(['up', 'up', 'up', 'up']);
  });

  it('lets a failed attempt finish at once instead of waiting for the down nodes', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), hangingNode(clock), hangingNode(clock), hangingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    // The first attempt times out on the silent nodes; the second is their probe, with the longest
    // timeout (a tenth of the TTL); after it, none is sent for a while.
    for (let index = 0; index < 2; index += 1) await clock.runUntilSettled(redlock.acquire(`warm-${index}`, 1000).catch(() => undefined));
    expect(redlock.nodeHealth().map((node) => node.state)).toEqual(['up', 'up', 'down', 'down', 'down']);
    const startedAt = clock.now();
    const error = await clock.runUntilSettled(redlock.acquire('r', 1000).catch((failure: unknown) => failure));
    expect(clock.now()).toBe(startedAt);
    expect(error).toBeInstanceOf(LockAcquireError);
    const { reason, nodeErrors } = error as LockAcquireError;
    expect(reason).toBe('nodes-unreachable');
    expect(nodeErrors.map((nodeError) => [nodeError.nodeIndex, nodeError.isDown])).toEqual([
      [2, true],
      [3, true],
      [4, true],
    ]);
    expect(nodeErrors[0]?.message).toMatch(/^Node 2 is not answering: \d+ calls timed out since its last answer, so it is not called until it answers \(next probe in \d+ ms\)$/);
  });

  it('is up again at its first answer, a late one included, and measured by it', async () => {
    const { clock, silent, redlock } = withSilentNode({ nodeTimeoutMs: undefined });
    for (let index = 0; index < 5; index += 1) await cycle(clock, redlock, `warm-${index}`);
    await cycleUntilDown(clock, redlock, 4);
    await cycle(clock, redlock, 'probe');
    const sent = silent.calls.length;
    // A probe is in flight: nothing more is sent.
    await cycle(clock, redlock);
    expect(silent.calls.length).toBe(sent);
    silent.latencyMs = 80;
    silent.resume();
    await clock.advance(80);
    expect(redlock.nodeHealth()[4]).toMatchObject({ state: 'up', timeoutsInARow: 0 });
    const lock = await clock.runUntilSettled(redlock.acquire('after', 1000));
    expect(keysOf(silent)).toContain('after');
    await clock.runUntilSettled(lock.release());
  });

  it('doubles the wait after each probe that times out', async () => {
    const { clock, silent, redlock } = withSilentNode();
    await cycleUntilDown(clock, redlock, 4);
    const probeTimes: number[] = [];
    for (let elapsed = 0; elapsed < 4000; elapsed += 10) {
      const before = silent.callsTo('acquire').length;
      await cycle(clock, redlock);
      if (silent.callsTo('acquire').length > before) probeTimes.push(clock.now());
      await clock.advance(10);
    }
    const gaps = probeTimes.slice(1).map((at, index) => at - (probeTimes[index] as number));
    // Each gap is the probe's 50 ms timeout plus the wait: 250, 500, 1000, 2000 ms.
    expect(gaps).toEqual([300, 550, 1050, 2050]);
  });

  it('still sends the release of keys it wrote before the node went down, and nothing for keys it never wrote', async () => {
    const { clock, silent, redlock } = withSilentNode();
    const early = await clock.runUntilSettled(redlock.acquire('early', 1000));
    // Down, and its probe timed out: no call goes to it for a while.
    await cycleUntilDown(clock, redlock, 4);
    await cycle(clock, redlock, 'probe');
    await clock.advance(60);
    const late = await clock.runUntilSettled(redlock.acquire('late', 1000));
    await clock.runUntilSettled(early.release());
    await clock.runUntilSettled(late.release());
    silent.resume();
    await clock.advance(0);
    expect(silent.callsTo('release').flatMap((call) => call.keys)).toContain('early');
    expect(silent.callsTo('release').flatMap((call) => call.keys)).not.toContain('late');
    expect(keysOf(silent)).toEqual([]);
  });
});

describe('a node its client cannot connect to', () => {
  /** Five nodes, the last `downCount` of which refuse connections (`isDown`). */
  function withDownNodes(downCount: number, options: RedlockOptions = {}) {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    for (const node of nodes.slice(5 - downCount)) node.isDown = true;
    return { clock, nodes, redlock: new Redlock(nodes, { clock, ...options }) };
  }

  it('counts as down at its first failed call, with the connection error as cause, and is called again once connected', async () => {
    const { clock, nodes, redlock } = withDownNodes(1);
    const down = nodes[4] as (typeof nodes)[number];
    const errors: (NodeError | undefined)[] = [];
    const errorOf = (lock: Lock): NodeError | undefined => {
      const outcome = lock.nodes[4];
      return outcome !== undefined && 'error' in outcome ? outcome.error : undefined;
    };
    const lock = await clock.runUntilSettled(redlock.acquire('first', 1000));
    errors.push(errorOf(lock));
    await clock.runUntilSettled(lock.release());
    // Its acquire and that lock's release failed.
    expect(redlock.nodeHealth()[4]).toMatchObject({ state: 'down', timeoutsInARow: 2 });
    const sent = down.calls.length;
    // No lock is asked of it while its client has no connection, probes included, however long it lasts.
    for (let index = 0; index < 20; index += 1) {
      const each = await clock.runUntilSettled(redlock.acquire(`while-down-${index}`, 1000));
      errors.push(errorOf(each));
      await clock.runUntilSettled(each.release());
      await clock.advance(1000);
    }
    // Only the release of the key its first acquire may have written goes on, re-sent until that lock's TTL.
    expect(down.calls.slice(sent).map((call) => [call.script, call.keys])).toEqual(Array(5).fill(['release', ['first']]));
    expect(errors.map((error) => [error?.nodeIndex, (error?.cause as { code?: string } | undefined)?.code])).toEqual(Array(21).fill([4, 'ECONNREFUSED']));
    expect(errors[0]?.message).toBe('Node 4 is not connected: connect ECONNREFUSED 127.0.0.1:6379');
    expect(errors.slice(1).every((error) => error?.isDown)).toBe(true);
    expect(errors[1]?.message).toBe('Node 4 is not connected (connect ECONNREFUSED 127.0.0.1:6379), so it is not called until its client connects again');
    // Connected again: the next call is its probe, and it answers.
    down.isDown = false;
    const after = await clock.runUntilSettled(redlock.acquire('after', 1000));
    await clock.advance(0);
    expect(keysOf(down)).toEqual(['after']);
    expect(redlock.nodeHealth()[4]).toMatchObject({ state: 'up', timeoutsInARow: 0 });
    await clock.runUntilSettled(after.release());
  });

  it('lets a call with a majority of such nodes give up at the pace of its retries, without a wait on any of them', async () => {
    const { clock, redlock } = withDownNodes(3);
    const startedAt = clock.now();
    const error = await clock.runUntilSettled(redlock.acquire('r', 1000).catch((failure: unknown) => failure));
    expect(error).toBeInstanceOf(LockAcquireError);
    const { reason, attempts, attemptCount } = error as LockAcquireError;
    expect([reason, attemptCount]).toEqual(['nodes-unreachable', 11]);
    expect(attempts.map((attempt) => attempt.elapsedMs)).toEqual(Array(attempts.length).fill(0));
    // Ten retry pauses of 200 ms, give or take their jitter.
    expect(clock.now() - startedAt).toBeGreaterThanOrEqual(10 * 100);
    expect(clock.now() - startedAt).toBeLessThanOrEqual(10 * 300);
    expect(redlock.nodeHealth().map((node) => node.state)).toEqual(['up', 'up', 'down', 'down', 'down']);
  });

  it('counts a failed call as an answer when the adapter cannot tell, or throws when asked', async () => {
    const { clock, nodes, redlock } = withDownNodes(1);
    const down = nodes[4] as (typeof nodes)[number];
    jest.spyOn(down, 'connectionError').mockImplementation(() => {
      throw new Error('adapter bug');
    });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    const outcome = lock.nodes[4];
    expect(outcome !== undefined && 'error' in outcome && outcome.error.message).toBe('Node 4 failed: connect ECONNREFUSED 127.0.0.1:6379');
    expect(redlock.nodeHealth()[4]?.state).toBe('up');
    await clock.runUntilSettled(lock.release());
  });
});

describe('the servers behind the nodes', () => {
  /** Two clients of one server as nodes 0 and 1, and node 2 down: the two clients alone would make a quorum of 2. */
  function twoClientsOfOneServer() {
    const clock = new FakeClock();
    const first = grantingNode(clock);
    const nodes = [first, first.connectAnotherClient(), grantingNode(clock)];
    for (const node of nodes) for (const sha1 of first.keyspace.scripts) node.keyspace.scripts.add(sha1);
    nodes[2]!.isDown = true;
    return { clock, first, nodes, redlock: new Redlock(nodes, { clock, retryCount: 3 }) };
  }

  it('refuses to count one server reached through two clients as two nodes, before any lock is granted', async () => {
    const { clock, first, nodes, redlock } = twoClientsOfOneServer();
    const error = await clock.runUntilSettled(redlock.acquire('r', 1000).catch((failure: unknown) => failure));
    expect(error).toBeInstanceOf(NodeConfigurationError);
    expect(error).toMatchObject({ problem: 'same-server', nodeIndexes: [0, 1] });
    expect((error as Error).message).toMatch(/^Nodes 0 and 1 are the same Redis server \(run_id [0-9a-f]+\)/);
    expect(keysOf(first)).toEqual([]);
    // Every later operation fails the same way, without calling any node.
    const sent = nodes.map((node) => node.calls.length);
    await expect(redlock.acquire('other', 1000)).rejects.toBe(error);
    await expect(redlock.inspect('other')).rejects.toBe(error);
    expect(nodes.map((node) => node.calls.length)).toEqual(sent);
  });

  it('refuses it the same way for a semaphore\'s and a read-write lock\'s first call, and then for every call', async () => {
    const { clock, first, nodes, redlock } = twoClientsOfOneServer();
    const error = await clock.runUntilSettled(redlock.semaphore('s', { limit: 3 }).acquire(1000).catch((failure: unknown) => failure));
    expect(error).toBeInstanceOf(NodeConfigurationError);
    expect(error).toMatchObject({ problem: 'same-server', nodeIndexes: [0, 1] });
    // The permit the two clients gave is freed.
    expect(keysOf(first)).toEqual([]);
    const sent = nodes.map((node) => node.calls.length);
    await expect(redlock.readWriteLock('rw').acquireWrite(1000)).rejects.toBe(error);
    await expect(redlock.semaphore('s', { limit: 3 }).tryAcquire(1000)).rejects.toBe(error);
    expect(nodes.map((node) => node.calls.length)).toEqual(sent);
  });

  it('rejects inspect() too when it is the first operation over two clients of one server', async () => {
    const clock = new FakeClock();
    const first = grantingNode(clock);
    const nodes = [first, first.connectAnotherClient(), ...grantingNodes(clock, 3)];
    const redlock = new Redlock(nodes, { clock });
    const error = await clock.runUntilSettled(redlock.inspect('r').catch((failure: unknown) => failure));
    expect(error).toBeInstanceOf(NodeConfigurationError);
    expect(error).toMatchObject({ problem: 'same-server', nodeIndexes: [0, 1] });
  });

  it('sends the probe ahead of the first call on each node only, costing no round trip of its own', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes) node.latencyMs = 10;
    const redlock = new Redlock(nodes, { clock });
    const startedAt = clock.now();
    await cycle(clock, redlock);
    expect(clock.now() - startedAt).toBe(20);
    await cycle(clock, redlock);
    for (const node of nodes) expect(node.callsTo('probe')).toHaveLength(1);
  });

  it('warns once per node whose eviction policy can delete lock keys, and can refuse such nodes', async () => {
    const warnings: unknown[][] = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((...args: unknown[]) => void warnings.push(args));
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    nodes[1]!.keyspace.maxmemoryPolicy = 'volatile-lru';
    const warned = new Redlock(nodes, { clock });
    await cycle(clock, warned);
    await cycle(clock, warned);
    await cycle(clock, new Redlock(nodes, { clock }));
    expect(warnings).toEqual([
      [
        'Node 1 runs with maxmemory-policy volatile-lru, which deletes keys with a TTL under memory pressure, lock keys among them: give lock nodes `noeviction` or an instance of their own',
        { type: 'RedlockWarning', code: 'REDLOCK_EVICTING_NODE' },
      ],
    ]);
    expect(warned.nodeHealth()[1]).toMatchObject({ state: 'up', maxmemoryPolicy: 'volatile-lru' });

    const strict = new Redlock(nodes, { clock, refuseEvictingNodes: true, retryCount: 0 });
    // The first call went out behind the probe: its key is released with the lock, whose vote it is not in.
    const lock = await clock.runUntilSettled(strict.acquire('strict', 1000));
    expect(strict.nodeHealth()[1]?.state).toBe('refused');
    await clock.runUntilSettled(lock.release());
    expect(nodes.flatMap(keysOf)).toEqual([]);
    const sent = nodes[1]!.calls.length;
    nodes[2]!.isDown = true;
    const error = (await clock.runUntilSettled(strict.acquire('strict', 1000).catch((failure: unknown) => failure))) as LockAcquireError;
    expect(error.reason).toBe('nodes-unreachable');
    const refusal = error.nodeErrors.find((nodeError) => nodeError.nodeIndex === 1) as NodeError;
    expect(refusal.cause).toBeInstanceOf(NodeConfigurationError);
    expect(refusal.cause).toMatchObject({ problem: 'evicting-policy', nodeIndexes: [1] });
    expect(nodes[1]!.calls.length).toBe(sent);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('uses a node whose server refuses the probe, with one warning', async () => {
    const warnings: unknown[][] = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((...args: unknown[]) => void warnings.push(args));
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    nodes[0]!.failNext('probe', new Error("ERR unknown command 'INFO'"));
    const redlock = new Redlock(nodes, { clock });
    await cycle(clock, redlock);
    await cycle(clock, redlock);
    expect(nodes[0]!.callsTo('probe')).toHaveLength(1);
    expect(warnings.map(([, options]) => options)).toEqual([{ type: 'RedlockWarning', code: 'REDLOCK_UNVERIFIED_NODE' }]);
  });

  it.each(['BUSY Redis is busy running a script.', 'LOADING Redis is loading the dataset in memory'])(
    'probes again, with no warning, after a probe refused for a passing reason: %s',
    async (refusal) => {
      const warnings: unknown[][] = [];
      jest.spyOn(process, 'emitWarning').mockImplementation((...args: unknown[]) => void warnings.push(args));
      const clock = new FakeClock();
      const nodes = grantingNodes(clock, 3);
      nodes[0]!.failNext('probe', new Error(refusal));
      const redlock = new Redlock(nodes, { clock });
      const first = await clock.runUntilSettled(redlock.acquire('res', 1000));
      // The call behind the failed probe was answered, but its server is still unknown: no vote yet.
      expect(first.nodes[0]).toMatchObject({ status: 'error' });
      await clock.runUntilSettled(first.release());
      await cycle(clock, redlock);
      expect(nodes[0]!.callsTo('probe')).toHaveLength(2);
      expect(warnings).toEqual([]);
    },
  );

  it('probes again after a probe lost to a dropped connection', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    nodes[0]!.isDown = true;
    const redlock = new Redlock(nodes, { clock });
    await cycle(clock, redlock);
    nodes[0]!.isDown = false;
    await cycle(clock, redlock);
    await cycle(clock, redlock);
    expect(nodes[0]!.calls.filter((call) => call.script === 'probe')).toHaveLength(2);
  });
});
