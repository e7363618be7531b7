import { describe, expect, it } from '@jest/globals';
import { type AcquireOptions, Lock, LockAcquireError, Redlock, type RedlockOptions } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { failingNode, grantingNodes, keysOf, refusingNode, slowNode } from '../../src/testing/fake-nodes.js';
import type { FakeNode } from '../../src/testing/fake-adapter.js';

/** Runs the clock until `acquiring` settles and returns its LockAcquireError (fails on anything else). */
async function acquireError(clock: FakeClock, acquiring: Promise<unknown>, quickly = false): Promise<LockAcquireError> {
  const settled = quickly ? clock.runQuicklyUntilSettled(acquiring) : clock.runUntilSettled(acquiring);
  const error = await settled.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  if (!(error instanceof LockAcquireError)) throw new Error(`Expected a LockAcquireError, got ${String(error)}`);
  return error;
}

/** Bypasses the option types, to pass what a JavaScript caller could. */
function loose<T>(value: unknown): T {
  return value as T;
}

describe('waitMs', () => {
  it('rejects with LockAcquireError when waitMs runs out during the pause between attempts', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: Infinity, retryDelayMs: 1000, retryJitterMs: 0 });
    const error = await acquireError(clock, redlock.acquire('r', 10_000, { waitMs: 2_500 }));
    // Attempts at 0, 1000 and 2000 ms; the wait ends at 2500 ms, in the middle of the next pause.
    expect(clock.now()).toBe(2_500);
    expect(error).not.toBeInstanceOf(DOMException);
    expect(error.reason).toBe('held-by-another-owner');
    expect(error.waitMs).toBe(2_500);
    expect(error.attemptCount).toBe(3);
    expect(error.omittedAttemptCount).toBe(0);
    expect(error.attempts).toHaveLength(3);
    expect(error.message).toBe(
      'Could not acquire "r" within `waitMs` (2500 ms), after 3 attempts: held by another owner (last attempt: 3 held by another owner, quorum is 2)',
    );
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('cuts off an attempt under way when waitMs runs out, removes its keys, and reports the silent nodes as timed out', async () => {
    const clock = new FakeClock();
    // The slow nodes set the key at once but answer after 40 ms; the wait ends at 20 ms, before the vote.
    const slow = [slowNode(clock, 40), slowNode(clock, 40), slowNode(clock, 40)];
    const nodes = [refusingNode(clock), refusingNode(clock), ...slow];
    const redlock = new Redlock(nodes, { clock, retryCount: 5 });
    const error = await acquireError(clock, redlock.acquire('r', 10_000, { waitMs: 20 }));
    expect(error.waitMs).toBe(20);
    expect(error.attemptCount).toBe(1);
    expect(error.attempts[0]?.nodes.map((node) => node.status)).toEqual(['held', 'held', 'timeout', 'timeout', 'timeout']);
    expect(error.attempts[0]?.elapsedMs).toBe(20);
    // 2 refusals cannot deny a quorum of 3: the nodes that had not answered made the difference.
    expect(error.reason).toBe('nodes-unreachable');
    expect(error.nodeErrors.map((nodeError) => nodeError.message)).toEqual([
      'Node 2 had not answered when the wait ended, after 20 ms',
      'Node 3 had not answered when the wait ended, after 20 ms',
      'Node 4 had not answered when the wait ended, after 20 ms',
    ]);
    // It rejects once the keys the slow nodes set are removed: their answer (40 ms), then the release (40 ms).
    expect(clock.now()).toBe(80);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(slow[0]!.acquireRequests()).toHaveLength(1);
  });

  it('reports the lock as held when waitMs cuts off an attempt whose answers so far cannot decide, after attempts that found it held', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0 });
    const acquiring = redlock.acquire('r', 10_000, { waitMs: 550 });
    acquiring.catch(() => undefined);
    // Attempts at 0..400 ms find every node held; from 450 ms three nodes answer slower than the wait.
    await clock.advance(450);
    for (const node of nodes.slice(2)) node.latencyMs = 200;
    const error = await acquireError(clock, acquiring);
    expect(error.attemptCount).toBe(6);
    const last = error.attempts.at(-1);
    expect(last?.isCutOff).toBe(true);
    expect(last?.nodes.map((node) => node.status)).toEqual(['held', 'held', 'timeout', 'timeout', 'timeout']);
    expect(error.attempts.slice(0, -1).every((attempt) => attempt.isCutOff === undefined)).toBe(true);
    // The cut-off attempt's 2 refusals decide nothing; the attempt before it, every node held, does.
    expect(error.reason).toBe('held-by-another-owner');
    expect(error.message).toBe(
      'Could not acquire "r" within `waitMs` (550 ms), after 6 attempts: held by another owner (last attempt, cut off by the wait: 3 timed out, 2 held by another owner, quorum is 3)',
    );
  });

  it('bounds a single try (retryCount: 0) too', async () => {
    const clock = new FakeClock();
    const nodes = [slowNode(clock, 40), slowNode(clock, 40), slowNode(clock, 40)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const error = await acquireError(clock, redlock.acquire('r', 10_000, { waitMs: 10 }));
    expect(error.waitMs).toBe(10);
    expect(error.reason).toBe('nodes-unreachable');
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('keeps a lock acquired before waitMs runs out, and clears its timer', async () => {
    const clock = new FakeClock();
    const redlock = new Redlock(grantingNodes(clock, 3), { clock });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000, { waitMs: 5_000 }));
    expect(lock.state).toBe('held');
    expect(clock.pendingTimerCount).toBe(0);
  });

  it("rejects with the caller's reason when its signal aborts before waitMs runs out", async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const redlock = new Redlock(nodes, { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0 });
    const acquiring = redlock.acquire('r', 10_000, { waitMs: 5_000, signal: controller.signal });
    acquiring.catch(() => undefined);
    await clock.advance(250);
    controller.abort(reason);
    await expect(clock.runUntilSettled(acquiring)).rejects.toBe(reason);
    expect(clock.now()).toBe(250);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it("takes the Redlock's waitMs as the default, and Infinity in one call lifts it", async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0, waitMs: 1_000 });
    const error = await acquireError(clock, redlock.acquire('r', 10_000));
    expect(error.waitMs).toBe(1_000);
    expect(clock.now()).toBe(1_000);
    const unbounded = redlock.acquire('r', 10_000, { waitMs: Infinity, retryCount: 30 });
    const retriesError = await acquireError(clock, unbounded);
    expect(retriesError.waitMs).toBeUndefined();
    expect(retriesError.attemptCount).toBe(31);
    expect(clock.now()).toBe(1_000 + 30 * 100);
  });

  it('retries until waitMs runs out when no retryCount is given, past the default 10 retries', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryDelayMs: 1_000, retryJitterMs: 0 });
    const error = await acquireError(clock, redlock.acquire('r', 10_000, { waitMs: 15_500 }));
    // Attempts at 0, 1000, …, 15000 ms: 16, where the default retryCount alone stops at 11.
    expect(error.waitMs).toBe(15_500);
    expect(error.attemptCount).toBe(16);
    expect(clock.now()).toBe(15_500);
    // The Redlock's own waitMs does the same.
    const waiting = new Redlock(nodes, { clock, retryDelayMs: 1_000, retryJitterMs: 0, waitMs: 15_500 });
    const byDefault = await acquireError(clock, waiting.acquire('r', 10_000));
    expect([byDefault.waitMs, byDefault.attemptCount]).toEqual([15_500, 16]);
    // A call that says nothing of how long to wait stops after the default 10 retries, and its message
    // says how to wait longer.
    const unbounded = await acquireError(clock, redlock.acquire('r', 10_000));
    expect([unbounded.waitMs, unbounded.attemptCount]).toEqual([undefined, 11]);
    expect(unbounded.message).toBe(
      'Could not acquire "r" after 11 attempts: held by another owner (last attempt: 3 held by another owner, quorum is 2); its 10 retries (the default) ran out: give `waitMs` to wait longer',
    );
  });

  it('ends at waitMs on the system clock when every attempt fails at once and retries have no pause', async () => {
    // Attempts that fail on microtasks alone once kept the loop from turning: the waitMs timer never fired.
    // After 20,000 node calls the guard aborts the call instead, so a regression fails rather than hangs.
    const guard = new AbortController();
    let callCount = 0;
    const counted = (node: FakeNode): FakeNode =>
      new Proxy(node, {
        get(target, property) {
          const value: unknown = Reflect.get(target, property);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (++callCount > 20_000) guard.abort(new Error('the retry loop never let the event loop turn'));
            return (value as (...rest: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    const redlock = new Redlock([refusingNode(), refusingNode(), refusingNode()].map(counted), { retryDelayMs: 0, retryJitterMs: 0 });
    const error = await redlock.acquire('r', 10_000, { waitMs: 50, signal: guard.signal }).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).waitMs).toBe(50);
    await redlock.close();
  });

  it('lets 1 ms pass before a timed retry with no pause, so a virtual clock reaches waitMs while every node is down', async () => {
    // On a clock that honours a 0 ms timer, attempts that failed at once (every node refusing connections)
    // retried without time passing: neither waitMs nor a node's probe came due. The guard ends a regression.
    const clock = new FakeClock();
    const guard = new AbortController();
    const nodes = [failingNode(clock), failingNode(clock), failingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryDelayMs: 0, retryJitterMs: 0 });
    const acquiring = redlock.acquire('r', 10_000, { retryCount: Infinity, waitMs: 50, signal: guard.signal }).catch((failure: unknown) => failure);
    const calls = (): number => nodes.reduce((sum, node) => sum + node.calls.length, 0);
    for (let step = 0; step < 200 && clock.now() < 60; step += 1) {
      if (calls() > 20_000) guard.abort(new Error('retried without time passing'));
      await clock.advance(1);
    }
    const error = await acquiring;
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).waitMs).toBe(50);
    await clock.runUntilSettled(redlock.close());
  });

  it('retries until it acquires with waitMs: Infinity on the call and no retryCount, past the Redlock\'s time limit', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryDelayMs: 100, retryJitterMs: 0, waitMs: 1_000 });
    const acquiring = redlock.acquire('r', 10_000, { waitMs: Infinity });
    await clock.advance(5_000);
    for (const node of nodes) node.keyspace.isHeldByAnotherOwner = false;
    const lock = await clock.runUntilSettled(acquiring);
    // Attempts every 100 ms for 5 s: some 50, where the default count stops at 11.
    expect(lock.attempts).toBeGreaterThan(40);
    await clock.runUntilSettled(lock.release());
  });

  it('stops at a retryCount given on the Redlock or the call, whichever of it and waitMs ends first', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const counted = new Redlock(nodes, { clock, retryCount: 3, retryDelayMs: 1_000, retryJitterMs: 0 });
    const byRedlock = await acquireError(clock, counted.acquire('r', 10_000, { waitMs: 15_500 }));
    expect([byRedlock.waitMs, byRedlock.attemptCount]).toEqual([undefined, 4]);
    const redlock = new Redlock(nodes, { clock, retryDelayMs: 1_000, retryJitterMs: 0, waitMs: 15_500 });
    const byCall = await acquireError(clock, redlock.acquire('r', 10_000, { retryCount: 3 }));
    expect([byCall.waitMs, byCall.attemptCount]).toEqual([undefined, 4]);
    // Retries the caller counted need no advice.
    expect(byCall.message).not.toContain('give `waitMs`');
  });

  it('bounds using() too: the routine never runs', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: Infinity });
    let hasRun = false;
    const error = await acquireError(
      clock,
      redlock.using('r', 10_000, () => {
        hasRun = true;
      }, { waitMs: 700 }),
    );
    expect(error.waitMs).toBe(700);
    expect(hasRun).toBe(false);
  });
});

describe('waitMs in the local wait queue', () => {
  it('ends the wait of a call queued behind the head, which keeps going', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0 });
    const head = new AbortController();
    const heading = redlock.acquire('r', 10_000, { signal: head.signal });
    heading.catch(() => undefined);
    const error = await acquireError(clock, redlock.acquire('r', 10_000, { waitMs: 450 }));
    expect(clock.now()).toBe(450);
    expect(error.waitMs).toBe(450);
    expect(error.reason).toBe('held-by-another-owner');
    // It reports the attempts the head made while it waited: at 0 (under way when it joined), 100, 200, 300 and 400 ms.
    expect(error.attemptCount).toBe(5);
    expect(error.message).toMatch(/^Could not acquire "r" within `waitMs` \(450 ms\), after 5 attempts: held by another owner/);
    // The head is still trying.
    const attemptsSoFar = nodes[0]!.acquireRequests().length;
    await clock.advance(300);
    expect(nodes[0]!.acquireRequests().length).toBe(attemptsSoFar + 3);
    head.abort(new Error('done'));
    await expect(clock.runUntilSettled(heading)).rejects.toThrow('done');
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('reports no attempt when the wait ends before any attempt failed, behind a head still making its first', async () => {
    const clock = new FakeClock();
    // The nodes answer after 30 ms (within their 50 ms timeout): the head acquires at 30 ms.
    const nodes = [slowNode(clock, 30), slowNode(clock, 30), slowNode(clock, 30)];
    const redlock = new Redlock(nodes, { clock, retryDelayMs: 1000, retryJitterMs: 0 });
    const heading = redlock.acquire('r', 10_000);
    const error = await acquireError(clock, redlock.acquire('r', 10_000, { waitMs: 10 }));
    expect(error.attemptCount).toBe(0);
    expect(error.attempts).toEqual([]);
    expect(error.reason).toBe('held-by-another-owner');
    expect(error.message).toBe(
      'Could not acquire "r" within `waitMs` (10 ms), after no attempt of its own: held by another owner (an earlier call of this Redlock on the same resources was ahead of it in the local queue)',
    );
    expect(clock.now()).toBe(10);
    const lock = await clock.runUntilSettled(heading);
    expect(lock.state).toBe('held');
  });

  it("passes a queued call's own signal reason through, and lets the next waiter go", async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0 });
    const head = new AbortController();
    const heading = redlock.acquire('r', 10_000, { signal: head.signal });
    heading.catch(() => undefined);
    const controller = new AbortController();
    const queued = redlock.acquire('r', 10_000, { waitMs: 10_000, signal: controller.signal });
    queued.catch(() => undefined);
    const behind = redlock.acquire('r', 10_000, { waitMs: 500 });
    behind.catch(() => undefined);
    await clock.advance(150);
    const reason = new Error('no longer needed');
    controller.abort(reason);
    await expect(clock.runUntilSettled(queued)).rejects.toBe(reason);
    const error = await acquireError(clock, behind);
    expect(clock.now()).toBe(500);
    expect(error.waitMs).toBe(500);
    head.abort(new Error('done'));
    await expect(clock.runUntilSettled(heading)).rejects.toThrow('done');
    expect(clock.pendingTimerCount).toBe(0);
  });
});

describe('retryCount: Infinity', () => {
  it('retries until the lock frees, however long that takes', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    // Another owner holds the lock for a minute on every node.
    for (const node of nodes) node.keyspace.set('r', 'another-owner', 60_000);
    const redlock = new Redlock(nodes, { clock, retryCount: Infinity, retryDelayMs: 1000, retryJitterMs: 0 });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    expect(lock).toBeInstanceOf(Lock);
    expect(clock.now()).toBe(60_000);
    expect(lock.attempts).toBe(61);
  });

  it('is accepted by the constructor and per call', async () => {
    const clock = new FakeClock();
    expect(() => new Redlock(grantingNodes(clock, 3), { clock, retryCount: Infinity })).not.toThrow();
    const redlock = new Redlock(grantingNodes(clock, 3), { clock });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000, { retryCount: Infinity }));
    expect(lock.state).toBe('held');
  });
});

describe('memory of a long wait', () => {
  it('keeps the first and the latest 10 of 10,000 failed attempts, and counts them all', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    // The first attempt differs: node 0 fails, so the test can tell it is the one kept.
    nodes[0]!.failNext('acquire', new Error('ERR first attempt'));
    const redlock = new Redlock(nodes, { clock, retryCount: 9_999, retryDelayMs: 1, retryJitterMs: 0 });
    const error = await acquireError(clock, redlock.acquire('r', 10_000), true);
    expect(error.attemptCount).toBe(10_000);
    expect(error.attempts).toHaveLength(11);
    expect(error.omittedAttemptCount).toBe(9_989);
    expect(error.attempts[0]?.nodes[0]?.status).toBe('error');
    expect(error.attempts.slice(1).every((attempt) => attempt.nodes.every((node) => node.status === 'held'))).toBe(true);
    expect(error.nodeErrors).toHaveLength(1);
    expect(error.message).toBe(
      'Could not acquire "r" after 10000 attempts (the error keeps the first and the latest 10): held by another owner (last attempt: 3 held by another owner, quorum is 2)',
    );
  });

  it('keeps as few for a call that waited in the local queue behind thousands of attempts', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: Infinity, retryDelayMs: 1, retryJitterMs: 0 });
    const head = new AbortController();
    const heading = redlock.acquire('r', 10_000, { signal: head.signal });
    heading.catch(() => undefined);
    const error = await acquireError(clock, redlock.acquire('r', 10_000, { waitMs: 5_000 }), true);
    expect(error.attemptCount).toBeGreaterThanOrEqual(4_999);
    expect(error.attempts).toHaveLength(11);
    head.abort(new Error('done'));
    await expect(clock.runQuicklyUntilSettled(heading)).rejects.toThrow('done');
  });
});

describe('bad waitMs and retryCount', () => {
  const cases: [string, unknown, ErrorConstructor, string][] = [
    ['0', 0, RangeError, 'Expected `waitMs` to be a positive integer up to 2147483647 or `Infinity`, got `0`: for a single attempt without waiting, use `tryAcquire()`'],
    ['a negative number', -5, RangeError, 'Expected `waitMs` to be a positive integer up to 2147483647 or `Infinity`, got `-5`'],
    ['a fraction', 1.5, RangeError, 'Expected `waitMs` to be a positive integer up to 2147483647 or `Infinity`, got `1.5`'],
    ['NaN', NaN, RangeError, 'Expected `waitMs` to be a positive integer up to 2147483647 or `Infinity`, got `NaN`'],
    ['beyond a timer', 2 ** 31, RangeError, 'Expected `waitMs` to be a positive integer up to 2147483647 or `Infinity`, got `2147483648`'],
    ['-Infinity', -Infinity, RangeError, 'Expected `waitMs` to be a positive integer up to 2147483647 or `Infinity`, got `-Infinity`'],
    ['a string', '100', TypeError, 'Expected `waitMs` to be a number, got `"100"`'],
  ];

  it.each(cases)('acquire() and using() reject a waitMs that is %s, before any node is called', async (_, waitMs, type, message) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock });
    const options = loose<AcquireOptions>({ waitMs });
    for (const call of [() => redlock.acquire('r', 10_000, options), () => redlock.using('r', 10_000, () => 1, options)]) {
      const error = await call().then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toBe(message);
    }
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it.each(cases)('the constructor throws for a waitMs that is %s', (_, waitMs, type, message) => {
    const clock = new FakeClock();
    const options = loose<RedlockOptions>({ clock, waitMs });
    expect(() => new Redlock(grantingNodes(clock, 3), options)).toThrow(type);
    expect(() => new Redlock(grantingNodes(clock, 3), options)).toThrow(message);
  });

  it.each([
    [-1, RangeError, 'Expected `retryCount` to be a non-negative integer or `Infinity`, got `-1`: to retry until the lock is acquired, `signal` aborts or `waitMs` runs out, write `Infinity`'],
    [-2, RangeError, 'Expected `retryCount` to be a non-negative integer or `Infinity`, got `-2`'],
    [-Infinity, RangeError, 'Expected `retryCount` to be a non-negative integer or `Infinity`, got `-Infinity`'],
    [NaN, RangeError, 'Expected `retryCount` to be a non-negative integer or `Infinity`, got `NaN`'],
    [2.5, RangeError, 'Expected `retryCount` to be a non-negative integer or `Infinity`, got `2.5`'],
    ['3', TypeError, 'Expected `retryCount` to be a number, got `"3"`'],
  ])('refuses retryCount %p in the constructor and per call', async (retryCount, type, message) => {
    const clock = new FakeClock();
    expect(() => new Redlock(grantingNodes(clock, 3), loose<RedlockOptions>({ clock, retryCount }))).toThrow(message);
    const redlock = new Redlock(grantingNodes(clock, 3), { clock });
    await expect(redlock.acquire('r', 10_000, loose<AcquireOptions>({ retryCount }))).rejects.toThrow(type);
    await expect(redlock.acquire('r', 10_000, loose<AcquireOptions>({ retryCount }))).rejects.toThrow(message);
  });
});
