import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { LockAcquireError, Redlock } from '../../src/index.js';
import { fenceKeyOf } from '../../src/scripts/fence.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode, grantingNodes, keysOf } from '../support/fake-adapter.js';

describe('fencing tokens', () => {
  it('hands out increasing tokens, and none without fencing', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const tokens: (number | undefined)[] = [];
    for (let round = 0; round < 3; round += 1) {
      const lock = await clock.runUntilSettled(redlock.acquire('orders:42', 1000, { fencing: true }));
      tokens.push(lock.fencingToken);
      await clock.runUntilSettled(lock.release());
    }
    expect(tokens).toEqual([1, 2, 3]);
    const plain = await clock.runUntilSettled(redlock.acquire('orders:42', 1000));
    expect(plain.fencingToken).toBeUndefined();
    // The counters outlive the locks, on every node.
    await clock.runUntilSettled(plain.release());
    expect(nodes.map((node) => node.keyspace.get('{orders:42}:fence'))).toEqual(Array(5).fill('3'));
  });

  it('uses the highest counter of the granting quorum, so a minority that missed a token cannot lower it', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    // Earlier tokens reached different quorums: 7 on nodes 0-2, 9 on nodes 2-4.
    for (const node of nodes.slice(0, 2)) node.keyspace.set('{r}:fence', '7');
    for (const node of nodes.slice(2)) node.keyspace.set('{r}:fence', '9');
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000, { fencing: true }));
    expect(lock.fencingToken).toBe(10);
  });

  it('fails the attempt and removes its keys when too few nodes store the token', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes.slice(0, 2)) node.failNext('fence', new Error('OOM command not allowed when used memory > maxmemory'));
    const error = await clock
      .runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000, { fencing: true }))
      .catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).reason).toBe('nodes-unreachable');
    expect((error as LockAcquireError).attempts[0]?.fenceNodes?.map((node) => node.status)).toEqual(['error', 'error', 'fenced']);
    expect(nodes.flatMap(keysOf).filter((key) => key === 'r')).toEqual([]);
  });

  it('is strictly greater than every token that completed before, whatever minority fails (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 2 }), { minLength: 2, maxLength: 8 }),
        async (failuresPerRound) => {
          const clock = new FakeClock();
          const nodes: FakeNode[] = grantingNodes(clock, 5);
          const redlock = new Redlock(nodes, { clock, retryCount: 0 });
          let highest = 0;
          for (const failing of failuresPerRound) {
            // Up to two nodes fail this round's fence writes: never a majority.
            for (const index of new Set(failing)) nodes[index]!.failNext('fence');
            const lock = await clock.runUntilSettled(redlock.acquire('r', 1000, { fencing: true }));
            expect(lock.fencingToken).toBeGreaterThan(highest);
            highest = lock.fencingToken as number;
            await clock.runUntilSettled(lock.release());
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('fenceKeyOf', () => {
  it.each([
    ['orders:42', '{orders:42}:fence'],
    ['{orders}:42', '{orders}:42:fence'],
    ['a{b', '{a{b}:fence'],
  ])('keeps %s in its cluster slot: %s', (key, expected) => {
    expect(fenceKeyOf(key)).toBe(expected);
  });
});
