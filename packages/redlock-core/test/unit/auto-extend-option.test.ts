import { describe, expect, it } from '@jest/globals';
import { type Clock, LockExtendError, LockLimitError, LockLostError, Redlock, RedlockClosedError } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes, keysOf } from '../../src/testing/fake-nodes.js';

function setup(count = 5): { clock: FakeClock; nodes: FakeNode[]; redlock: Redlock } {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, count);
  return { clock, nodes, redlock: new Redlock(nodes, { clock, retryCount: 0 }) };
}

function extendTimes(node: FakeNode): number[] {
  return node.callsTo('extend').map((call) => call.sentAtMs);
}

describe("acquire()'s autoExtend option", () => {
  it('keeps the lock extended on the schedule of using() until it is released, then stops at once', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('job', 1000, { autoExtend: true }));
    await clock.advance(5000);
    expect(lock.state).toBe('held');
    expect(lock.signal.aborted).toBe(false);
    expect(nodes.every((node) => node.keyspace.get('job') === lock.token)).toBe(true);
    // Validity 988 ms; each extension starts with half the TTL of validity left: every 488 ms.
    expect(extendTimes(nodes[0]!)).toEqual([488, 976, 1464, 1952, 2440, 2928, 3416, 3904, 4392, 4880]);
    await clock.runUntilSettled(lock.release());
    expect(clock.pendingTimerCount).toBe(0);
    await clock.advance(5000);
    expect(extendTimes(nodes[0]!)).toHaveLength(10);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(lock.signal.aborted).toBe(false);
  });

  it('aborts lock.signal with LockLostError when an extension finds that a quorum no longer holds the token', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('job', 1000, { autoExtend: true }));
    const { signal } = lock;
    for (const node of nodes.slice(0, 3)) node.keyspace.set('job', 'someone', 60_000);
    await clock.advance(488);
    expect(signal.reason).toBeInstanceOf(LockLostError);
    expect((signal.reason as LockLostError).message).toBe('Lost the lock on "job": a quorum of nodes no longer holds our token');
    expect((signal.reason as LockLostError).cause).toBeInstanceOf(LockExtendError);
    expect(lock.state).toBe('lost');
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('aborts lock.signal with LockLostError when validity runs out while extensions keep failing', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('job', 1000, { autoExtend: true }));
    for (const node of nodes.slice(0, 3)) node.isDown = true;
    await clock.advance(987);
    expect(lock.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(lock.signal.reason).toBeInstanceOf(LockLostError);
    expect(lock.state).toBe('expired');
    expect(nodes[4]!.callsTo('extend').length).toBeGreaterThan(3);
  });

  it('stops at maxExtensions with LockLimitError on lock.signal; the lock stays valid for its remaining validity', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('job', 1000, { autoExtend: true, maxExtensions: 2 }));
    await clock.advance(1464);
    expect(extendTimes(nodes[0]!)).toEqual([488, 976]);
    expect(lock.signal.reason).toBeInstanceOf(LockLimitError);
    expect((lock.signal.reason as LockLimitError).limit).toBe('maxExtensions');
    expect(lock.state).toBe('held');
    await clock.advance(1000);
    expect(lock.state).toBe('expired');
    expect(extendTimes(nodes[0]!)).toEqual([488, 976]);
  });

  it('stops at maxHoldMs with LockLimitError on lock.signal', async () => {
    const { clock, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('job', 1000, { autoExtend: true, maxHoldMs: 1500 }));
    await clock.advance(1499);
    expect(lock.signal.aborted).toBe(false);
    await clock.advance(1);
    expect((lock.signal.reason as LockLimitError).limit).toBe('maxHoldMs');
  });

  it('is stopped by close(): lock.signal aborts with RedlockClosedError and no extension follows', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('job', 1000, { autoExtend: true }));
    await clock.advance(500);
    await clock.runUntilSettled(redlock.close());
    expect(lock.signal.reason).toBeInstanceOf(RedlockClosedError);
    expect(clock.pendingTimerCount).toBe(0);
    await clock.advance(3000);
    expect(extendTimes(nodes[0]!)).toEqual([488]);
    expect(lock.state).toBe('expired');
  });

  it('extends a re-entrant handle with autoExtend while it is held, and stops when that handle is released', async () => {
    const { clock, nodes, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('job', 1000));
    const inner = await clock.runUntilSettled(redlock.acquire('job', 1000, { reentrant: outer, autoExtend: true }));
    await clock.advance(2000);
    expect(outer.state).toBe('held');
    expect(extendTimes(nodes[0]!).length).toBeGreaterThan(2);
    await clock.runUntilSettled(inner.release());
    const extensions = extendTimes(nodes[0]!).length;
    await clock.advance(2000);
    expect(extendTimes(nodes[0]!)).toHaveLength(extensions);
    expect(outer.state).toBe('expired');
    expect(outer.signal.reason).toBeInstanceOf(LockLostError);
  });

  it('sets only unref\'d timers, so a lock kept extended never keeps the process alive', async () => {
    const fake = new FakeClock();
    const unrefd = new Set<number>();
    type Handle = { readonly id: number; unref(): void };
    const clock: Clock = {
      now: () => fake.now(),
      wallNow: () => fake.wallNow(),
      setTimeout: (callback, ms): Handle => {
        const id = fake.setTimeout(callback, ms) as number;
        return { id, unref: () => unrefd.add(id) };
      },
      clearTimeout: (handle) => fake.clearTimeout((handle as Handle | undefined)?.id),
    };
    const nodes = grantingNodes(fake, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const lock = await fake.runUntilSettled(redlock.acquire('job', 1000, { autoExtend: true }));
    void lock.signal;
    await fake.advance(600);
    expect(fake.pendingTimerCount).toBeGreaterThan(0);
    // Every timer still pending (extension, expiry watch, the signal's expiry) is unref'd.
    const stillSet = fake.pendingTimerIds;
    expect(stillSet.length).toBeGreaterThan(0);
    expect(stillSet.every((id) => unrefd.has(id))).toBe(true);
    await fake.runUntilSettled(lock.release());
  });

  it('rejects a non-boolean autoExtend, and maxExtensions or maxHoldMs without it, before any node is called', async () => {
    const { nodes, redlock } = setup();
    await expect(redlock.acquire('job', 1000, { autoExtend: 'yes' as unknown as boolean })).rejects.toThrow(
      new TypeError('Expected `autoExtend` to be a boolean, got `"yes"`'),
    );
    await expect(redlock.acquire('job', 1000, { maxExtensions: 3 })).rejects.toThrow(
      new TypeError('Expected `autoExtend: true` with `maxExtensions`, which limits automatic extension, got `autoExtend: false`'),
    );
    await expect(redlock.acquire('job', 1000, { autoExtend: false, maxHoldMs: 5000 })).rejects.toThrow(TypeError);
    await expect(redlock.acquire('job', 1000, { autoExtend: true, maxHoldMs: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(redlock.acquire('job', 1000, { autoExtend: true, maxExtensions: -1 })).rejects.toBeInstanceOf(RangeError);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});

describe('lock.signal without autoExtend', () => {
  it('aborts with LockLostError when a manual extend() finds the token gone', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('job', 10_000));
    const { signal } = lock;
    for (const node of nodes.slice(0, 3)) node.keyspace.set('job', 'someone', 60_000);
    await clock.runUntilSettled(lock.extend(10_000).catch(() => undefined));
    expect(signal.reason).toBeInstanceOf(LockLostError);
    expect((signal.reason as LockLostError).cause).toBeInstanceOf(LockExtendError);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('follows manual extensions: it aborts when the extended validity runs out, not the first one', async () => {
    const { clock, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('job', 1000));
    const { signal } = lock;
    await clock.advance(500);
    await clock.runUntilSettled(lock.extend(1000));
    await clock.advance(987);
    expect(signal.aborted).toBe(false);
    await clock.advance(1);
    expect(signal.reason).toBeInstanceOf(LockLostError);
  });

  it('is one signal for every re-entrant handle of the hold, already aborted when read on an expired lock', async () => {
    const { clock, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('job', 1000));
    const inner = await clock.runUntilSettled(redlock.acquire('job', 500, { reentrant: outer }));
    expect(inner.signal).toBe(outer.signal);
    const expiring = await clock.runUntilSettled(redlock.acquire('other', 100));
    await clock.advance(200);
    expect(expiring.signal.reason).toBeInstanceOf(LockLostError);
    await clock.runUntilSettled(inner.release());
    await clock.runUntilSettled(outer.release());
    expect(clock.pendingTimerCount).toBe(0);
  });
});
