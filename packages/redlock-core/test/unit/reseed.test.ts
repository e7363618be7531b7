import { describe, expect, it } from '@jest/globals';
import { type RedisAdapter, Redlock } from '../../src/index.js';
import { extendScript } from '../../src/scripts/extend.js';
import { permitExtendScript } from '../../src/scripts/permit-extend.js';
import type { FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes } from '../../src/testing/fake-nodes.js';
import { FakeClock } from '../support/fake-clock.js';

// Re-seeding (lock/extend.ts `extendHold`, scripts/permit-extend.ts): once a quorum extended a hold, a node
// that lost it (restarted without persistence) gets it back, for every kind of hold, so that a rolling
// restart of the nodes does not lose it; a node where another holder's entry would sit beside ours is
// left alone. A lock re-seeded before these tests were written; a semaphore's permits and a read-write
// lock's holds did not, and were lost at the second restart.

const RESOURCE = 'r';
const GRACE_MS = 2_000;

/** What the tests do with a hold of any kind. */
interface Held {
  extend(ttlMs: number): Promise<unknown>;
  release(): Promise<unknown>;
  readonly state: string;
}

/** One kind of hold: how to take it, and the script its extensions run. */
interface Kind {
  readonly name: string;
  readonly script: 'extend' | 'permit-extend';
  acquire(redlock: Redlock, ttlMs: number): Promise<Held>;
  using<T>(redlock: Redlock, ttlMs: number, routine: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

const LOCK: Kind = {
  name: 'a lock',
  script: 'extend',
  acquire: (redlock, ttlMs) => redlock.acquire(RESOURCE, ttlMs),
  using: (redlock, ttlMs, routine) => redlock.using(RESOURCE, ttlMs, routine),
};

/** The kinds held in one hash per node: their re-seeding is the new behaviour. */
const CLAIM_KINDS: readonly Kind[] = [
  {
    name: 'a semaphore permit',
    script: 'permit-extend',
    acquire: (redlock, ttlMs) => redlock.semaphore(RESOURCE, { limit: 2 }).acquire(ttlMs),
    using: (redlock, ttlMs, routine) => redlock.semaphore(RESOURCE, { limit: 2 }).using(ttlMs, routine),
  },
  {
    name: 'a read lock',
    script: 'permit-extend',
    acquire: (redlock, ttlMs) => redlock.readWriteLock(RESOURCE).acquireRead(ttlMs),
    using: (redlock, ttlMs, routine) => redlock.readWriteLock(RESOURCE).usingRead(ttlMs, routine),
  },
  {
    name: 'a write lock',
    script: 'permit-extend',
    acquire: (redlock, ttlMs) => redlock.readWriteLock(RESOURCE).acquireWrite(ttlMs),
    using: (redlock, ttlMs, routine) => redlock.readWriteLock(RESOURCE).usingWrite(ttlMs, routine),
  },
];

const EVERY_KIND: readonly Kind[] = [LOCK, ...CLAIM_KINDS];

/** For each kind, a hold of another owner that refuses it on a node until released. */
const RIVALS: Readonly<Record<string, (redlock: Redlock) => Promise<{ release(): Promise<unknown> }>>> = {
  'a lock': (redlock) => redlock.acquire(RESOURCE, 10_000),
  'a semaphore permit': (redlock) => redlock.semaphore(RESOURCE, { limit: 2 }).acquire(10_000, { permits: 2 }),
  'a read lock': (redlock) => redlock.readWriteLock(RESOURCE).acquireWrite(10_000),
  'a write lock': (redlock) => redlock.readWriteLock(RESOURCE).acquireWrite(10_000),
};

/** Three nodes up for a minute, and a `Redlock` with the restart grace on. */
async function restartableNodes(adapters?: (nodes: FakeNode[], clock: FakeClock) => RedisAdapter[]) {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, 3);
  await clock.advance(60_000);
  const redlock = new Redlock(adapters?.(nodes, clock) ?? nodes, { clock, retryCount: 0, restartGraceMs: GRACE_MS });
  return { clock, nodes, redlock };
}

/** Who holds what at the resource key on `node`: a lock's token, or each hash field's holder (its marker's value). */
function holdersOn(node: FakeNode): Record<string, string> | undefined {
  const type = node.keyspace.typeOf(RESOURCE);
  if (type === 'string') return { lock: node.keyspace.get(RESOURCE) as string };
  const hash = node.keyspace.hashOf(RESOURCE);
  if (hash === undefined) return undefined;
  return Object.fromEntries([...hash].map(([field, value]) => [field, value.slice(value.indexOf(':') + 1)]));
}

/**
 * Whether the extension calls `node` got asked it to re-seed (ARGV[3] of both extend scripts), each answer
 * once: a restarted node answers a script's first EVALSHA with NOSCRIPT, and then runs it by EVAL.
 */
const reseedFlagsOn = (node: FakeNode, kind: Kind): (string | undefined)[] => [...new Set(node.callsTo(kind.script).map((call) => call.args[2]))];

describe.each(EVERY_KIND)('re-seeding $name', (kind) => {
  it('sets it again on a node that restarted empty, at the next extension, with the new TTL', async () => {
    const { clock, nodes, redlock } = await restartableNodes();
    const held = await clock.runUntilSettled(kind.acquire(redlock, 1_000));
    nodes[2]!.keyspace.restart({ persistence: false });
    await clock.runUntilSettled(held.extend(5_000));
    await clock.advance(0);
    expect(holdersOn(nodes[2]!)).toEqual(holdersOn(nodes[0]!));
    expect(nodes[2]!.keyspace.pttl(RESOURCE)).toBe(5_000);
    // Inside the node's restart grace: the grace keeps new holders out, not a holder a quorum still holds.
    expect(nodes[2]!.keyspace.uptimeMs).toBeLessThan(GRACE_MS);
    expect(reseedFlagsOn(nodes[2]!, kind)).toEqual(['0', '1']);
  });

  it('keeps it through a restart of every node, one after the other 3 s apart, under using() with a 2 s TTL', async () => {
    const { clock, nodes, redlock } = await restartableNodes();
    const aborts: unknown[] = [];
    const running = kind.using(redlock, 2_000, async (signal) => {
      signal.addEventListener('abort', () => aborts.push(signal.reason), { once: true });
      for (const node of nodes) {
        await pause(clock, 3_000);
        node.keyspace.restart({ persistence: false });
      }
      await pause(clock, 3_000);
      return 'done';
    });
    await expect(clock.runUntilSettled(running)).resolves.toBe('done');
    expect(aborts).toEqual([]);
  });

  it('gives a hold won on 2 of 3 nodes the third at its next extension, so that it survives a restart of one of the two', async () => {
    const { clock, nodes, redlock } = await restartableNodes();
    // Node 2 has just restarted: inside its grace it grants nothing.
    nodes[2]!.keyspace.restart({ persistence: false });
    const held = await clock.runUntilSettled(kind.acquire(redlock, 2_000));
    expect(holdersOn(nodes[2]!)).toBeUndefined();
    await clock.runUntilSettled(held.extend(2_000));
    await clock.advance(0);
    expect(holdersOn(nodes[2]!)).toEqual(holdersOn(nodes[1]!));
    nodes[0]!.keyspace.restart({ persistence: false });
    await clock.runUntilSettled(held.extend(2_000));
    expect(held.state).toBe('held');
  });

  it('gives a hold won on 2 of 3 nodes the third as soon as another holder there lets go, long before its first extension', async () => {
    const { clock, nodes, redlock } = await restartableNodes();
    // A rival sees node 2 only, and holds the resource there when ours is asked for (a racing attempt).
    const rivalRedlock = new Redlock([nodes[2]!], { clock, retryCount: 0 });
    const rival = await clock.runUntilSettled(RIVALS[kind.name]!(rivalRedlock));
    const held = await clock.runUntilSettled(kind.acquire(redlock, 2_000));
    const ours = holdersOn(nodes[1]!);
    expect(holdersOn(nodes[2]!)).not.toEqual(ours);
    await clock.runUntilSettled(rival.release());
    await clock.advance(20);
    expect(holdersOn(nodes[2]!)).toEqual(ours);
    // With the TTL the other nodes' keys have left, not a new one: nothing there outlives them.
    expect(nodes[2]!.keyspace.pttl(RESOURCE)).toBeLessThanOrEqual(nodes[1]!.keyspace.pttl(RESOURCE) as number);
    nodes[0]!.keyspace.restart({ persistence: false });
    await clock.runUntilSettled(held.extend(2_000));
    expect(held.state).toBe('held');
    await clock.runUntilSettled(held.release());
    await clock.advance(100);
    expect(nodes.map((node) => holdersOn(node))).toEqual([undefined, undefined, undefined]);
  });

  it('leaves a node inside its restart grace to the first extension: it grants nothing there', async () => {
    const { clock, nodes, redlock } = await restartableNodes();
    nodes[2]!.keyspace.restart({ persistence: false });
    await clock.runUntilSettled(kind.acquire(redlock, 2_000));
    await clock.advance(500);
    expect(holdersOn(nodes[2]!)).toBeUndefined();
  });

  it('removes what a re-seed set on a node that the release had reached first', async () => {
    // The re-seed reaches node 2 50 ms after it was sent (a command re-sent after a reconnection may come
    // in after a later one): after the release, which found nothing there to remove.
    const { clock, nodes, redlock } = await restartableNodes((fakes, clock) => [fakes[0]!, fakes[1]!, reseedsDelayed(clock, fakes[2]!, 50)]);
    const held = await clock.runUntilSettled(kind.acquire(redlock, 10_000));
    nodes[2]!.keyspace.restart({ persistence: false });
    await clock.runUntilSettled(held.extend(10_000));
    await clock.runUntilSettled(held.release());
    expect(holdersOn(nodes[2]!)).toBeUndefined();
    await clock.advance(100);
    expect(reseedFlagsOn(nodes[2]!, kind)).toEqual(['0', '1']);
    expect(nodes.map((node) => holdersOn(node))).toEqual([undefined, undefined, undefined]);
  });
});

describe.each(CLAIM_KINDS)('re-seeding $name on a node where another holder is', (kind) => {
  /**
   * What another holder left at the key of the restarted node (by field, its holder), given our fields and
   * holders on another node; and whether the node answers the extension `'missing'` (every entry of ours is
   * gone), so that a re-seed is sent there and refused, rather than `'not-held'` (another holder has ours).
   */
  const conflicts: Record<string, readonly [string, (ours: Record<string, string>) => Map<string, string>, string[]][]> = {
    'a semaphore permit': [
      ['its slot taken by another holder', (ours) => slotsOf(ours, (slot, hash) => hash.set(slot, 'other')), ['0']],
      ['a semaphore of another limit', () => new Map([['limit', '3']]), ['0']],
    ],
    'a read lock': [
      ['a writer', () => new Map([['rw', '1'], ['w', 'other']]), ['0', '1']],
      ["a waiting writer's intent", () => new Map([['rw', '1'], ['i', 'intent']]), ['0', '1']],
    ],
    'a write lock': [['a reader', () => new Map([['rw', '1'], ['r:other', 'other']]), ['0', '1']]],
  };

  it.each(conflicts[kind.name]!)('leaves the node alone when it holds %s, and the hold stays held', async (_, conflicting, reseedFlags) => {
    const { clock, nodes, redlock } = await restartableNodes();
    const held = await clock.runUntilSettled(kind.acquire(redlock, 1_000));
    const restarted = nodes[2]!;
    restarted.keyspace.restart({ persistence: false });
    const expiresAtMs = Math.floor(restarted.keyspace.now()) + 60_000;
    const hash = new Map([...conflicting(holdersOn(nodes[0]!) ?? {})].map(([field, holder]) => [field, isMarker(field) ? holder : `${expiresAtMs}:${holder}`]));
    restarted.keyspace.createHash(RESOURCE, hash);
    restarted.keyspace.pexpire(RESOURCE, 60_000);
    const before = new Map(hash);
    await clock.runUntilSettled(held.extend(1_000));
    await clock.advance(0);
    expect(restarted.keyspace.hashOf(RESOURCE)).toEqual(before);
    expect(restarted.keyspace.pttl(RESOURCE)).toBe(60_000);
    expect(reseedFlagsOn(restarted, kind)).toEqual(reseedFlags);
    expect(held.state).toBe('held');
  });

  it("leaves a hash of someone else's at the key alone", async () => {
    const { clock, nodes, redlock } = await restartableNodes();
    const held = await clock.runUntilSettled(kind.acquire(redlock, 1_000));
    const restarted = nodes[2]!;
    restarted.keyspace.restart({ persistence: false });
    restarted.keyspace.createHash(RESOURCE, new Map([['user', 'data']]));
    restarted.keyspace.pexpire(RESOURCE, 60_000);
    await clock.runUntilSettled(held.extend(1_000));
    await clock.advance(0);
    expect(restarted.keyspace.hashOf(RESOURCE)).toEqual(new Map([['user', 'data']]));
    expect(reseedFlagsOn(restarted, kind)).toEqual(['0']);
  });
});

/** A semaphore's fields as `ours` lists them on another node, with `edit` applied to each of our slots. */
function slotsOf(ours: Record<string, string>, edit: (slot: string, hash: Map<string, string>) => void): Map<string, string> {
  const hash = new Map([['limit', ours['limit'] ?? '']]);
  for (const field of Object.keys(ours)) if (field !== 'limit') edit(field, hash);
  return hash;
}

/** Whether a hash field is a layout's marker (a semaphore's limit, a read-write lock's `rw`), which holds no entry. */
const isMarker = (field: string): boolean => field === 'limit' || field === 'rw';

/**
 * `node` as a client sees it, but calls that re-seed (either extend script with ARGV[3] '1') reach it
 * `delayMs` after they were sent, on `clock`; every other command at once.
 */
function reseedsDelayed(clock: FakeClock, node: FakeNode, delayMs: number): RedisAdapter {
  const isReseed = (script: string, args: readonly string[]): boolean =>
    args[2] === '1' && [extendScript, permitExtendScript].some((candidate) => candidate.sha1 === script || candidate.source === script);
  const later = <T>(send: () => Promise<T>): Promise<T> => pause(clock, delayMs).then(send);
  return {
    evalsha: (sha1, keys, args) => (isReseed(sha1, args) ? later(() => node.evalsha(sha1, keys, args)) : node.evalsha(sha1, keys, args)),
    eval: (source, keys, args) => (isReseed(source, args) ? later(() => node.eval(source, keys, args)) : node.eval(source, keys, args)),
  };
}

/** Resolves `ms` later on `clock`. */
const pause = (clock: FakeClock, ms: number): Promise<void> => new Promise((resolve) => clock.setTimeout(() => resolve(), ms));
