import { describe, expect, it } from '@jest/globals';
import { LockAcquireError, Redlock, type RedlockOptions } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes, keysOf, nodesHoldingToken, refusingNode } from '../../src/testing/fake-nodes.js';

// A key at a lock's key that is not a lock (another type, or a string without a TTL: every lock key has
// one) never goes away by itself. Acquisitions report it as a foreign key and stop retrying once such keys
// deny a quorum; inspect() reports it instead of a lock that never ends. Real Redis: the adapter package's
// foreign-keys.test.ts.

/** A Redlock on the fake clock with retries left, so that stopping early shows. */
function redlockOver(nodes: readonly FakeNode[], clock: FakeClock, options: RedlockOptions = {}): Redlock {
  return new Redlock(nodes, { clock, retryCount: 10, retryDelayMs: 100, retryJitterMs: 0, ...options });
}

async function acquireError(clock: FakeClock, acquiring: Promise<unknown>): Promise<LockAcquireError> {
  const error = await clock.runUntilSettled(acquiring).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  if (!(error instanceof LockAcquireError)) throw new Error(`Expected a LockAcquireError, got ${String(error)}`);
  return error;
}

/** Plants something that is not a lock at `key`. */
type Plant = (node: FakeNode, key: string) => void;

const FOREIGN_KEYS: readonly [string, Plant][] = [
  ['a hash', (node, key) => node.keyspace.setOfType(key, 'hash')],
  ['a list', (node, key) => node.keyspace.setOfType(key, 'list')],
  ['a set', (node, key) => node.keyspace.setOfType(key, 'set')],
  ['a sorted set', (node, key) => node.keyspace.setOfType(key, 'zset')],
  ['a hash with a TTL', (node, key) => node.keyspace.setOfType(key, 'hash', 60_000)],
  ['a string without a TTL', (node, key) => node.keyspace.set(key, 'user-data')],
];

describe('acquire() on a foreign key', () => {
  it.each(FOREIGN_KEYS)(
    'fails at once with foreign-key when a majority holds %s at the key, with retries left, and leaves it untouched',
    async (_, plant) => {
      const clock = new FakeClock();
      const nodes = grantingNodes(clock, 3);
      for (const node of nodes.slice(0, 2)) plant(node, 'lock:r');
      const before = nodes.map((node) => node.keyspace.peek('lock:r'));
      const error = await acquireError(clock, redlockOver(nodes, clock, { keyPrefix: 'lock:' }).acquire('r', 1000));
      expect(error.reason).toBe('foreign-key');
      expect(error.attempts).toHaveLength(1);
      expect(error.attempts[0]?.nodes.map((node) => node.status)).toEqual(['foreign', 'foreign', 'acquired']);
      expect(error.message).toBe(
        'Could not acquire "r" after 1 attempt: foreign key (last attempt: 2 holding a foreign key, 1 acquired, quorum is 2); ' +
          "the key is not a lock (another type, such as a semaphore's or a read-write lock's, or a string without a TTL): " +
          'give each lock a resource of its own, and lock keys a namespace (`keyPrefix`)',
      );
      expect(nodes.map((node) => node.acquireRequests().length)).toEqual([1, 1, 1]);
      expect(nodes.map((node) => node.keyspace.peek('lock:r'))).toEqual(before);
      // The node that granted was cleaned up; the foreign ones were not asked to release anything.
      expect(keysOf(nodes[2] as FakeNode)).toEqual([]);
      expect(nodes.map((node) => node.callsTo('release').length)).toEqual([0, 0, 1]);
    },
  );

  it('rejects using() the same way, without running the routine', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes) node.keyspace.setOfType('r', 'hash');
    let runs = 0;
    const error = await acquireError(
      clock,
      redlockOver(nodes, clock).using('r', 1000, () => {
        runs += 1;
      }),
    );
    expect(error.reason).toBe('foreign-key');
    expect(error.attempts).toHaveLength(1);
    expect(runs).toBe(0);
  });

  it('fails a multi-resource lock with foreign-key when one of its keys is foreign on a majority, setting none of them there', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes.slice(1)) node.keyspace.setOfType('b', 'list');
    const error = await acquireError(clock, redlockOver(nodes, clock).acquire(['a', 'b'], 1000));
    expect(error.reason).toBe('foreign-key');
    expect(error.message).toContain('a key is not a lock');
    expect(nodes.map(keysOf)).toEqual([[], ['b'], ['b']]);
  });

  it('acquires when foreign keys are on a minority only', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    for (const node of nodes.slice(0, 2)) node.keyspace.set('r', 'user-data');
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock).acquire('r', 1000));
    expect(nodesHoldingToken(nodes, lock.token)).toEqual([2, 3, 4]);
    expect(nodes.slice(0, 2).map((node) => node.keyspace.get('r'))).toEqual(['user-data', 'user-data']);
  });

  it('keeps retrying while foreign keys alone leave a quorum possible, and reports the contention', async () => {
    const clock = new FakeClock();
    const nodes = [...grantingNodes(clock, 4), refusingNode(clock)];
    for (const node of nodes.slice(0, 2)) node.keyspace.setOfType('r', 'hash');
    nodes[2]!.keyspace.set('r', 'another-owner', 60_000);
    const error = await acquireError(clock, redlockOver(nodes, clock, { retryCount: 2 }).acquire('r', 1000));
    expect(error.reason).toBe('held-by-another-owner');
    expect(error.attempts).toHaveLength(3);
    expect(error.attempts[2]?.nodes.map((node) => node.status)).toEqual(['foreign', 'foreign', 'held', 'acquired', 'held']);
  });

  it("treats a string with a TTL that is not our token as another owner's lock, and waits for it", async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes) node.keyspace.set('r', 'another-owner', 250);
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock).acquire('r', 1000));
    expect(lock.attempts).toBe(4);
    expect(nodesHoldingToken(nodes, lock.token)).toEqual([0, 1, 2]);
  });
});

describe('inspect() on a foreign key', () => {
  it('reports a node whose key is not a lock as foreign, never as a lock without end', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    nodes[0]!.keyspace.setOfType('r', 'hash');
    nodes[1]!.keyspace.set('r', 'user-data');
    nodes[2]!.keyspace.setOfType('r', 'list', 7_000);
    nodes[3]!.keyspace.set('r', 'another-owner', 5_000);
    const inspection = await clock.runUntilSettled(new Redlock(nodes, { clock }).inspect('r'));
    expect(inspection).toEqual({
      resource: 'r',
      isLocked: false,
      remainingMs: 0,
      nodes: [
        { nodeIndex: 0, status: 'foreign' },
        { nodeIndex: 1, status: 'foreign' },
        { nodeIndex: 2, status: 'foreign' },
        { nodeIndex: 3, status: 'locked', remainingMs: 5_000 },
        { nodeIndex: 4, status: 'free' },
      ],
    });
  });

  it('counts foreign answers toward the quorum that must answer, and only locks toward isLocked', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    nodes[0]!.keyspace.set('r', 'user-data');
    nodes[1]!.keyspace.set('r', 'another-owner', 2_000);
    nodes[2]!.isDown = true;
    const inspection = await clock.runUntilSettled(new Redlock(nodes, { clock }).inspect('r'));
    expect(inspection.nodes.map((node) => node.status)).toEqual(['foreign', 'locked', 'error']);
    expect(inspection.isLocked).toBe(false);
    expect(inspection.remainingMs).toBe(0);
  });
});

describe("a semaphore's or a read-write lock's acquisition on a user's hash", () => {
  it.each<[string, [string, string][], number | undefined]>([
    ['a hash with a limit field and no TTL', [['limit', '3'], ['owner', 'billing']], undefined],
    ['a hash whose limit is no number', [['limit', 'unlimited']], 60_000],
    ["a hash whose limit is a number only to JavaScript (Lua's tonumber reads no 0b10)", [['limit', '0b10']], 60_000],
    ['a hash whose slot holds no entry', [['limit', '3'], ['1', 'taken']], 60_000],
    ['a hash marked rw and no TTL', [['rw', '1'], ['theme', 'dark']], undefined],
    ['a hash marked rw whose writer holds no entry', [['rw', '1'], ['w', 'someone']], 60_000],
  ])('fails at once with foreign-key on %s, and leaves it untouched', async (_, fields, ttlMs) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes) {
      node.keyspace.createHash('r', new Map(fields));
      if (ttlMs !== undefined) node.keyspace.pexpire('r', ttlMs);
    }
    const redlock = redlockOver(nodes, clock);
    const isSemaphoreLike = fields.some(([field]) => field === 'limit');
    const acquiring: Promise<unknown> = isSemaphoreLike ? redlock.semaphore('r', { limit: 3 }).acquire(10_000) : redlock.readWriteLock('r').acquireWrite(10_000);
    await expect(clock.runUntilSettled(acquiring)).rejects.toMatchObject({ reason: 'foreign-key', attemptCount: 1 });
    expect(clock.now()).toBe(0);
    for (const node of nodes) {
      expect([...(node.keyspace.hashOf('r') ?? [])]).toEqual(fields);
      expect(node.keyspace.pttl('r')).toBe(ttlMs ?? Infinity);
    }
  });
});
