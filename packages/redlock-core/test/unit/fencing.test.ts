import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { LockAcquireError, Redlock } from '../../src/index.js';
import { fenceKeyOf } from '../../src/scripts/fence.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes, keysOf } from '../../src/testing/fake-nodes.js';

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
    expect(nodes.map((node) => node.keyspace.get('{orders:42}:fencing-counter'))).toEqual(Array(5).fill('3'));
  });

  it('sets the counters again with the keys on nodes that restarted empty while a fenced lock was held, one at a time', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    for (let round = 0; round < 2; round += 1) await clock.runUntilSettled((await clock.runUntilSettled(redlock.acquire('r', 1000, { fencing: true }))).release());
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000, { fencing: true }));
    expect(lock.fencingToken).toBe(3);
    // Each node in turn loses everything; an extension sets our key and the counter again there.
    for (const node of nodes) {
      node.keyspace.restart({ persistence: false });
      await clock.advance(400);
      await clock.runUntilSettled(lock.extend(1000));
      await clock.advance(10);
    }
    expect(nodes.map((node) => node.keyspace.get('{r}:fencing-counter'))).toEqual(['3', '3', '3']);
    await clock.runUntilSettled(lock.release());
    const next = await clock.runUntilSettled(redlock.acquire('r', 1000, { fencing: true }));
    expect(next.fencingToken).toBe(4);
  });

  it('uses the highest counter of the granting quorum, so a minority that missed a token cannot lower it', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    // Earlier tokens reached different quorums: 7 on nodes 0-2, 9 on nodes 2-4.
    for (const node of nodes.slice(0, 2)) node.keyspace.set('{r}:fencing-counter', '7');
    for (const node of nodes.slice(2)) node.keyspace.set('{r}:fencing-counter', '9');
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
    ['orders:42', '{orders:42}:fencing-counter'],
    ['{orders}:42', '{orders}:42:fencing-counter'],
    ['a{b', '{a{b}:fencing-counter'],
  ])('keeps %s in its cluster slot: %s', (key, expected) => {
    expect(fenceKeyOf(key)).toBe(expected);
  });
});

describe('the fencing counter namespace', () => {
  it("never touches another owner's lock on the key the counter used to have ({o}:a:fence)", async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const holder = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('{o}:a:fence', 1000));
    const fenced = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('{o}:a', 1000, { fencing: true }));
    expect(fenced.fencingToken).toBe(1);
    for (const node of nodes) {
      expect(node.keyspace.get('{o}:a:fence')).toBe(holder.token);
      expect(node.keyspace.pttl('{o}:a:fence')).toBe(1000);
    }
    await expect(clock.runUntilSettled(holder.extend(1000))).resolves.toBe(holder);
  });

  it.each<[string, string, string]>([
    ['', '{o}:a:fencing-counter', 'got `"{o}:a:fencing-counter"`'],
    ['', 'orders:fencing-counter', 'got `"orders:fencing-counter"`'],
    ['lock:fencing-', 'counter', 'got `"counter"` (key `"lock:fencing-counter"`)'],
  ])('rejects a resource whose key lands among the counters (prefix %j, resource %j) before any node call', async (keyPrefix, resource, got) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0, keyPrefix });
    const message = `Expected every resource to make a key that does not end with ":fencing-counter", which is reserved for fencing counters, ${got}`;
    for (const operation of [
      () => redlock.acquire(resource, 1000, { fencing: true }),
      () => redlock.acquire(['x', resource], 1000),
      () => redlock.using(resource, 1000, () => 'never'),
      () => redlock.inspect(resource),
    ]) {
      await expect(operation()).rejects.toThrow(new RangeError(message));
    }
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it.each<[string, (node: FakeNode, key: string) => void]>([
    ["another owner's lock (a string with a TTL)", (node, key) => node.keyspace.set(key, '7', 60_000)],
    ['a string that is not a number', (node, key) => node.keyspace.set(key, 'user-data')],
    ['a number the fence script never writes', (node, key) => node.keyspace.set(key, '007')],
    ['a hash', (node, key) => node.keyspace.setOfType(key, 'hash')],
  ])('fails at once with foreign-key, never reading it as 0 nor overwriting it, when a majority holds %s at the counter key', async (_, plant) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const counterKey = fenceKeyOf('r');
    for (const node of nodes.slice(0, 2)) plant(node, counterKey);
    const before = nodes.map((node) => node.keyspace.peek(counterKey));
    const redlock = new Redlock(nodes, { clock, retryCount: 10 });
    const error = await clock.runUntilSettled(redlock.acquire('r', 1000, { fencing: true })).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    const acquireError = error as LockAcquireError;
    expect(acquireError.reason).toBe('foreign-key');
    expect(acquireError.attempts).toHaveLength(1);
    expect(acquireError.attempts[0]?.nodes.map((node) => node.status)).toEqual(['foreign', 'foreign', 'acquired']);
    expect(acquireError.message).toBe(
      'Could not acquire "r" after 1 attempt: foreign key (last attempt: 2 holding a foreign key, 1 acquired, quorum is 2); ' +
        "a lock or fencing counter key holds something else (another type, or a value without a TTL): " +
        'give lock keys a namespace of their own, e.g. with `keyPrefix`',
    );
    expect(nodes.map((node) => node.keyspace.peek(counterKey))).toEqual(before);
    expect(nodes.flatMap(keysOf).filter((key) => key === 'r')).toEqual([]);
    expect(nodes.flatMap((node) => node.callsTo('fence'))).toEqual([]);
  });

  it('hands out a token above the counters of the granting quorum when a minority holds a foreign counter key', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const counterKey = fenceKeyOf('r');
    nodes[0]!.keyspace.set(counterKey, '99', 60_000);
    for (const node of nodes.slice(1)) node.keyspace.set(counterKey, '4');
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000, { fencing: true }));
    expect(lock.fencingToken).toBe(5);
    expect(nodes.map((node) => node.keyspace.get(counterKey))).toEqual(['99', '5', '5']);
    expect(nodes[0]!.keyspace.pttl(counterKey)).toBe(60_000);
    expect(keysOf(nodes[0]!)).toEqual([counterKey]);
  });

  it('fails cleanly, removing every key it set, when counters turn foreign on a majority before the fence', async () => {
    const clock = new FakeClock();
    // Replies take 10 ms: the acquire script has run everywhere when the counters are replaced, at 5 ms.
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes) node.latencyMs = 10;
    const counterKey = fenceKeyOf('r');
    const acquiring = new Redlock(nodes, { clock, retryCount: 10 }).acquire('r', 1000, { fencing: true });
    await clock.advance(5);
    expect(nodes.map((node) => node.keyspace.get('r'))).toEqual(Array(3).fill(nodes[0]!.keyspace.get('r')));
    for (const node of nodes.slice(0, 2)) node.keyspace.setOfType(counterKey, 'hash');
    const error = await clock.runUntilSettled(acquiring).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    const acquireError = error as LockAcquireError;
    expect(acquireError.reason).toBe('foreign-key');
    expect(acquireError.attempts).toHaveLength(1);
    expect(acquireError.attempts[0]?.fenceNodes?.map((node) => node.status)).toEqual(['foreign', 'foreign', 'fenced']);
    expect(acquireError.message).toContain('(last attempt: a quorum granted, but only 1 stored the fencing token: 2 holding a foreign key, 1 fenced)');
    expect(nodes.map((node) => node.keyspace.typeOf(counterKey))).toEqual(['hash', 'hash', 'string']);
    expect(nodes.flatMap(keysOf).filter((key) => key === 'r')).toEqual([]);
  });
});
