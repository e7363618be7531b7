import { describe, expect, it, jest } from '@jest/globals';
import { LockAcquireError, MisconfiguredNodeError, NodeConfigurationError, NodeError, type Permit, type ReadWriteHandle, Redlock, RedlockError } from '../../src/index.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { failingNode, grantingNode, grantingNodes, keysOf, scriptDeniedNode } from '../../src/testing/fake-nodes.js';
import { FakeClock } from '../support/fake-clock.js';

const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";

/** A Redis Cluster node used as one Redlock node: it refuses an acquisition whose keys span several slots. */
function clusterNode(clock: FakeClock, reply = CROSSSLOT): FakeNode {
  const node = grantingNode(clock);
  for (let index = 0; index < 20; index += 1) node.failNext('acquire', new Error(reply));
  return node;
}

/** The messages of the `REDLOCK_MISCONFIGURED_NODE` process warnings emitted while `run` ran. */
async function misconfiguredWarningsOf(run: () => Promise<void>): Promise<string[]> {
  const warnings: unknown[][] = [];
  const spy = jest.spyOn(process, 'emitWarning').mockImplementation((...args: unknown[]) => void warnings.push(args));
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return warnings.filter(([, options]) => (options as { code?: string } | undefined)?.code === 'REDLOCK_MISCONFIGURED_NODE').map(([message]) => String(message));
}

async function rejectionOf(clock: FakeClock, pending: Promise<unknown>): Promise<unknown> {
  return clock.runUntilSettled(pending).then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('a node that replies with a setup mistake', () => {
  it('fails acquire() with MisconfiguredNodeError telling to use a hash tag, though the other nodes make a quorum, and leaves no key', async () => {
    const clock = new FakeClock();
    const nodes = [clusterNode(clock), ...grantingNodes(clock, 2)];
    const redlock = new Redlock(nodes, { clock });
    const error = await rejectionOf(clock, redlock.acquire(['orders:1', 'orders:2'], 10_000));
    expect(error).toBeInstanceOf(MisconfiguredNodeError);
    expect(error).toBeInstanceOf(RedlockError);
    const misconfigured = error as MisconfiguredNodeError;
    expect(misconfigured.name).toBe('MisconfiguredNodeError');
    expect(misconfigured.problem).toBe('cross-slot');
    expect(misconfigured.nodeIndexes).toEqual([0]);
    expect(misconfigured.resources).toEqual(['orders:1', 'orders:2']);
    expect(misconfigured.message).toContain('hash tag');
    expect(misconfigured.message).toContain('"{orders}:1"');
    expect(misconfigured.message).toContain(CROSSSLOT);
    expect(misconfigured.nodeErrors[0]).toBeInstanceOf(NodeError);
    expect((misconfigured.nodeErrors[0]?.cause as Error).message).toBe(CROSSSLOT);
    expect(misconfigured.cause).toBe(misconfigured.nodeErrors[0]);
    // Not retried: retrying cannot fix the keys' slots.
    for (const node of nodes) expect(node.acquireRequests()).toHaveLength(1);
    await clock.advance(1_000);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('warns once, when the mistake comes only after a quorum of the other nodes granted the lock, which then stands', async () => {
    const clock = new FakeClock();
    const late = clusterNode(clock);
    late.latencyMs = 20;
    const nodes = [...grantingNodes(clock, 2), late];
    const misconfigured = await misconfiguredWarningsOf(async () => {
      const redlock = new Redlock(nodes, { clock });
      for (const resources of [['orders:1', 'orders:2'], ['orders:3', 'orders:4']]) {
        const lock = await clock.runUntilSettled(redlock.acquire(resources, 10_000));
        expect(lock.nodes[2]).toEqual({ nodeIndex: 2, status: 'pending' });
        await clock.advance(50);
        await clock.runUntilSettled(lock.release());
      }
    });
    expect(misconfigured).toHaveLength(1);
    expect(misconfigured[0]).toContain('node 2 replied');
    expect(misconfigured[0]).toContain('hash tag');
    expect(misconfigured[0]).toContain('after a quorum of the other nodes had granted the lock');
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it.each([
    ['a semaphore', 'permit-acquire', 'acquire 1 of 2 permits of "pool"'],
    ['a read-write lock', 'read-write-acquire', 'take the write lock on "pool"'],
  ] as const)('warns once of %s, when the mistake comes only after a quorum of the other nodes granted it, which then stands', async (_kind, script, what) => {
    const clock = new FakeClock();
    const late = grantingNode(clock);
    for (let index = 0; index < 4; index += 1) late.failNext(script, new Error("NOPERM this user has no permissions to run the 'evalsha' command"));
    late.latencyMs = 20;
    const nodes = [...grantingNodes(clock, 2), late];
    const misconfigured = await misconfiguredWarningsOf(async () => {
      const redlock = new Redlock(nodes, { clock });
      for (let round = 0; round < 2; round += 1) {
        const startedAtMs = clock.now();
        const take: Promise<Permit | ReadWriteHandle> = script === 'permit-acquire' ? redlock.semaphore('pool', { limit: 2 }).acquire(10_000) : redlock.readWriteLock('pool').acquireWrite(10_000);
        const held = await clock.runUntilSettled(take);
        // Granted before node 2 answered.
        expect(clock.now() - startedAtMs).toBeLessThan(late.latencyMs);
        await clock.advance(50);
        await clock.runUntilSettled(held.release());
      }
    });
    expect(misconfigured).toHaveLength(1);
    expect(misconfigured[0]).toContain(`Could not ${what}: node 2 replied "NOPERM`);
    expect(misconfigured[0]).toContain('after a quorum of the other nodes had granted it, which stands on them');
  });

  it('warns once, when the mistake comes only after a quorum of the other nodes refused a single try, which then ended', async () => {
    const clock = new FakeClock();
    const late = clusterNode(clock);
    late.latencyMs = 20;
    const holders = grantingNodes(clock, 2);
    const other = new Redlock(holders.map((node) => node.connectAnotherClient()), { clock });
    await clock.runUntilSettled(other.acquire(['orders:1', 'orders:2'], 10_000));
    const misconfigured = await misconfiguredWarningsOf(async () => {
      const redlock = new Redlock([...holders, late], { clock });
      // Held on a quorum: the try ends before the misconfigured node answers.
      expect(await clock.runUntilSettled(redlock.tryAcquire(['orders:1', 'orders:2'], 10_000))).toBeUndefined();
      expect(clock.now()).toBe(0);
      await clock.advance(50);
    });
    expect(misconfigured).toHaveLength(1);
    expect(misconfigured[0]).toContain('node 2 replied');
    expect(misconfigured[0]).toContain('after a quorum of the other nodes had refused the lock');
  });

  it('fails tryAcquire() and using() the same way, without running the routine', async () => {
    const clock = new FakeClock();
    const nodes = [clusterNode(clock), ...grantingNodes(clock, 2)];
    const redlock = new Redlock(nodes, { clock });
    expect(await rejectionOf(clock, redlock.tryAcquire(['a', 'b'], 10_000))).toBeInstanceOf(MisconfiguredNodeError);
    let ran = false;
    const routine = async (): Promise<void> => {
      ran = true;
    };
    expect(await rejectionOf(clock, redlock.using(['a', 'b'], 10_000, routine))).toBeInstanceOf(MisconfiguredNodeError);
    expect(ran).toBe(false);
    await clock.advance(1_000);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('names every node that replied so, and counts the failed calls in stats()', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), clusterNode(clock), grantingNode(clock), clusterNode(clock), grantingNode(clock)];
    const redlock = new Redlock(nodes, { clock });
    const error = (await rejectionOf(clock, redlock.acquire(['a', 'b'], 10_000))) as MisconfiguredNodeError;
    expect(error.nodeIndexes).toEqual([1, 3]);
    expect(error.message).toContain('nodes 1, 3 replied');
    const stats = redlock.stats();
    expect(stats.nodes.map((node) => node.errors)).toEqual([0, 1, 0, 1, 0]);
    // Not a LockAcquireError: no failure reason is counted.
    expect(Object.values(stats.failures)).toEqual([0, 0, 0, 0]);
    expect(stats.acquisitions).toBe(0);
  });

  it.each([
    ['MOVED 3999 127.0.0.1:6381', 'moved'],
    ["NOPERM User locker has no permissions to run the 'evalsha' command", 'no-permission'],
    ['NOAUTH Authentication required.', 'no-auth'],
    ['WRONGPASS invalid username-password pair or user is disabled.', 'no-auth'],
    [`ReplyError: ${CROSSSLOT}`, 'cross-slot'],
    ["An error was signalled by the server: - CrossSlot: Keys in request don't hash to the same slot", 'cross-slot'],
  ])('reads "%s" as %s', async (reply, problem) => {
    const clock = new FakeClock();
    const nodes = [clusterNode(clock, reply), ...grantingNodes(clock, 2)];
    const error = await rejectionOf(clock, new Redlock(nodes, { clock }).acquire('r', 10_000));
    expect(error).toBeInstanceOf(MisconfiguredNodeError);
    expect((error as MisconfiguredNodeError).problem).toBe(problem);
  });

  it.each(['connect ECONNREFUSED 127.0.0.1:6379', 'ERR the connection was removed', 'READONLY You can\'t write against a read only replica.'])(
    'treats "%s" as an outage: a minority of such nodes still lets a quorum acquire',
    async (reply) => {
      const clock = new FakeClock();
      const nodes = [failingNode(clock, new Error(reply)), ...grantingNodes(clock, 2)];
      const redlock = new Redlock(nodes, { clock });
      const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
      expect(lock.nodes.map((node) => node.status)).toEqual(['error', 'acquired', 'acquired']);
      await clock.runUntilSettled(lock.release());
    },
  );

  it('still reports a majority of failing nodes as LockAcquireError when none replied with a setup mistake', async () => {
    const clock = new FakeClock();
    const nodes = [failingNode(clock), failingNode(clock), grantingNode(clock)];
    const error = await rejectionOf(clock, new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 10_000));
    expect(error).toBeInstanceOf(LockAcquireError);
  });
});

describe('a server check that failed on the way', () => {
  it('keeps the vote of its node from counting, so that one server cannot vote twice unchecked', async () => {
    const clock = new FakeClock();
    const server = grantingNode(clock);
    // The same server behind a second adapter, whose first-contact probe is lost to a dropped connection.
    const sameServer = server.connectAnotherClient();
    sameServer.failNext('probe', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    const redlock = new Redlock([server, sameServer, failingNode(clock)], { clock, retryCount: 0 });
    const error = await clock.runUntilSettled(redlock.acquire('r', 1000)).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).attempts[0]?.nodes.map((node) => node.status)).toEqual(['acquired', 'error', 'error']);
    // Its next call probes again, which finds the two nodes to be one server.
    await expect(clock.runUntilSettled(redlock.acquire('s', 1000))).rejects.toBeInstanceOf(NodeConfigurationError);
  });
});

describe('a node whose user may not run scripts (an ACL without EVAL and EVALSHA)', () => {
  /** The plain SETs a node received: none may reach a node that could never release what they write. */
  const setsOn = (nodes: readonly FakeNode[]): number[] => nodes.map((node) => node.calls.filter((call) => call.method === 'set').length);

  /** Checks `error` is the documented permission error, from every node of `nodeIndexes`, for `what`. */
  function expectNoPermission(error: unknown, nodeIndexes: readonly number[], what: string): void {
    expect(error).toBeInstanceOf(MisconfiguredNodeError);
    const { problem, message, nodeErrors, cause } = error as MisconfiguredNodeError;
    expect(problem).toBe('no-permission');
    expect(message).toContain(`Could not ${what}: `);
    expect(message).toContain("NOPERM this user has no permissions to run the 'eval' command");
    expect(message).toContain('allow EVALSHA, EVAL');
    expect(nodeErrors.map((nodeError) => nodeError.nodeIndex)).toEqual(nodeIndexes);
    for (const nodeError of nodeErrors) {
      expect(nodeError.isTimeout).toBe(false);
      expect(nodeError.isDown).toBe(false);
      expect((nodeError.cause as Error).message).toMatch(/^NOPERM .*'eval(sha)?' command$/);
    }
    expect(cause).toBe(nodeErrors[0]);
  }

  it('fails the first acquire(), tryAcquire() and using() of one resource with MisconfiguredNodeError, before any SET is sent', async () => {
    const clock = new FakeClock();
    const nodes = [scriptDeniedNode(clock), scriptDeniedNode(clock), scriptDeniedNode(clock)];
    const redlock = new Redlock(nodes, { clock });
    expectNoPermission(await rejectionOf(clock, redlock.acquire('r', 10_000)), [0, 1, 2], 'acquire "r"');
    // The script at first contact, refused; not retried: retrying cannot grant a permission.
    for (const node of nodes) expect(node.callsTo('acquire').map((call) => call.method)).toEqual(['eval']);
    expectNoPermission(await rejectionOf(clock, redlock.tryAcquire('r', 10_000)), [0, 1, 2], 'acquire "r"');
    let ran = false;
    const routine = async (): Promise<void> => {
      ran = true;
    };
    expectNoPermission(await rejectionOf(clock, redlock.using('r', 10_000, routine)), [0, 1, 2], 'acquire "r"');
    expect(ran).toBe(false);
    expect(setsOn(nodes)).toEqual([0, 0, 0]);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(Object.values(redlock.stats().failures)).toEqual([0, 0, 0, 0]);
    await clock.runUntilSettled(redlock.close());
  });

  it('fails a lock of one resource though the other nodes make a quorum, and removes what they granted', async () => {
    const clock = new FakeClock();
    // The granting nodes answer later, so the denied node's reply is known when the quorum is.
    const granting = grantingNodes(clock, 2);
    for (const node of granting) node.latencyMs = 5;
    const nodes = [scriptDeniedNode(clock), ...granting];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    expectNoPermission(await rejectionOf(clock, redlock.acquire('r', 10_000)), [0], 'acquire "r"');
    expect(setsOn(nodes)).toEqual([0, 0, 0]);
    // A later call is refused alike: the denied node never gets a SET, while the others do once they are known.
    expectNoPermission(await rejectionOf(clock, redlock.acquire('r', 10_000)), [0], 'acquire "r"');
    expect(setsOn(nodes)).toEqual([0, 1, 1]);
    await clock.advance(100);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    await clock.runUntilSettled(redlock.close());
  });

  it('fails a semaphore\'s acquire(), tryAcquire() and using() with MisconfiguredNodeError, not as unreachable nodes', async () => {
    const clock = new FakeClock();
    const nodes = [scriptDeniedNode(clock), scriptDeniedNode(clock), scriptDeniedNode(clock)];
    const redlock = new Redlock(nodes, { clock });
    const semaphore = redlock.semaphore('s', { limit: 2 });
    expectNoPermission(await rejectionOf(clock, semaphore.acquire(10_000)), [0, 1, 2], 'acquire 1 of 2 permits of "s"');
    for (const node of nodes) expect(node.callsTo('permit-acquire')).toHaveLength(1);
    expectNoPermission(await rejectionOf(clock, semaphore.tryAcquire(10_000)), [0, 1, 2], 'acquire 1 of 2 permits of "s"');
    expectNoPermission(await rejectionOf(clock, semaphore.using(10_000, () => undefined)), [0, 1, 2], 'acquire 1 of 2 permits of "s"');
    expect(nodes.flatMap(keysOf)).toEqual([]);
    await clock.runUntilSettled(redlock.close());
  });

  it('fails a semaphore though the other nodes make a quorum, and frees the permits they gave', async () => {
    const clock = new FakeClock();
    const granting = grantingNodes(clock, 2);
    for (const node of granting) node.latencyMs = 5;
    const nodes = [scriptDeniedNode(clock), ...granting];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    expectNoPermission(await rejectionOf(clock, redlock.semaphore('s', { limit: 2 }).acquire(10_000)), [0], 'acquire 1 of 2 permits of "s"');
    await clock.advance(100);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    await clock.runUntilSettled(redlock.close());
  });

  it.each(['read', 'write'] as const)('fails a read-write lock\'s %s lock the same way, for every call', async (mode) => {
    const clock = new FakeClock();
    const nodes = [scriptDeniedNode(clock), scriptDeniedNode(clock), scriptDeniedNode(clock)];
    const redlock = new Redlock(nodes, { clock });
    const lock = redlock.readWriteLock('rw');
    const [acquire, tryAcquire, using] =
      mode === 'read'
        ? [() => lock.acquireRead(10_000), () => lock.tryAcquireRead(10_000), () => lock.usingRead(10_000, () => undefined)]
        : [() => lock.acquireWrite(10_000), () => lock.tryAcquireWrite(10_000), () => lock.usingWrite(10_000, () => undefined)];
    for (const call of [acquire, tryAcquire, using]) expectNoPermission(await rejectionOf(clock, call()), [0, 1, 2], `take the ${mode} lock on "rw"`);
    for (const node of nodes) expect(node.callsTo('read-write-acquire')).toHaveLength(3);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    await clock.runUntilSettled(redlock.close());
  });

  it('takes a lock once the ACL allows the scripts, by a plain SET once the probe ahead of a call told so', async () => {
    const clock = new FakeClock();
    const nodes = [scriptDeniedNode(clock), scriptDeniedNode(clock), scriptDeniedNode(clock)];
    const redlock = new Redlock(nodes, { clock });
    expect(await rejectionOf(clock, redlock.acquire('r', 10_000))).toBeInstanceOf(MisconfiguredNodeError);
    expect(await rejectionOf(clock, redlock.acquire('r', 10_000))).toBeInstanceOf(MisconfiguredNodeError);
    for (const node of nodes) node.deniedCommands = [];
    for (let round = 0; round < 2; round += 1) await clock.runUntilSettled((await clock.runUntilSettled(redlock.acquire('r', 10_000))).release());
    // The probe goes again with every call until it is answered; from then on, the usual lock is a SET.
    for (const node of nodes) expect(node.callsTo('probe').map((call) => call.method)).toEqual(['eval', 'eval', 'eval']);
    expect(setsOn(nodes)).toEqual([1, 1, 1]);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    await clock.runUntilSettled(redlock.close());
  });
});
