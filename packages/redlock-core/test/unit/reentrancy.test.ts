import { describe, expect, it } from '@jest/globals';
import { type Lock, LockAcquireError, LockExtendError, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes, hasKey, keysOf } from '../../src/testing/fake-nodes.js';

function setup(): { clock: FakeClock; nodes: FakeNode[]; redlock: Redlock } {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, 3);
  return { clock, nodes, redlock: new Redlock(nodes, { clock, retryCount: 0 }) };
}

const callCount = (nodes: readonly FakeNode[]): number => nodes.reduce((count, node) => count + node.calls.length, 0);

describe('re-entrant acquisition', () => {
  it('hands the owner another handle at once, and releases the keys with the last handle', async () => {
    const { clock, nodes, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire(['a', 'b'], 10_000));
    const calls = callCount(nodes);
    const inner = await clock.runUntilSettled(redlock.acquire('a', 5_000, { reentrant: outer }));
    expect(callCount(nodes)).toBe(calls); // enough validity left: no node called
    expect(inner).not.toBe(outer);
    expect(inner.token).toBe(outer.token);
    expect(inner.attempts).toBe(0);
    expect(inner.expiresAt).toBe(outer.expiresAt);

    expect(await clock.runUntilSettled(inner.release())).toEqual({ nodes: [], releasedCount: 0, holders: 1, settled: expect.any(Promise) });
    expect(inner.state).toBe('released');
    expect(outer.state).toBe('held');
    expect(nodes.every((node) => hasKey(node, 'a', outer.token))).toBe(true);

    const last = await clock.runUntilSettled(outer.release());
    expect((await last.settled).filter((node) => node.status === 'released')).toHaveLength(3);
    expect(last.holders).toBe(0);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('releases the keys with the last handle whatever the order, and each handle only once', async () => {
    const { clock, nodes, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('a', 10_000));
    const inner = await clock.runUntilSettled(redlock.acquire('a', 1_000, { reentrant: outer }));
    await clock.runUntilSettled(outer.release());
    await clock.runUntilSettled(outer.release()); // a second release of the same handle is no second share
    expect(nodes.every((node) => hasKey(node, 'a', outer.token))).toBe(true);
    expect(inner.state).toBe('held');
    await clock.runUntilSettled(inner.release());
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('extends the shared hold when the re-entry asks for more validity than is left, never shortens it', async () => {
    const { clock, nodes, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('a', 1_000));
    await clock.advance(600);
    const inner = await clock.runUntilSettled(redlock.acquire('a', 5_000, { reentrant: outer }));
    expect(nodes[0]!.callsTo('extend')).toHaveLength(1);
    expect(nodes[0]!.keyspace.pttl('a')).toBe(5_000);
    expect(outer.remainingValidityMs).toBe(inner.remainingValidityMs);
    expect(outer.remainingValidityMs).toBeGreaterThan(4_000);
    // A shorter re-entry leaves the keys' TTL alone.
    await clock.runUntilSettled(redlock.acquire('a', 1_000, { reentrant: inner }));
    expect(nodes[0]!.callsTo('extend')).toHaveLength(1);
    expect(nodes[0]!.keyspace.pttl('a')).toBe(5_000);
  });

  it("extends every handle's validity when one handle is extended", async () => {
    const { clock, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('a', 1_000));
    const inner = await clock.runUntilSettled(redlock.acquire('a', 500, { reentrant: outer }));
    await clock.advance(500);
    await clock.runUntilSettled(inner.extend(3_000));
    expect(outer.expiresAt).toBe(inner.expiresAt);
    expect(outer.remainingValidityMs).toBeGreaterThan(2_900);
  });

  it('runs nested using() calls under one hold', async () => {
    const { clock, nodes, redlock } = setup();
    const result = await clock.runUntilSettled(
      redlock.using('a', 1_000, (_, outer: Lock) =>
        redlock.using('a', 1_000, (signal, inner) => {
          expect(inner.token).toBe(outer.token);
          expect(signal.aborted).toBe(false);
          return 'nested';
        }, { reentrant: outer }),
      ),
    );
    expect(result).toBe('nested');
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('acquires normally when the context is undefined', async () => {
    const { clock, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('a', 1_000, { reentrant: undefined }));
    expect(lock.attempts).toBe(1);
  });

  it('rejects re-entering a lock that is no longer held, without calling a node', async () => {
    const { clock, nodes, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('a', 1_000));
    await clock.advance(1_000);
    const calls = callCount(nodes);
    const error = await clock.runUntilSettled(redlock.acquire('a', 1_000, { reentrant: outer })).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockExtendError);
    expect((error as LockExtendError).message).toBe('Could not re-enter "a": the lock is already expired');
    expect(callCount(nodes)).toBe(calls);
  });

  it.each([
    ['another resource', 'b', RangeError, 'Expected `reentrant` to be a lock of this Redlock on "b", got one on "a"'],
    ['not a lock', { token: 'x' }, TypeError, 'Expected `reentrant` to be a Lock handed out by `acquire()` or `using()`, got `object`'],
    [
      'an object made from the Lock prototype',
      'prototype',
      TypeError,
      'Expected `reentrant` to be a Lock handed out by `acquire()` or `using()`, got an object that only looks like one (made from its prototype, or a copy)',
    ],
  ])('rejects a context for %s before any node call', async (_, context, type, message) => {
    const { clock, nodes, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('a', 1_000));
    const calls = callCount(nodes);
    const resource = typeof context === 'string' && context !== 'prototype' ? context : 'a';
    const reentrant =
      context === 'prototype' ? Object.assign(Object.create(Object.getPrototypeOf(outer) as object) as object, { resources: ['a'] }) : typeof context === 'string' ? outer : context;
    await expect(redlock.acquire(resource, 1_000, { reentrant: reentrant as Lock })).rejects.toThrow(new type(message));
    expect(callCount(nodes)).toBe(calls);
  });

  it("rejects another Redlock's lock as the context", async () => {
    const { clock, nodes, redlock } = setup();
    const other = new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryCount: 0 });
    const outer = await clock.runUntilSettled(other.acquire('a', 1_000));
    await expect(redlock.acquire('a', 1_000, { reentrant: outer })).rejects.toThrow(
      new RangeError('Expected `reentrant` to be a lock of this Redlock on "a", got a lock of another Redlock'),
    );
  });
});

describe('automatic extension under a shorter extension', () => {
  const sleep = (clock: FakeClock, ms: number): Promise<void> => new Promise((resolve) => clock.setTimeout(resolve, ms));

  it("keeps the outer handle's lock after an inner using() with a shorter TTL extended it", async () => {
    const { clock, nodes, redlock } = setup();
    const other = new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryCount: 0 });
    let stolenAt: number | undefined;
    const run = redlock.using('r', 10_000, async (signal, outer) => {
      // The inner routine's 1 s extensions cut the shared lock's end to about 1 s ahead.
      await redlock.using('r', 1_000, () => sleep(clock, 12_000), { reentrant: outer });
      for (let step = 0; step < 20 && stolenAt === undefined; step += 1) {
        await sleep(clock, 500);
        if ((await other.tryAcquire('r', 5_000)) !== undefined) stolenAt = clock.now();
      }
      return signal.aborted;
    });
    expect(await clock.runUntilSettled(run)).toBe(false);
    expect(stolenAt).toBeUndefined();
  });

  it('extends in time after the routine shortened an autoExtend lock by hand', async () => {
    const { clock, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000, { autoExtend: true }));
    await clock.advance(1_000);
    await clock.runUntilSettled(lock.extend(1_000));
    await clock.advance(20_000);
    expect(lock.state).toBe('held');
    expect(lock.signal.aborted).toBe(false);
    await clock.runUntilSettled(lock.release());
  });
});

describe("a re-entrant handle's release()", () => {
  it('resolves again with its first result, however the lock went on since', async () => {
    const { clock, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    const inner = await clock.runUntilSettled(redlock.acquire('r', 10_000, { reentrant: outer }));
    const first = inner.release();
    expect(inner.release()).toBe(first);
    expect((await clock.runUntilSettled(outer.release())).releasedCount).toBe(3);
    expect(inner.release()).toBe(first);
    expect(await first).toMatchObject({ releasedCount: 0, holders: 1 });
  });
});

describe("one re-entrant handle's extension limit", () => {
  it("stops that handle's extensions only, while another handle keeps the lock extended", async () => {
    const { clock, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('r', 10_000, { autoExtend: true }));
    const inner = await clock.runUntilSettled(redlock.acquire('r', 10_000, { reentrant: outer, autoExtend: true, maxExtensions: 0 }));
    await clock.advance(6_000);
    await clock.runUntilSettled(inner.release());
    await clock.advance(60_000);
    expect(outer.state).toBe('held');
    expect(outer.signal.aborted).toBe(false);
    await clock.runUntilSettled(outer.release());
  });
});

describe('a late grant under re-entrant handles', () => {
  it('leaves the key of a node that answered after the outer handle was released, while an inner handle holds', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    for (const node of nodes.slice(3)) node.latencyMs = 30;
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const outer = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    const inner = await clock.runUntilSettled(redlock.acquire('r', 5_000, { reentrant: outer }));
    await clock.runUntilSettled(outer.release());
    // The two slow nodes answer "acquired" now, after the outer handle let go.
    await clock.advance(40);
    expect(inner.state).toBe('held');
    expect(nodes.map((node) => hasKey(node, 'r', inner.token))).toEqual([true, true, true, true, true]);
    expect(nodes.flatMap((node) => node.callsTo('release'))).toEqual([]);
    await clock.runUntilSettled(inner.release());
    await clock.advance(100);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });
});

describe('a re-entrant acquisition checks what it is asked', () => {
  it('rejects with the reason of a signal aborted already, calling no node', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    const callsBefore = nodes.map((node) => node.calls.length);
    const reason = new Error('cancelled');
    await expect(clock.runUntilSettled(redlock.acquire('r', 5000, { reentrant: lock, signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
    expect(nodes.map((node) => node.calls.length)).toEqual(callsBefore);
  });

  it('refuses fencing on a lock acquired without it, which has no token to share', async () => {
    const { clock, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    await expect(clock.runUntilSettled(redlock.acquire('r', 1000, { reentrant: lock, fencing: true }))).rejects.toThrow(/acquired with `fencing: true`/);
    const fenced = await clock.runUntilSettled(redlock.acquire('f', 1000, { fencing: true }));
    expect((await clock.runUntilSettled(redlock.acquire('f', 1000, { reentrant: fenced, fencing: true }))).fencingToken).toBe(fenced.fencingToken);
  });
});

describe('a re-entry that must extend behind stalled nodes', () => {
  // Node timeouts of 500 ms: without a bound of its own, the re-entry would wait for them.
  async function heldBehindStalls(): Promise<{ clock: FakeClock; redlock: Redlock; outer: Lock }> {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0, nodeTimeoutMs: 500 });
    const outer = await clock.runUntilSettled(redlock.acquire('a', 2_000));
    nodes[1]!.hang();
    nodes[2]!.hang();
    return { clock, redlock, outer };
  }

  it('gives up after its waitMs with a LockAcquireError, and leaves the hold to its other handles', async () => {
    const { clock, redlock, outer } = await heldBehindStalls();
    const startedAt = clock.now();
    const error = await clock.runUntilSettled(redlock.acquire('a', 10_000, { reentrant: outer, waitMs: 50 })).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect(error).toMatchObject({ waitMs: 50, attempts: [], reason: 'nodes-unreachable' });
    expect((error as Error).message).toBe(
      'Could not acquire "a" within `waitMs` (50 ms): re-entering it needs an extension, which no quorum of nodes had agreed to by then',
    );
    expect(clock.now() - startedAt).toBe(50);
    expect(outer.state).toBe('held');
  });

  it('rejects with the reason of the caller\'s signal once it aborts', async () => {
    const { clock, redlock, outer } = await heldBehindStalls();
    const abort = new AbortController();
    const reason = new Error('the request was cancelled');
    clock.setTimeout(() => abort.abort(reason), 50);
    const startedAt = clock.now();
    const error = await clock.runUntilSettled(redlock.acquire('a', 10_000, { reentrant: outer, signal: abort.signal })).catch((failure: unknown) => failure);
    expect(error).toBe(reason);
    expect(clock.now() - startedAt).toBe(50);
  });
});
