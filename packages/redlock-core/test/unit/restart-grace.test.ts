import { describe, expect, it } from '@jest/globals';
import { LockAcquireError, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNodes, hasKey, keysOf } from '../../src/testing/fake-nodes.js';

describe('restartGraceMs: the delayed-restart rule', () => {
  it('does not count a node that started less than the grace ago, and grants nothing there', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    await clock.advance(60_000);
    // Nodes 0 and 1 just restarted without persistence.
    for (const node of nodes.slice(0, 2)) node.keyspace.restart({ persistence: false });
    const redlock = new Redlock(nodes, { clock, retryCount: 0, restartGraceMs: 30_000 });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    expect(nodes.map((node) => hasKey(node, 'r', lock.token))).toEqual([false, false, true, true, true]);
    expect(nodes[0]!.callsTo('acquire')[0]?.args[2]).toBe('30000');
  });

  it('fails with nodes-unreachable, naming the restarted nodes, when too many are inside their grace', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    await clock.advance(60_000);
    for (const node of nodes.slice(0, 3)) node.keyspace.restart({ persistence: false });
    const redlock = new Redlock(nodes, { clock, retryCount: 0, restartGraceMs: 30_000 });
    const error = await clock.runUntilSettled(redlock.acquire('r', 10_000)).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).reason).toBe('nodes-unreachable');
    expect((error as LockAcquireError).message).toBe(
      'Could not acquire "r" after 1 attempt: nodes unreachable (last attempt: 3 restarted recently, 2 acquired, quorum is 3)',
    );
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('counts the node again once it has been up for the grace', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0, restartGraceMs: 5_000 });
    await expect(clock.runUntilSettled(redlock.acquire('r', 1000))).rejects.toThrow(LockAcquireError);
    await clock.advance(5_000);
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    expect(lock.state).toBe('held');
  });

  it('rejects a negative or fractional grace at construction', () => {
    expect(() => new Redlock(grantingNodes(new FakeClock(), 1), { restartGraceMs: -1 })).toThrow(RangeError);
    expect(() => new Redlock(grantingNodes(new FakeClock(), 1), { restartGraceMs: 1.5 })).toThrow(RangeError);
  });
});
