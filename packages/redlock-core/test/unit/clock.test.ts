import { describe, expect, it } from '@jest/globals';
import { driftMs, SYSTEM_CLOCK, unrefTimer, validityMs } from '../../src/base/clock.js';
import { FakeClock } from '../support/fake-clock.js';

describe('driftMs', () => {
  it.each([
    [10_000, 0.01, 102],
    [1000, 0.01, 12],
    [100, 0.01, 3],
    [3, 0.01, 2],
    [1000, 0, 2],
    [1000, 0.5, 502],
    [150, 0.01, 4], // 1.5 rounds up
  ])('allows round(%i × %f) + 2 ms for a TTL of %i ms', (ttlMs, driftFactor, expected) => {
    expect(driftMs(ttlMs, driftFactor)).toBe(expected);
  });
});

describe('validityMs', () => {
  it('subtracts the elapsed time and the drift from the TTL', () => {
    expect(validityMs({ ttlMs: 10_000, elapsedMs: 0, driftFactor: 0.01 })).toBe(9898);
    expect(validityMs({ ttlMs: 10_000, elapsedMs: 250, driftFactor: 0.01 })).toBe(9648);
    expect(validityMs({ ttlMs: 1000, elapsedMs: 0, driftFactor: 0 })).toBe(998);
  });

  it('is zero or less once elapsed time and drift use up the TTL', () => {
    expect(validityMs({ ttlMs: 1000, elapsedMs: 988, driftFactor: 0.01 })).toBe(0);
    expect(validityMs({ ttlMs: 1000, elapsedMs: 1500, driftFactor: 0.01 })).toBe(-512);
    expect(validityMs({ ttlMs: 2, elapsedMs: 0, driftFactor: 0.01 })).toBe(0);
  });
});

describe('unrefTimer', () => {
  it('unrefs a Node.js timer and ignores handles without unref', () => {
    const handle = setTimeout(() => undefined, 1000);
    expect(handle.hasRef()).toBe(true);
    unrefTimer(handle);
    expect(handle.hasRef()).toBe(false);
    clearTimeout(handle);
    expect(() => unrefTimer(42)).not.toThrow();
    expect(() => unrefTimer(undefined)).not.toThrow();
  });
});

describe('SYSTEM_CLOCK', () => {
  it('reads monotonic time from performance.now() and wall time from Date.now()', () => {
    const before = performance.now();
    const now = SYSTEM_CLOCK.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(performance.now());
    const wallBefore = Date.now();
    expect(SYSTEM_CLOCK.wallNow()).toBeGreaterThanOrEqual(wallBefore);
  });

  it('schedules and cancels with Node timers, also when its methods are called unbound', () => {
    const { setTimeout: schedule, clearTimeout: cancel } = SYSTEM_CLOCK;
    let hasRun = false;
    const handle = schedule(() => {
      hasRun = true;
    }, 10_000);
    cancel(handle);
    expect(hasRun).toBe(false);
  });
});

describe('FakeClock', () => {
  it('runs due timers in order of due time, then of creation', async () => {
    const clock = new FakeClock();
    const order: string[] = [];
    clock.setTimeout(() => order.push('b@20'), 20);
    clock.setTimeout(() => order.push('a@10'), 10);
    clock.setTimeout(() => order.push('c@20'), 20);
    await clock.advance(20);
    expect(order).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.now()).toBe(20);
  });

  it('moves the wall clock without moving monotonic time', () => {
    const clock = new FakeClock(1000);
    clock.jumpWallClock(-500);
    expect(clock.wallNow()).toBe(500);
    expect(clock.now()).toBe(0);
  });

  it('fails runUntilSettled with "never settles" when no timer can settle the promise', async () => {
    const clock = new FakeClock();
    await expect(clock.runUntilSettled(new Promise(() => undefined))).rejects.toThrow('never settles');
  });
});
