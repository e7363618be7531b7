import { describe, expect, it } from '@jest/globals';
import { Lock, LockAcquireError, Redlock, type TryAcquireOptions } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import {
  type FakeNode,
} from '../../src/testing/fake-adapter.js';
import {
  failingNode,
  grantingNode,
  grantingNodes,
  hangingNode,
  keysOf,
  refusingNode,
  slowNode,
} from '../../src/testing/fake-nodes.js';

/** A Redlock that would retry 10 times in acquire(): tryAcquire() must not. */
function redlockOver(nodes: readonly FakeNode[], clock: FakeClock): Redlock {
  return new Redlock(nodes, { clock, retryCount: 10, waitMs: 60_000 });
}

async function rejection(clock: FakeClock, trying: Promise<unknown>): Promise<unknown> {
  return clock.runUntilSettled(trying).then(
    () => undefined,
    (failure: unknown) => failure,
  );
}

/** Bypasses the option types, to pass what a JavaScript caller could. */
function loose<T>(value: unknown): T {
  return value as T;
}

describe('tryAcquire()', () => {
  it('resolves with the lock after one attempt when a quorum grants it', async () => {
    const clock = new FakeClock();
    const nodes = [...grantingNodes(clock, 3), refusingNode(clock), refusingNode(clock)];
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock).tryAcquire('r', 10_000));
    expect(lock).toBeInstanceOf(Lock);
    expect(lock?.attempts).toBe(1);
    expect(lock?.state).toBe('held');
  });

  it('resolves undefined when 2 of 5 nodes grant and 3 are held by another owner, after one attempt, leaving no key', async () => {
    const clock = new FakeClock();
    const nodes = [...grantingNodes(clock, 2), refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    await expect(clock.runUntilSettled(redlockOver(nodes, clock).tryAcquire('r', 10_000))).resolves.toBeUndefined();
    expect(nodes.map((node) => node.acquireRequests().length)).toEqual([1, 1, 1, 1, 1]);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    // No retry pause, no timer left.
    expect(clock.now()).toBe(0);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('resolves undefined when 3 held deny a quorum whatever the unreachable node would have said', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), refusingNode(clock), refusingNode(clock), refusingNode(clock), failingNode(clock)];
    await expect(clock.runUntilSettled(redlockOver(nodes, clock).tryAcquire('r', 10_000))).resolves.toBeUndefined();
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('rejects with nodes-unreachable when 2 granted, 2 held and the unreachable node would have decided', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), refusingNode(clock), refusingNode(clock), failingNode(clock)];
    const error = await rejection(clock, redlockOver(nodes, clock).tryAcquire('r', 10_000));
    expect(error).toBeInstanceOf(LockAcquireError);
    const acquireError = error as LockAcquireError;
    expect(acquireError.reason).toBe('nodes-unreachable');
    expect(acquireError.attemptCount).toBe(1);
    expect(acquireError.message).toBe(
      'Could not acquire "r" after 1 attempt: nodes unreachable (last attempt: 2 acquired, 2 held by another owner, 1 failed, quorum is 3)',
    );
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(nodes[0]!.acquireRequests()).toHaveLength(1);
  });

  it('rejects with nodes-unreachable when most nodes fail', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), failingNode(clock), failingNode(clock)];
    const error = await rejection(clock, redlockOver(nodes, clock).tryAcquire('r', 10_000));
    expect((error as LockAcquireError).reason).toBe('nodes-unreachable');
  });

  it('rejects with no-validity when a quorum granted too late', async () => {
    const clock = new FakeClock();
    const nodes = [slowNode(clock, 10), slowNode(clock, 10), slowNode(clock, 10)];
    const trying = redlockOver(nodes, clock).tryAcquire('r', 1_000);
    trying.catch(() => undefined);
    await clock.advance(5);
    // The event loop stalls for 2 s: the grants are read after the TTL is gone.
    clock.stall(2_000);
    const error = await rejection(clock, trying);
    expect((error as LockAcquireError).reason).toBe('no-validity');
  });

  it('rejects with foreign-key when keys that are not locks deny a quorum', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes.slice(0, 2)) node.keyspace.setOfType('r', 'hash');
    const error = await rejection(clock, redlockOver(nodes, clock).tryAcquire('r', 10_000));
    expect((error as LockAcquireError).reason).toBe('foreign-key');
  });

  it('removes the key a hung node sets when it answers after tryAcquire() resolved undefined', async () => {
    const clock = new FakeClock();
    const late = hangingNode(clock);
    const nodes = [grantingNode(clock), refusingNode(clock), refusingNode(clock), refusingNode(clock), late];
    await expect(clock.runUntilSettled(redlockOver(nodes, clock).tryAcquire('r', 10_000))).resolves.toBeUndefined();
    late.resume();
    await clock.advance(0);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('resolves undefined as soon as the refusals deny a quorum, without waiting for hung nodes, which it reports as not answered yet', async () => {
    const clock = new FakeClock();
    const late = [hangingNode(clock), hangingNode(clock)];
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock), ...late];
    const redlock = redlockOver(nodes, clock);
    await expect(clock.runUntilSettled(redlock.tryAcquire('r', 10_000))).resolves.toBeUndefined();
    // Not one node timeout later: at once.
    expect(clock.now()).toBe(0);
    const error = await rejection(clock, redlock.acquire('r', 10_000, { retryCount: 0 }));
    expect(clock.now()).toBe(0);
    expect((error as LockAcquireError).message).toBe(
      'Could not acquire "r" after 1 attempt: held by another owner (last attempt: 3 held by another owner, 2 not answered yet, quorum is 3)',
    );
    const silent = (error as LockAcquireError).attempts[0]!.nodes[3]!;
    expect(silent).toMatchObject({ status: 'timeout', error: { isTimeout: false, message: expect.stringMatching(/^Node 3 had not answered when the attempt's failure was settled, after 0 ms$/) } });
    // The hung nodes set our keys when they answer at last: removed then, and close() waits for that.
    for (const node of late) node.resume();
    await clock.runUntilSettled(redlock.close());
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('sends no release to nodes still silent when it ended that then refuse, and removes what a late one granted, before close() resolves', async () => {
    const clock = new FakeClock();
    const slow = [slowNode(clock, 20), slowNode(clock, 20)];
    for (const node of slow.slice(0, 1)) node.keyspace.set('r', 'another owner', 60_000);
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock), ...slow];
    // Node 4 has lost the script: its EVALSHA is answered NOSCRIPT and the script sent again by EVAL, after the try ended.
    slow[1]!.keyspace.scripts.clear();
    const redlock = redlockOver(nodes, clock);
    await expect(clock.runUntilSettled(redlock.tryAcquire(['r', 's'], 10_000))).resolves.toBeUndefined();
    expect(clock.now()).toBe(0);
    await clock.runUntilSettled(redlock.close());
    // Node 3 refused: nothing to release there. Node 4 granted late: released after its grant, not before.
    expect(slow[0]!.callsTo('release')).toEqual([]);
    expect(slow[1]!.callsTo('release')).toHaveLength(1);
    expect(nodes.flatMap(keysOf)).toEqual(['r']);
    expect(slow[0]!.keyspace.get('r')).toBe('another owner');
  });

  it('waits for silent nodes while they could still change why it failed: held, or nodes unreachable', async () => {
    const clock = new FakeClock();
    const slow = [slowNode(clock, 300), slowNode(clock, 300)];
    for (const node of slow) node.keyspace.set('r', 'another owner', 60_000);
    const nodes = [refusingNode(clock), refusingNode(clock), failingNode(clock), ...slow];
    const redlock = redlockOver(nodes, clock);
    // A first contact takes a lock by the script (see misconfigured-nodes.test.ts): met first, the nodes get a SET.
    await clock.runUntilSettled(redlock.inspect('first-contact'));
    const start = clock.now();
    // 2 held and 1 failed already deny a quorum, but held by another owner or not takes the slow nodes' answers.
    await expect(clock.runUntilSettled(redlock.tryAcquire('r', 10_000))).resolves.toBeUndefined();
    // Two round trips: a SET refused is asked why by the script (held, or a foreign key).
    expect(clock.now() - start).toBe(600);
  });

  it('counts a lock this Redlock holds as held by another owner, and never queues behind it', async () => {
    const clock = new FakeClock();
    const redlock = redlockOver(grantingNodes(clock, 3), clock);
    const held = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    await expect(clock.runUntilSettled(redlock.tryAcquire('r', 10_000))).resolves.toBeUndefined();
    await held.release();
    const lock = await clock.runUntilSettled(redlock.tryAcquire('r', 10_000));
    expect(lock?.state).toBe('held');
  });

  it('hands out a fencing token with fencing: true', async () => {
    const clock = new FakeClock();
    const redlock = redlockOver(grantingNodes(clock, 3), clock);
    const first = await clock.runUntilSettled(redlock.tryAcquire('r', 10_000, { fencing: true }));
    await first?.release();
    const second = await clock.runUntilSettled(redlock.tryAcquire('r', 10_000, { fencing: true }));
    expect(first?.fencingToken).toBe(1);
    expect(second?.fencingToken).toBe(2);
  });

  it('re-enters a lock its owner holds, calling no node', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = redlockOver(nodes, clock);
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    const callsBefore = nodes[0]!.calls.length;
    const again = await clock.runUntilSettled(redlock.tryAcquire('r', 5_000, { reentrant: lock }));
    expect(again?.token).toBe(lock.token);
    expect(again?.attempts).toBe(0);
    expect(nodes[0]!.calls.length).toBe(callsBefore);
  });

  it('rejects with signal.reason when the signal is already aborted, sending nothing', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const reason = new Error('not needed');
    await expect(redlockOver(nodes, clock).tryAcquire('r', 10_000, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('rejects with signal.reason when aborted during the attempt, and leaves no key behind', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), slowNode(clock, 40), slowNode(clock, 40)];
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const trying = redlockOver(nodes, clock).tryAcquire('r', 10_000, { signal: controller.signal });
    trying.catch(() => undefined);
    await clock.advance(10);
    controller.abort(reason);
    await expect(clock.runUntilSettled(trying)).rejects.toBe(reason);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });
});

describe('bad arguments to tryAcquire()', () => {
  it.each(['retryCount', 'retryDelayMs', 'retryJitterMs', 'waitMs'])(
    'refuses %s with a TypeError, since it makes exactly one attempt, before any node is called',
    async (name) => {
      const clock = new FakeClock();
      const nodes = grantingNodes(clock, 3);
      const trying = redlockOver(nodes, clock).tryAcquire('r', 10_000, loose<TryAcquireOptions>({ [name]: 1 }));
      await expect(trying).rejects.toThrow(TypeError);
      await expect(redlockOver(nodes, clock).tryAcquire('r', 10_000, loose<TryAcquireOptions>({ [name]: 1 }))).rejects.toThrow(
        `Unknown option \`${name}\` in the options of \`tryAcquire()\`: it makes exactly one attempt, without retrying or waiting; use \`acquire()\` to wait for the lock`,
      );
      expect(nodes.flatMap((node) => node.calls)).toEqual([]);
    },
  );

  it.each([
    [{ maxHoldMs: 1000 }, TypeError, 'Expected `autoExtend: true` with `maxHoldMs`, which limits automatic extension, got `autoExtend: false`'],
    [{ keyPrefix: 'x' }, TypeError, 'Unknown option `keyPrefix` in the options of `tryAcquire()`: `keyPrefix` is an option of the `Redlock` constructor'],
    [{ signal: 'soon' }, TypeError, 'Expected `signal` to be an AbortSignal, got `"soon"`'],
    [{ fencing: 1 }, TypeError, 'Expected `fencing` to be a boolean, got `1`'],
    [{ reentrant: {} }, TypeError, 'Expected `reentrant` to be a Lock handed out by `acquire()` or `using()`, got `object`'],
    [null, TypeError, 'Expected `options` to be an object, got `null`'],
  ])('refuses options %p', async (options, type, message) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const trying = redlockOver(nodes, clock).tryAcquire('r', 10_000, loose<TryAcquireOptions>(options));
    const error = await trying.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toBe(message);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('refuses bad resources and TTLs like acquire()', async () => {
    const clock = new FakeClock();
    const redlock = redlockOver(grantingNodes(clock, 3), clock);
    await expect(redlock.tryAcquire(loose<string>(42), 10_000)).rejects.toThrow(TypeError);
    await expect(redlock.tryAcquire([], 10_000)).rejects.toThrow(RangeError);
    await expect(redlock.tryAcquire('r', 0)).rejects.toThrow(RangeError);
    await expect(redlock.tryAcquire('r', loose<number>('1000'))).rejects.toThrow(TypeError);
  });
});
