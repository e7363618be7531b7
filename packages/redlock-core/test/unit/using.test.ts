import { describe, expect, it, jest } from '@jest/globals';
import { Lock, LockAcquireError, LockExtendError, LockLostError, LockReleaseError, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes, keysOf, refusingNode } from '../../src/testing/fake-nodes.js';

/** Waits `ms` on the fake clock: the routine's "work". */
function work(clock: FakeClock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** Resolves when `signal` aborts, with the virtual time it aborted at. */
function abortedAt(clock: FakeClock, signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(clock.now()), { once: true }));
}

function setup(nodeCount = 5): { clock: FakeClock; nodes: FakeNode[]; redlock: Redlock } {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, nodeCount);
  return { clock, nodes, redlock: new Redlock(nodes, { clock, retryCount: 0 }) };
}

describe('redlock.using()', () => {
  it("resolves with the routine's value, hands it the held lock, and releases at the end", async () => {
    const { clock, nodes, redlock } = setup();
    let seen: { lock: Lock; state: string; aborted: boolean } | undefined;
    const result = await clock.runUntilSettled(
      redlock.using('job', 1000, async (signal, lock) => {
        seen = { lock, state: lock.state, aborted: signal.aborted };
        await work(clock, 100);
        return 42;
      }),
    );
    expect(result).toBe(42);
    expect(seen).toMatchObject({ state: 'held', aborted: false });
    expect(seen?.lock).toBeInstanceOf(Lock);
    expect(seen?.lock.state).toBe('released');
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('accepts a synchronous routine', async () => {
    const { clock, redlock } = setup();
    await expect(clock.runUntilSettled(redlock.using('job', 1000, () => 'sync'))).resolves.toBe('sync');
  });

  it('rejects with the same error object the routine threw, after releasing', async () => {
    const { clock, nodes, redlock } = setup();
    const failure = new Error('routine failed');
    const using = redlock.using('job', 1000, async () => {
      await work(clock, 10);
      throw failure;
    });
    await expect(clock.runUntilSettled(using)).rejects.toBe(failure);
    expect(failure).not.toHaveProperty('releaseError');
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('rejects with the same error from a routine that throws synchronously', async () => {
    const { clock, nodes, redlock } = setup();
    const failure = new Error('sync failure');
    await expect(
      clock.runUntilSettled(
        redlock.using('job', 1000, () => {
          throw failure;
        }),
      ),
    ).rejects.toBe(failure);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it("attaches the LockReleaseError as releaseError when the release fails after the routine threw", async () => {
    const { clock, nodes, redlock } = setup();
    const failure = new Error('routine failed');
    const using = redlock.using('job', 1000, async () => {
      for (const node of nodes.slice(0, 3)) node.isDown = true;
      throw failure;
    });
    const error = await clock.runUntilSettled(using).catch((rejection: unknown) => rejection);
    expect(error).toBe(failure);
    expect((error as { releaseError?: unknown }).releaseError).toBeInstanceOf(LockReleaseError);
    // The failed releases are sent again in the background until the keys would have expired, no longer.
    await clock.advance(1000);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('rejects with a thrown primitive or frozen error unchanged when the release fails too, and warns with the LockReleaseError', async () => {
    const { clock, nodes, redlock } = setup();
    const warnings: unknown[] = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((warning: unknown) => void warnings.push(warning));
    const frozen = Object.freeze(new Error('frozen'));
    for (const [index, thrown] of ['a string', frozen].entries()) {
      const using = redlock.using(`job:${index}`, 1000, () => {
        for (const node of nodes.slice(0, 3)) node.isDown = true;
        throw thrown;
      });
      await expect(clock.runUntilSettled(using)).rejects.toBe(thrown);
      for (const node of nodes) node.isDown = false;
    }
    expect(frozen).not.toHaveProperty('releaseError');
    expect(warnings).toHaveLength(2);
    expect(warnings.every((warning) => warning instanceof LockReleaseError)).toBe(true);
    jest.restoreAllMocks();
  });

  it('resolves with the value when only the final release fails, and reports the LockReleaseError as a process warning', async () => {
    const { clock, nodes, redlock } = setup();
    const warnings: unknown[] = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((warning: unknown) => void warnings.push(warning));
    const using = redlock.using('job', 1000, () => {
      for (const node of nodes.slice(0, 3)) node.isDown = true;
      return 'done';
    });
    await expect(clock.runUntilSettled(using)).resolves.toBe('done');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBeInstanceOf(LockReleaseError);
    expect((warnings[0] as LockReleaseError).resources).toEqual(['job']);
    jest.restoreAllMocks();
  });

  it('rejects with LockAcquireError and never runs the routine when the lock is taken', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), ...grantingNodes(clock, 1)];
    let hasRun = false;
    const using = new Redlock(nodes, { clock, retryCount: 0 }).using('job', 1000, () => {
      hasRun = true;
    });
    await expect(clock.runUntilSettled(using)).rejects.toBeInstanceOf(LockAcquireError);
    expect(hasRun).toBe(false);
  });
});

describe('automatic extension in using()', () => {
  it('keeps the lock held over several TTLs while the routine runs', async () => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, async (signal, lock) => {
      const checks: string[] = [];
      for (let elapsed = 0; elapsed < 5000; elapsed += 250) {
        await work(clock, 250);
        checks.push(`${lock.state}:${nodes.filter((node) => node.keyspace.get('job') === lock.token).length}`);
      }
      return { checks, aborted: signal.aborted };
    });
    const { checks, aborted } = await clock.runUntilSettled(using);
    expect(aborted).toBe(false);
    expect(new Set(checks)).toEqual(new Set(['held:5']));
    // Validity 988 ms; each extension starts with half the TTL (500 ms) of validity left: every 488 ms.
    expect(nodes[0]!.callsTo('extend').map((call) => call.sentAtMs)).toEqual([488, 976, 1464, 1952, 2440, 2928, 3416, 3904, 4392, 4880]);
    expect(nodes[0]!.callsTo('extend')[0]?.args[1]).toBe('1000');
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('aborts the signal with LockLostError at the first extension that finds a quorum lost', async () => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, async (signal) => {
      await work(clock, 100);
      for (const node of nodes.slice(0, 3)) node.keyspace.set('job', 'someone');
      const at = await abortedAt(clock, signal);
      return { at, reason: signal.reason as unknown };
    });
    const rejection = await clock.runUntilSettled(using).catch((error: unknown) => error);
    expect(rejection).toBeInstanceOf(LockLostError);
    const { at, reason } = (rejection as LockLostError).result as { at: number; reason: unknown };
    expect((rejection as LockLostError).cause).toBe(reason);
    expect(at).toBe(488);
    expect(reason).toBeInstanceOf(LockLostError);
    const lost = reason as LockLostError;
    expect(lost.message).toBe('Lost the lock on "job": a quorum of nodes no longer holds our token');
    expect(lost.resources).toEqual(['job']);
    expect(lost.cause).toBeInstanceOf(LockExtendError);
    expect((lost.cause as LockExtendError).isLost).toBe(true);
    expect(nodes[0]!.callsTo('extend')).toHaveLength(1);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('rejects with the LockLostError when the routine stops with signal.throwIfAborted(), and still releases', async () => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, async (signal) => {
      await work(clock, 100);
      nodes[0]!.keyspace.delete('job');
      nodes[1]!.keyspace.delete('job');
      nodes[2]!.keyspace.delete('job');
      await abortedAt(clock, signal);
      signal.throwIfAborted();
    });
    await expect(clock.runUntilSettled(using)).rejects.toBeInstanceOf(LockLostError);
    expect(nodes.map((node) => node.callsTo('release').length)).toEqual([1, 1, 1, 1, 1]);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('retries failed extensions and aborts with LockLostError when validity runs out', async () => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, async (signal, lock) => {
      await work(clock, 100);
      for (const node of nodes.slice(0, 3)) node.isDown = true;
      const at = await abortedAt(clock, signal);
      return { at, reason: signal.reason as unknown, state: lock.state };
    });
    const rejection = await clock.runUntilSettled(using).catch((error: unknown) => error);
    expect(rejection).toBeInstanceOf(LockLostError);
    const { at, reason, state } = (rejection as LockLostError).result as { at: number; reason: unknown; state: string };
    expect(at).toBe(988);
    expect(state).toBe('expired');
    expect(reason).toBeInstanceOf(LockLostError);
    expect((reason as LockLostError).message).toBe('Lost the lock on "job": its validity ran out before it could be extended');
    const retries = nodes[4]!.callsTo('extend').map((call) => call.sentAtMs);
    expect(retries[0]).toBe(488);
    expect(retries.length).toBeGreaterThan(3);
    expect(retries.every((sentAt) => sentAt < 988)).toBe(true);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('aborts at the end of validity even while an extension to hung nodes is in flight', async () => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, async (signal) => {
      for (const node of nodes.slice(0, 3)) node.hang();
      return abortedAt(clock, signal);
    });
    const rejection = await clock.runUntilSettled(using).catch((error: unknown) => error);
    expect((rejection as LockLostError).result).toBe(988);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it("aborts the routine's signal with the caller's reason when the caller's signal aborts", async () => {
    const { clock, redlock } = setup();
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    clock.setTimeout(() => controller.abort(reason), 300);
    const using = redlock.using(
      'job',
      1000,
      async (signal) => {
        await abortedAt(clock, signal);
        signal.throwIfAborted();
      },
      { signal: controller.signal },
    );
    await expect(clock.runUntilSettled(using)).rejects.toBe(reason);
    expect(clock.now()).toBe(300);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('stops extending quietly when the routine releases the lock itself', async () => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, async (signal, lock) => {
      await work(clock, 100);
      await lock.release();
      await work(clock, 3000);
      return signal.aborted;
    });
    expect(await clock.runUntilSettled(using)).toBe(false);
    expect(nodes.flatMap((node) => node.callsTo('extend'))).toEqual([]);
    expect(nodes[0]!.callsTo('release')).toHaveLength(1);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('stops extending once the routine is done, even with an extension in flight', async () => {
    const { clock, nodes, redlock } = setup();
    for (const node of nodes) node.latencyMs = 20;
    const using = redlock.using('job', 1000, () => work(clock, 480 + 10));
    await clock.runUntilSettled(using);
    const extendCalls = nodes[0]!.callsTo('extend').length;
    await clock.advance(5000);
    expect(nodes[0]!.callsTo('extend')).toHaveLength(extendCalls);
    expect(clock.pendingTimerCount).toBe(0);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });
});

describe('automatic extension with little validity per TTL', () => {
  it.each([
    ['driftFactor 0.5', { driftFactor: 0.5 }, 1000, 498],
    // A TTL of a few ms is no longer a case: acquire() refuses a TTL that leaves less validity than one
    // node timeout, and from 53 ms up half the TTL is left before the quarter of the validity would be.
  ])('does not extend back to back with %s, but after a quarter of the validity', async (_, options, ttlMs, validityMs) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0, ...options });
    const using = redlock.using('job', ttlMs, async (signal) => {
      await work(clock, ttlMs * 10);
      return signal.aborted;
    });
    expect(await clock.runUntilSettled(using)).toBe(false);
    const sentAt = nodes[0]!.callsTo('extend').map((call) => call.sentAtMs);
    expect(sentAt.length).toBeGreaterThan(1);
    for (const [index, at] of sentAt.entries()) expect(at - (sentAt[index - 1] ?? 0)).toBeCloseTo(validityMs / 4);
  });
});

describe('automatic extension after the event loop stalled', () => {
  it('reports the validity that ran out, not a lost quorum, when the lock expired during the stall', async () => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, async (signal) => {
      await work(clock, 100);
      clock.stall(2000);
      await abortedAt(clock, signal);
      return signal.reason as LockLostError;
    });
    const rejection = await clock.runUntilSettled(using).catch((error: unknown) => error);
    const reason = (rejection as LockLostError).result as LockLostError;
    expect(reason).toBeInstanceOf(LockLostError);
    expect(reason.message).toBe('Lost the lock on "job": its validity ran out before it could be extended');
    expect(nodes.flatMap((node) => node.callsTo('extend'))).toEqual([]);
  });

  it('extends at once when the stall ended before validity ran out', async () => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, async (signal, lock) => {
      await work(clock, 100);
      clock.stall(800);
      await work(clock, 10);
      return { aborted: signal.aborted, state: lock.state };
    });
    expect(await clock.runUntilSettled(using)).toEqual({ aborted: false, state: 'held' });
    expect(nodes[0]!.callsTo('extend').map((call) => call.sentAtMs)).toEqual([900]);
  });
});

describe("using()'s signal follows the hold's validity, wherever it was set", () => {
  it('aborts when a shared re-entrant hold runs out, which the outer handle had cut back', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const outer = await clock.runUntilSettled(redlock.acquire('r', 1000, { autoExtend: true }));
    let abortedAt: number | undefined;
    let expiredAt: number | undefined;
    const inner = redlock.using(
      'r',
      10_000,
      async (signal, lock) => {
        signal.addEventListener('abort', () => (abortedAt = clock.now()));
        lock.signal.addEventListener('abort', () => (expiredAt = clock.now()));
        await work(clock, 600);
        // The outer handle lets go; its autoExtend had set the shared hold to its own 1 s. The inner
        // routine's extensions, scheduled from that earlier end, all fail: the hold runs out there.
        await outer.release();
        for (const node of nodes) node.errorReply = new Error('ERR injected');
        await work(clock, 8000);
      },
      { reentrant: outer },
    );
    await clock.runUntilSettled(inner.catch(() => undefined));
    expect(expiredAt).toBeDefined();
    expect(abortedAt).toBe(expiredAt);
  });

  it("aborts when the routine's own lock.extend() shortened the validity, and it ran out", async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    let seen: unknown;
    const done = redlock.using('r', 1000, async (signal, lock) => {
      await lock.extend(200);
      // The automatic extensions, scheduled from the earlier end, all fail: the lock runs out there.
      for (const node of nodes) node.errorReply = new Error('ERR injected');
      await work(clock, 300);
      seen = { lockState: lock.state, lockSignal: lock.signal.aborted, routineSignal: signal.aborted };
    });
    await clock.runUntilSettled(done.catch(() => undefined));
    expect(seen).toEqual({ lockState: 'expired', lockSignal: true, routineSignal: true });
  });

  it("reports no loss while the routine's own lock.extend() keeps the lock valid", async () => {
    const warnings: unknown[] = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((warning: unknown) => void warnings.push(warning));
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    let lostWhileValid: number | undefined;
    const done = redlock.using('r', 1000, async (signal, lock) => {
      signal.addEventListener('abort', () => {
        if (lock.remainingValidityMs > 0) lostWhileValid = lock.remainingValidityMs;
      });
      await lock.extend(10_000);
      // Every later automatic extension fails: the validity the routine won must still hold.
      for (const node of nodes) node.errorReply = new Error('ERR injected');
      await work(clock, 1200);
    });
    await expect(clock.runUntilSettled(done)).resolves.toBeUndefined();
    expect(lostWhileValid).toBeUndefined();
    // The nodes still fail at the end, so the release does too: with the routine's value returned, that
    // is reported as a process warning.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBeInstanceOf(LockReleaseError);
    expect(warnings[0]).toMatchObject({ message: 'Could not confirm the release of "r": 3 failed, quorum is 2', resources: ['r'] });
    jest.restoreAllMocks();
  });
});
