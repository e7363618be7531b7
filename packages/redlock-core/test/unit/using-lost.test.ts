import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { LockLimitError, LockLostError, LockReleaseError, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes, keysOf } from '../../src/testing/fake-nodes.js';

function work(clock: FakeClock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

function setup(): { clock: FakeClock; nodes: FakeNode[]; redlock: Redlock } {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, 5);
  return { clock, nodes, redlock: new Redlock(nodes, { clock, retryCount: 0 }) };
}

/** Collects what `process.emitWarning` is given, instead of printing it. */
function captureWarnings(): unknown[] {
  const warnings: unknown[] = [];
  jest.spyOn(process, 'emitWarning').mockImplementation(((warning: unknown) => void warnings.push(warning)) as typeof process.emitWarning);
  return warnings;
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('using() never lets a lost lock pass silently', () => {
  it("rejects with LockLostError carrying the routine's result when an extension found the lock lost and the routine returned", async () => {
    const { clock, nodes, redlock } = setup();
    let reason: unknown;
    const using = redlock.using('job', 1000, async (signal) => {
      for (const node of nodes.slice(0, 3)) node.keyspace.set('job', 'someone', 60_000);
      await work(clock, 600);
      reason = signal.reason;
      return { rows: 12 };
    });
    const error = await clock.runUntilSettled(using).catch((rejection: unknown) => rejection);
    expect(error).toBeInstanceOf(LockLostError);
    const lost = error as LockLostError;
    expect(lost.message).toBe('Lost the lock on "job" while the routine ran; what it returned is in `result`');
    expect(lost.result).toEqual({ rows: 12 });
    expect(lost.resources).toEqual(['job']);
    expect(lost.cause).toBe(reason);
    expect(reason).toBeInstanceOf(LockLostError);
    // The other owner's keys stay; nothing of ours is left.
    expect(nodes.slice(0, 3).every((node) => node.keyspace.get('job') === 'someone')).toBe(true);
    expect(nodes.slice(3).flatMap(keysOf)).toEqual([]);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('rejects with LockLostError when the lock expired while the routine ran, before any timer could tell', async () => {
    const { clock, redlock } = setup();
    const using = redlock.using('job', 1000, (signal) => {
      clock.stall(5000);
      return signal.aborted;
    });
    const error = (await clock.runUntilSettled(using).catch((rejection: unknown) => rejection)) as LockLostError;
    expect(error).toBeInstanceOf(LockLostError);
    expect(error.result).toBe(false);
    expect((error.cause as Error).message).toBe('The lock on "job" is expired');
  });

  it('rejects with LockLostError when the lock expired after a limit stopped extension and the routine went on', async () => {
    const { clock, redlock } = setup();
    const using = redlock.using(
      'job',
      1000,
      async (signal) => {
        await work(clock, 1500);
        return signal.reason instanceof LockLimitError;
      },
      { maxExtensions: 0 },
    );
    const error = (await clock.runUntilSettled(using).catch((rejection: unknown) => rejection)) as LockLostError;
    expect(error).toBeInstanceOf(LockLostError);
    expect(error.result).toBe(true);
  });

  it('resolves when a limit stopped extension but the routine returned within the validity left', async () => {
    const { clock, redlock } = setup();
    const using = redlock.using(
      'job',
      1000,
      async (signal) => {
        await work(clock, 600);
        return signal.reason instanceof LockLimitError;
      },
      { maxHoldMs: 500 },
    );
    await expect(clock.runUntilSettled(using)).resolves.toBe(true);
  });

  it('resolves when the routine released the lock itself before returning', async () => {
    const { clock, redlock } = setup();
    const using = redlock.using('job', 1000, async (_, lock) => {
      await lock.release();
      await work(clock, 3000);
      return 'done';
    });
    await expect(clock.runUntilSettled(using)).resolves.toBe('done');
  });

  it('rejects with LockLostError when the routine released the lock itself only after it expired', async () => {
    const { clock, redlock } = setup();
    let stateAtRelease = '';
    const using = redlock.using('job', 1000, async (_, lock) => {
      // The event loop stalls past the TTL, so no timer tells before the routine lets go.
      clock.stall(1500);
      stateAtRelease = lock.state;
      await lock.release();
      return 'done';
    });
    const error = (await clock.runUntilSettled(using).catch((rejection: unknown) => rejection)) as LockLostError;
    expect(stateAtRelease).toBe('expired');
    expect(error).toBeInstanceOf(LockLostError);
    expect(error.result).toBe('done');
    expect((error.cause as Error).message).toBe('The lock on "job" was expired when it was released');
  });

  it('rejects with LockLostError when the routine released its re-entrant handle itself only after the lock expired', async () => {
    const { clock, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('job', 1000));
    const using = redlock.using(
      'job',
      1000,
      async (_, inner) => {
        clock.stall(1500);
        // Another handle (outer) still holds the lock: this one lets go alone, sending nothing.
        expect((await inner.release()).holders).toBe(1);
        return 'done';
      },
      { reentrant: outer },
    );
    const error = (await clock.runUntilSettled(using).catch((rejection: unknown) => rejection)) as LockLostError;
    expect(error).toBeInstanceOf(LockLostError);
    expect((error.cause as Error).message).toBe('The lock on "job" was expired when it was released');
    await clock.runUntilSettled(outer.release());
  });

  it('rejects with LockLostError when the routine released the lock itself after a limit stopped extension and it expired', async () => {
    const { clock, redlock } = setup();
    const using = redlock.using(
      'job',
      1000,
      async (_, lock) => {
        await work(clock, 1500);
        await lock.release();
        return 'done';
      },
      { maxExtensions: 0 },
    );
    const error = (await clock.runUntilSettled(using).catch((rejection: unknown) => rejection)) as LockLostError;
    expect(error).toBeInstanceOf(LockLostError);
    expect(error.result).toBe('done');
  });

  it('rejects with LockLostError when the routine released the lock itself after an extension found it lost', async () => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, async (signal, lock) => {
      for (const node of nodes.slice(0, 3)) node.keyspace.set('job', 'someone', 60_000);
      await work(clock, 600);
      await lock.release();
      return signal.reason instanceof LockLostError;
    });
    const error = (await clock.runUntilSettled(using).catch((rejection: unknown) => rejection)) as LockLostError;
    expect(error).toBeInstanceOf(LockLostError);
    expect(error.result).toBe(true);
  });

  it("does not take the caller's own LockLostError, passed through options.signal, for a loss of its lock", async () => {
    const { clock, redlock } = setup();
    const outer = new AbortController();
    const using = redlock.using(
      'inner',
      1000,
      async (signal) => {
        outer.abort(new LockLostError('Lost the lock on "outer": test', { resources: ['outer'] }));
        return signal.reason instanceof LockLostError;
      },
      { signal: outer.signal },
    );
    await expect(clock.runUntilSettled(using)).resolves.toBe(true);
  });

  it("rejects with the routine's own error when it threw, with the loss attached as lockLostError and a failed release as releaseError", async () => {
    const { clock, nodes, redlock } = setup();
    const failure = new Error('write failed');
    const using = redlock.using('job', 1000, async (signal) => {
      for (const node of nodes.slice(0, 3)) node.keyspace.delete('job');
      await work(clock, 600);
      expect(signal.reason).toBeInstanceOf(LockLostError);
      for (const node of nodes.slice(0, 3)) node.isDown = true;
      throw failure;
    });
    const error = await clock.runUntilSettled(using).catch((rejection: unknown) => rejection);
    expect(error).toBe(failure);
    const reported = error as Error & { lockLostError?: unknown; releaseError?: unknown };
    expect(reported.lockLostError).toBeInstanceOf(LockLostError);
    expect(reported.releaseError).toBeInstanceOf(LockReleaseError);
    expect(failure.cause).toBeUndefined();
    await clock.advance(1000);
  });

  it('attaches nothing to the LockLostError the routine rethrew from its signal', async () => {
    const { clock, nodes, redlock } = setup();
    let reason: unknown;
    const using = redlock.using('job', 1000, async (signal) => {
      for (const node of nodes.slice(0, 3)) node.keyspace.delete('job');
      await work(clock, 600);
      reason = signal.reason;
      signal.throwIfAborted();
    });
    const error = await clock.runUntilSettled(using).catch((rejection: unknown) => rejection);
    expect(error).toBe(reason);
    expect(error).not.toHaveProperty('lockLostError');
  });

  it('emits the loss as a process warning when the routine threw a primitive', async () => {
    const { clock, nodes, redlock } = setup();
    const warnings = captureWarnings();
    const using = redlock.using('job', 1000, async () => {
      for (const node of nodes.slice(0, 3)) node.keyspace.delete('job');
      await work(clock, 600);
      throw 'gave up';
    });
    await expect(clock.runUntilSettled(using)).rejects.toBe('gave up');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBeInstanceOf(LockLostError);
  });

  it('attaches a failed release to the LockLostError it rejects with', async () => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, async () => {
      for (const node of nodes.slice(0, 3)) node.keyspace.set('job', 'someone', 60_000);
      await work(clock, 600);
      for (const node of nodes) node.isDown = true;
      return 1;
    });
    const error = (await clock.runUntilSettled(using).catch((rejection: unknown) => rejection)) as LockLostError & { releaseError?: unknown };
    expect(error).toBeInstanceOf(LockLostError);
    expect(error.releaseError).toBeInstanceOf(LockReleaseError);
    await clock.advance(1000);
  });
});
