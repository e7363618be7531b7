import { describe, expect, it } from '@jest/globals';
import { type Lock, LockLimitError, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes, keysOf } from '../../src/testing/fake-nodes.js';

function setup(): { clock: FakeClock; nodes: FakeNode[]; redlock: Redlock } {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, 5);
  return { clock, nodes, redlock: new Redlock(nodes, { clock, retryCount: 0 }) };
}

/** A routine that runs until its signal aborts, and reports when, why, and the lock's state then. */
function untilAborted(clock: FakeClock) {
  return (signal: AbortSignal, lock: Lock) =>
    new Promise<{ atMs: number; reason: unknown; state: string; remainingMs: number }>((resolve) => {
      signal.addEventListener('abort', () =>
        resolve({ atMs: clock.now(), reason: signal.reason, state: lock.state, remainingMs: lock.remainingValidityMs }),
      );
    });
}

describe('using() limits', () => {
  it('stops after maxExtensions extensions and aborts the signal with a LockLimitError while the lock is still valid', async () => {
    const { clock, nodes, redlock } = setup();
    const result = await clock.runUntilSettled(redlock.using('job', 1000, untilAborted(clock), { maxExtensions: 2 }));
    expect(result.reason).toBeInstanceOf(LockLimitError);
    expect((result.reason as LockLimitError).limit).toBe('maxExtensions');
    expect((result.reason as LockLimitError).message).toBe(
      'Stopped extending the lock on "job": it was extended 2 times, the most `maxExtensions` allows',
    );
    expect(nodes[0]!.callsTo('extend')).toHaveLength(2);
    // Aborted at the third extension point, with about half the TTL of validity left to wrap up.
    expect(result.state).toBe('held');
    expect(result.remainingMs).toBeGreaterThan(400);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('never extends with maxExtensions 0', async () => {
    const { clock, nodes, redlock } = setup();
    const result = await clock.runUntilSettled(redlock.using('job', 1000, untilAborted(clock), { maxExtensions: 0 }));
    expect((result.reason as LockLimitError).limit).toBe('maxExtensions');
    expect(nodes[0]!.callsTo('extend')).toHaveLength(0);
    expect(result.atMs).toBeLessThan(1000);
  });

  it('stops at maxHoldMs after the acquisition and aborts the signal with a LockLimitError', async () => {
    const { clock, redlock } = setup();
    const result = await clock.runUntilSettled(redlock.using('job', 1000, untilAborted(clock), { maxHoldMs: 2500 }));
    expect(result.reason).toBeInstanceOf(LockLimitError);
    expect((result.reason as LockLimitError).limit).toBe('maxHoldMs');
    expect(result.atMs).toBe(2500);
    expect(result.state).toBe('held');
  });

  it.each([
    [{ maxExtensions: -1 }, RangeError, 'Expected `maxExtensions` to be a non-negative integer, got `-1`'],
    [{ maxExtensions: 1.5 }, RangeError, 'Expected `maxExtensions` to be a non-negative integer, got `1.5`'],
    [{ maxHoldMs: 0 }, RangeError, 'Expected `maxHoldMs` to be a positive integer up to 2147483647, got `0`'],
    [{ maxHoldMs: '10' }, TypeError, 'Expected `maxHoldMs` to be a number, got `"10"`'],
  ])('rejects %j before any node call', async (options, type, message) => {
    const { clock, nodes, redlock } = setup();
    const using = redlock.using('job', 1000, () => 'never', options as never);
    await expect(clock.runUntilSettled(using)).rejects.toThrow(new type(message));
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});
