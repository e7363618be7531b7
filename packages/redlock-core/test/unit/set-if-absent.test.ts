import { describe, expect, it } from '@jest/globals';
import { LockAcquireError, type RedisAdapter, Redlock, type RedlockOptions } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNode, grantingNodes, keysOf, nodesHoldingToken, refusingNode } from '../../src/testing/fake-nodes.js';

function redlockOver(nodes: readonly RedisAdapter[], clock: FakeClock, options: RedlockOptions = {}): Redlock {
  return new Redlock(nodes, { clock, retryCount: 0, ...options });
}

/**
 * A Redlock over `nodes` that has met them: a first contact takes the lock by the script, until the probe
 * ahead of it tells that the node runs scripts (see misconfigured-nodes.test.ts), so the SET comes from the
 * second call on. The probe goes ahead of an inspection here, whatever it answers.
 */
async function metRedlockOver(nodes: readonly RedisAdapter[], clock: FakeClock, options: RedlockOptions = {}): Promise<Redlock> {
  const redlock = redlockOver(nodes, clock, options);
  await clock.runUntilSettled(redlock.inspect('first-contact')).catch(() => undefined);
  return redlock;
}

/** Each node's commands for acquisitions: `'set'` or `'script'` (by EVAL or EVALSHA). */
function acquireMethods(nodes: readonly FakeNode[]): string[][] {
  return nodes.map((node) => node.callsTo('acquire').map((call) => (call.method === 'set' ? 'set' : 'script')));
}

/** `node` behind an adapter of before `trySet`: EVALSHA, EVAL and `SET … NX PX … GET` (`setIfAbsent`) only. */
function withoutTrySet(node: FakeNode): RedisAdapter {
  return {
    evalsha: (sha1, keys, args) => node.evalsha(sha1, keys, args),
    eval: (source, keys, args) => node.eval(source, keys, args),
    setIfAbsent: (key, value, ttlMs) => node.setIfAbsent(key, value, ttlMs),
  };
}

async function rejection(clock: FakeClock, pending: Promise<unknown>): Promise<unknown> {
  return clock.runUntilSettled(pending).then(
    () => undefined,
    (failure: unknown) => failure,
  );
}

describe('a lock on one resource, taken by SET NX PX where the adapter can send it', () => {
  it('sends one SET per node and no script, and leaves the key with our token and the TTL', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled((await metRedlockOver(nodes, clock)).acquire('r', 1000));
    expect(acquireMethods(nodes)).toEqual([['set'], ['set'], ['set']]);
    for (const node of nodes) expect(node.keyspace.peek('r')).toEqual({ type: 'string', value: lock.token, remainingMs: 1000 });
    expect(nodes[0]!.callsTo('acquire')[0]?.args).toEqual([lock.token, '1000']);
    await clock.runUntilSettled(lock.release());
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it("asks the script where another owner's lock is, which tells it apart from a foreign key, and removes its own keys", async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), refusingNode(clock), refusingNode(clock)];
    const error = await rejection(clock, (await metRedlockOver(nodes, clock)).acquire('r', 1000));
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).reason).toBe('held-by-another-owner');
    expect(acquireMethods(nodes)).toEqual([['set'], ['set', 'script'], ['set', 'script']]);
    expect(keysOf(nodes[0]!)).toEqual([]);
  });

  const plantString = (node: FakeNode): void => node.keyspace.set('r', 'data');
  const plantHash = (node: FakeNode): void => node.keyspace.setOfType('r', 'hash');
  it.each([
    ['a string without a TTL', plantString, (node: FakeNode): RedisAdapter => node],
    ['a hash', plantHash, (node: FakeNode): RedisAdapter => node],
    ['a string without a TTL, over an adapter without trySet', plantString, withoutTrySet],
    ['a hash, over an adapter without trySet (WRONGTYPE)', plantHash, withoutTrySet],
  ])('reports %s as a foreign key, as the script does, and leaves it untouched', async (_, plant, adapterOf) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes.slice(0, 2)) plant(node);
    const error = await rejection(clock, (await metRedlockOver(nodes.map(adapterOf), clock, { retryCount: 3 })).acquire('r', 1000));
    expect((error as LockAcquireError).reason).toBe('foreign-key');
    expect(acquireMethods(nodes)).toEqual([['set', 'script'], ['set', 'script'], ['set']]);
    expect(nodes.slice(0, 2).map((node) => node.keyspace.peek('r')?.remainingMs)).toEqual([Infinity, Infinity]);
  });

  it.each([
    ['trySet', 'trySet'],
    ['setIfAbsent (an adapter of before trySet)', 'setIfAbsent'],
  ] as const)('grants a node whose key already holds our token by %s: the SET was sent twice (a client re-sent it after a reconnect)', async (_, method) => {
    const clock = new FakeClock();
    const resent = grantingNode(clock);
    const adapter: RedisAdapter = {
      evalsha: (sha1, keys, args) => resent.evalsha(sha1, keys, args),
      eval: (source, keys, args) => resent.eval(source, keys, args),
      async [method](key: string, value: string, ttlMs: number) {
        await resent[method](key, value, ttlMs); // this reply is lost with the connection
        return resent[method](key, value, ttlMs);
      },
    };
    const nodes = [adapter, refusingNode(clock), grantingNode(clock)];
    const lock = await clock.runUntilSettled((await metRedlockOver(nodes, clock)).acquire('r', 1000));
    expect(lock.nodes.map((node) => node.status)).toEqual(['acquired', 'held', 'acquired']);
    await clock.runUntilSettled(lock.release());
    expect(nodesHoldingToken([resent], lock.token)).toEqual([]);
  });

  it('takes the lock on a server before Redis 7.0 by trySet too: SET NX PX has no GET to refuse', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    nodes[0]!.isBeforeRedis7 = true;
    const lock = await clock.runUntilSettled((await metRedlockOver(nodes, clock)).acquire('r', 1000));
    expect(lock.nodes.map((node) => node.status)).toEqual(['acquired', 'acquired', 'acquired']);
    expect(acquireMethods(nodes)).toEqual([['set'], ['set'], ['set']]);
  });

  it('never sends setIfAbsent, which reads a foreign value back, to an adapter that has trySet', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes) node.keyspace.set('r', 'another-owner', 60_000);
    const sent: string[] = [];
    const adapters: RedisAdapter[] = nodes.map((node) => ({
      evalsha: (sha1, keys, args) => node.evalsha(sha1, keys, args),
      eval: (source, keys, args) => node.eval(source, keys, args),
      trySet: (key, value, ttlMs) => (sent.push('trySet'), node.trySet(key, value, ttlMs)),
      setIfAbsent: (key, value, ttlMs) => (sent.push('setIfAbsent'), node.setIfAbsent(key, value, ttlMs)),
    }));
    const error = await rejection(clock, (await metRedlockOver(adapters, clock, { retryCount: 2 })).acquire('r', 1000));
    expect((error as LockAcquireError).reason).toBe('held-by-another-owner');
    // The first attempt only: its retries go by the script, which tells held from free in one command.
    expect(sent).toEqual(Array(3).fill('trySet'));
    // Each refusal is the script's small code, after a nil: the value never comes back.
    expect(acquireMethods(nodes)).toEqual(Array(3).fill(['set', 'script', 'script', 'script']));
  });

  it('falls back to the script on a server before Redis 7.0 (a syntax error) over an adapter without trySet, and sends that node only scripts from then on', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    nodes[0]!.isBeforeRedis7 = true;
    const redlock = await metRedlockOver(nodes.map(withoutTrySet), clock);
    for (let round = 0; round < 2; round += 1) {
      const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
      // Taken on every node; node 0's answer (after its SET's syntax error) may come after the quorum's.
      expect(nodesHoldingToken(nodes, lock.token)).toEqual([0, 1, 2]);
      await clock.runUntilSettled(lock.release());
    }
    expect(acquireMethods(nodes)).toEqual([['set', 'script', 'script'], ['set', 'set'], ['set', 'set']]);
  });

  it("asks the script where another owner's lock is over an adapter without trySet, as before it", async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), refusingNode(clock), refusingNode(clock)];
    const error = await rejection(clock, (await metRedlockOver(nodes.map(withoutTrySet), clock)).acquire('r', 1000));
    expect((error as LockAcquireError).reason).toBe('held-by-another-owner');
    expect(acquireMethods(nodes)).toEqual([['set'], ['set', 'script'], ['set', 'script']]);
    expect(keysOf(nodes[0]!)).toEqual([]);
  });

  it('fails the node on any other error, as the script would have failed, without asking the script', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    nodes[0]!.failNext('acquire', new Error('OOM command not allowed when used memory > maxmemory.'));
    const lock = await clock.runUntilSettled((await metRedlockOver(nodes, clock)).acquire('r', 1000));
    expect(lock.nodes[0]).toMatchObject({ status: 'error', error: { message: expect.stringContaining('OOM command not allowed') } });
    expect(acquireMethods(nodes)[0]).toEqual(['set']);
    // A later lock still goes by SET there: the error said nothing about the server's SET.
    await clock.runUntilSettled(lock.release());
    await clock.runUntilSettled((await metRedlockOver(nodes, clock)).acquire('s', 1000));
    expect(acquireMethods(nodes)[0]).toEqual(['set', 'set']);
  });

  it('fails the node on a reply SET cannot give', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    nodes[0]!.garbageReply = { value: 1 };
    const lock = await clock.runUntilSettled((await metRedlockOver(nodes, clock)).acquire('r', 1000));
    expect(lock.nodes[0]).toMatchObject({ status: 'error', error: { message: expect.stringContaining('Unexpected reply to the acquire script: 1') } });
  });

  it.each([
    ['two resources', ['a', 'b'], {}, {}],
    ['fencing', 'r', {}, { fencing: true }],
    ['a restart grace', 'r', { restartGraceMs: 1 }, {}],
  ] as const)('takes a lock with %s by the script, which alone does it', async (_, resources, redlockOptions, acquireOptions) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    // Past the restart grace: the nodes have been up for a second.
    await clock.advance(1000);
    const lock = await clock.runUntilSettled((await metRedlockOver(nodes, clock, redlockOptions)).acquire(resources, 1000, acquireOptions));
    expect(lock.state).toBe('held');
    for (const methods of acquireMethods(nodes)) expect(methods).not.toContain('set');
  });

  it('takes every lock by the script over an adapter without trySet or setIfAbsent', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const adapters: RedisAdapter[] = nodes.map((node) => ({
      evalsha: (sha1, keys, args) => node.evalsha(sha1, keys, args),
      eval: (source, keys, args) => node.eval(source, keys, args),
    }));
    await clock.runUntilSettled((await metRedlockOver(adapters, clock)).acquire('r', 1000));
    expect(acquireMethods(nodes)).toEqual([['script'], ['script'], ['script']]);
  });
});
