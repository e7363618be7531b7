import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { MAX_TTL_MS } from 'redlock-core';
import { ExecutionError } from '../../src/index.js';
import { runWithExtension } from '../../src/using.js';

// using()'s schedule on a stand-in lock: what it extends and when, without nodes.
interface FakeLock {
  expiration: number;
  extend(duration: number): Promise<FakeLock>;
  release(): Promise<unknown>;
}

/** A lock valid until `expiration`, whose extensions resolve with a lock valid for their duration from then, or fail with `failure`. */
function fakeLock(expiration: number, counts: { extended: number; released: number }, failure?: Error): FakeLock {
  return {
    expiration,
    async extend(duration) {
      counts.extended += 1;
      if (failure !== undefined) throw failure;
      return fakeLock(Date.now() + duration, counts);
    },
    async release() {
      counts.released += 1;
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const notLost = new AbortController().signal;

describe('node-redlock compat: using() schedule', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('waits for an extension due in more than 2³¹−1 ms (node-redlock\'s timer fired at once), in timers Node can hold', async () => {
    const delays: number[] = [];
    const setTimer = globalThis.setTimeout;
    jest.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return setTimer(callback, ms);
    }) as typeof setTimeout);
    const counts = { extended: 0, released: 0 };
    const thirtyDaysMs = 30 * 24 * 3_600_000;
    const lock = fakeLock(Date.now() + thirtyDaysMs, counts);
    const value = await runWithExtension(lock, notLost, thirtyDaysMs, (held) => held.expiration - 500, sleep.bind(null, 0), async (signal) => {
      await sleep(50);
      return signal.aborted;
    });
    expect(value).toBe(false);
    expect(counts).toEqual({ extended: 0, released: 1 });
    expect(delays.every((ms) => ms <= MAX_TTL_MS)).toBe(true);
    expect(delays).toContain(MAX_TTL_MS);
  });

  it('aborts at once on an extension refused for a reason no retry can change, such as a duration out of range', async () => {
    const counts = { extended: 0, released: 0 };
    const refused = new RangeError('Expected `ttlMs` to be a positive integer up to 2147483647');
    const lock = fakeLock(Date.now() + 1_000, counts, refused);
    const aborted = await runWithExtension(lock, notLost, 1_000, (held) => held.expiration - 990, sleep.bind(null, 0), async (signal) => {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return signal.error;
    });
    expect(aborted).toBe(refused);
    expect(counts).toEqual({ extended: 1, released: 1 });
  });

  it('retries an extension that failed on the nodes while the lock is valid, as node-redlock', async () => {
    const counts = { extended: 0, released: 0 };
    const lock = fakeLock(Date.now() + 300, counts, new ExecutionError('The operation was unable to achieve a quorum during its retry window.', []));
    const aborted = await runWithExtension(lock, notLost, 300, (held) => held.expiration - 250, sleep.bind(null, 20), async (signal) => {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return signal.error;
    });
    expect(aborted).toBeInstanceOf(ExecutionError);
    expect(counts.extended).toBeGreaterThan(2);
  });
});
