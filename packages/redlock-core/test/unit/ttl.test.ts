import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Redlock, type RedlockOptions } from '../../src/index.js';
import type { FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes } from '../../src/testing/fake-nodes.js';
import { FakeClock } from '../support/fake-clock.js';

// A TTL that reads as seconds written as milliseconds (`using('job', 60, …)` meant a minute, and extended a
// 60 ms lock 37 times a second): under `shortTtlMs` (1 s by default), refused with a RangeError when it is
// kept extended, and taken with a process warning once per process when it is not; both before any node
// call. TTLs that leave less validity than a node timeout: validation.test.ts.

type Core = typeof import('../../src/index.js');
type FakeNodes = typeof import('../../src/testing/fake-nodes.js');

const loose = <T>(value: unknown): T => value as T;

afterEach(() => {
  jest.restoreAllMocks();
});

/** The calls every node was sent so far. */
const callCountOf = (nodes: readonly FakeNode[]): number => nodes.reduce((sum, node) => sum + node.calls.length, 0);

function setup(options: RedlockOptions = {}) {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, 3);
  const redlock = new Redlock(nodes, { clock, retryCount: 0, ...options });
  return { clock, nodes, redlock };
}

/** Collects the process warnings, each with how many node calls had been sent when it was emitted. */
function recordWarnings(nodes: readonly FakeNode[]): { readonly message: string; readonly options: unknown; readonly callsBefore: number }[] {
  const warnings: { message: string; options: unknown; callsBefore: number }[] = [];
  jest.spyOn(process, 'emitWarning').mockImplementation(((message: unknown, options: unknown) => {
    warnings.push({ message: String(message), options, callsBefore: callCountOf(nodes) });
  }) as typeof process.emitWarning);
  return warnings;
}

const keptExtendedError = (by: string, ttlMs = 60, shortTtlMs = 1000): string =>
  `Expected \`ttlMs\` to be at least ${shortTtlMs} ms (\`shortTtlMs\`) when ${by} keeps it extended, got \`${ttlMs}\` ms, which would extend it about every ${Math.round(ttlMs / 2)} ms: the unit is milliseconds: did you mean ${(ttlMs * 1000).toLocaleString('en-US').replaceAll(',', '_')} (${ttlMs} s)?`;

describe('a TTL under a second that is kept extended', () => {
  it.each<[string, (redlock: Redlock, ttlMs: number) => Promise<unknown>, string]>([
    ['redlock.using()', (redlock, ttlMs) => redlock.using('job', ttlMs, () => 'never'), '`using()`'],
    ['redlock.acquire() with autoExtend', (redlock, ttlMs) => redlock.acquire('job', ttlMs, { autoExtend: true }), '`autoExtend`'],
    ['redlock.tryAcquire() with autoExtend', (redlock, ttlMs) => redlock.tryAcquire('job', ttlMs, { autoExtend: true }), '`autoExtend`'],
    ["a semaphore's using()", (redlock, ttlMs) => redlock.semaphore('jobs', { limit: 2 }).using(ttlMs, () => 'never'), '`using()`'],
    ["a semaphore's acquire() with autoExtend", (redlock, ttlMs) => redlock.semaphore('jobs', { limit: 2 }).acquire(ttlMs, { autoExtend: true }), '`autoExtend`'],
    ["a semaphore's tryAcquire() with autoExtend", (redlock, ttlMs) => redlock.semaphore('jobs', { limit: 2 }).tryAcquire(ttlMs, { autoExtend: true }), '`autoExtend`'],
    ["a read-write lock's usingRead()", (redlock, ttlMs) => redlock.readWriteLock('catalog').usingRead(ttlMs, () => 'never'), '`usingRead()`'],
    ["a read-write lock's usingWrite()", (redlock, ttlMs) => redlock.readWriteLock('catalog').usingWrite(ttlMs, () => 'never'), '`usingWrite()`'],
    ["a read-write lock's acquireRead() with autoExtend", (redlock, ttlMs) => redlock.readWriteLock('catalog').acquireRead(ttlMs, { autoExtend: true }), '`autoExtend`'],
    ["a read-write lock's acquireWrite() with autoExtend", (redlock, ttlMs) => redlock.readWriteLock('catalog').acquireWrite(ttlMs, { autoExtend: true }), '`autoExtend`'],
    ["a read-write lock's tryAcquireRead() with autoExtend", (redlock, ttlMs) => redlock.readWriteLock('catalog').tryAcquireRead(ttlMs, { autoExtend: true }), '`autoExtend`'],
    ["a read-write lock's tryAcquireWrite() with autoExtend", (redlock, ttlMs) => redlock.readWriteLock('catalog').tryAcquireWrite(ttlMs, { autoExtend: true }), '`autoExtend`'],
  ])('%s rejects 60 (seconds) with a RangeError that gives it in milliseconds, before any node call', async (_, call, by) => {
    const { nodes, redlock } = setup();
    const warnings = recordWarnings(nodes);
    for (const ttlMs of [60, 300, 999]) {
      const error = await call(redlock, ttlMs).then(() => undefined, (rejection: unknown) => rejection);
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toBe(keptExtendedError(by, ttlMs));
    }
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it("refuses an election's ttlMs of 60 at redlock.election(), before any campaign or node call", () => {
    const { nodes, redlock } = setup();
    expect(() => redlock.election('scheduler', { ttlMs: 60 })).toThrow(RangeError);
    expect(() => redlock.election('scheduler', { ttlMs: 60 })).toThrow(keptExtendedError('an election'));
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('takes 1000 ms, and keeps such a lock extended without a warning', async () => {
    const { clock, nodes, redlock } = setup();
    const warnings = recordWarnings(nodes);
    const result = await clock.runUntilSettled(
      redlock.using('job', 1000, async (signal) => {
        await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), 2_000));
        return signal.aborted ? 'lost' : 'done';
      }),
    );
    expect(result).toBe('done');
    expect(nodes[0]!.calls.filter((call) => call.script === 'extend').length).toBeGreaterThanOrEqual(3);
    expect(redlock.election('scheduler', { ttlMs: 1000 }).name).toBe('scheduler');
    expect(warnings).toEqual([]);
  });

  it('takes a TTL from a lower `shortTtlMs`, which a Redlock whose sub-second TTLs are meant sets', async () => {
    const { clock, redlock } = setup({ shortTtlMs: 100 });
    expect(await clock.runUntilSettled(redlock.using('job', 250, () => 'done'))).toBe('done');
    expect(redlock.election('scheduler', { ttlMs: 250 }).name).toBe('scheduler');
    await expect(redlock.using('job', 60, () => 'never')).rejects.toThrow(keptExtendedError('`using()`', 60, 100));
    // 0 turns the check off: the validity check of every TTL remains.
    const { clock: otherClock, redlock: unchecked } = setup({ shortTtlMs: 0 });
    expect(await otherClock.runUntilSettled(unchecked.using('job', 60, () => 'done'))).toBe('done');
  });

  it.each<[string, unknown, ErrorConstructor, string]>([
    ['negative', -1, RangeError, 'Expected `shortTtlMs` to be a non-negative integer up to 2147483647, got `-1`'],
    ['fractional', 0.5, RangeError, 'Expected `shortTtlMs` to be a non-negative integer up to 2147483647, got `0.5`'],
    ['a string', '1000', TypeError, 'Expected `shortTtlMs` to be a number, got `"1000"`'],
  ])('refuses a `shortTtlMs` that is %s at construction', (_, shortTtlMs, type, message) => {
    const nodes = grantingNodes(new FakeClock(), 3);
    expect(() => new Redlock(nodes, { shortTtlMs: loose(shortTtlMs) })).toThrow(type);
    expect(() => new Redlock(nodes, { shortTtlMs: loose(shortTtlMs) })).toThrow(message);
  });
});

/**
 * The core and its fake nodes loaded afresh, for a test of a warning given once per process: each test
 * gets its own module state, as a process of its own would.
 */
async function freshCore(): Promise<{ core: Core; fakeNodes: FakeNodes }> {
  let loaded: { core: Core; fakeNodes: FakeNodes } | undefined;
  await jest.isolateModulesAsync(async () => {
    loaded = { core: await import('../../src/index.js'), fakeNodes: await import('../../src/testing/fake-nodes.js') };
  });
  return loaded!;
}

/** A `Redlock` of freshly loaded modules on 3 fake nodes, with what a short-TTL call needs to run. */
async function freshSetup() {
  const { core, fakeNodes } = await freshCore();
  const clock = new FakeClock();
  const nodes = fakeNodes.grantingNodes(clock, 3);
  const redlock = new core.Redlock(nodes, { clock, retryCount: 0 });
  return { core, fakeNodes, clock, nodes, redlock };
}

type Fresh = Awaited<ReturnType<typeof freshSetup>>;

/** What a call that takes a short TTL without extension holds once it resolved. */
interface Held {
  readonly state: string;
  readonly remainingValidityMs: number;
}

describe('a TTL under a second that nothing extends', () => {
  const shortTtlWarning = (ttlMs: number) => ({
    message: `\`ttlMs\` ${ttlMs} without automatic extension lets the lock expire within ${ttlMs} ms: the unit is milliseconds: did you mean ${(ttlMs * 1000).toLocaleString('en-US').replaceAll(',', '_')} (${ttlMs} s)? Warned once per process, for a TTL under \`shortTtlMs\` (1000 ms): lower that option where such TTLs are meant`,
    options: { type: 'RedlockWarning', code: 'REDLOCK_SHORT_TTL' },
  });

  /**
   * Each call with a TTL of 60 (`prepare` makes what it needs with a 10 s TTL first): the warning comes
   * before the call sends anything, and the call goes on to hold with that TTL.
   */
  it.each<[string, (fresh: Fresh) => Promise<(ttlMs: number) => Promise<Held | undefined>>]>([
    ['redlock.acquire()', async ({ redlock }) => (ttlMs) => redlock.acquire('job', ttlMs)],
    ['redlock.tryAcquire()', async ({ redlock }) => (ttlMs) => redlock.tryAcquire('job', ttlMs)],
    [
      'redlock.adopt()',
      async ({ clock, redlock }) => {
        const lock = await clock.runUntilSettled(redlock.acquire('job', 10_000));
        return (ttlMs) => redlock.adopt('job', lock.token, ttlMs);
      },
    ],
    [
      'lock.extend()',
      async ({ clock, redlock }) => {
        const lock = await clock.runUntilSettled(redlock.acquire('job', 10_000));
        return (ttlMs) => lock.extend(ttlMs);
      },
    ],
    ["a semaphore's acquire()", async ({ redlock }) => (ttlMs) => redlock.semaphore('jobs', { limit: 2 }).acquire(ttlMs)],
    ["a semaphore's tryAcquire()", async ({ redlock }) => (ttlMs) => redlock.semaphore('jobs', { limit: 2 }).tryAcquire(ttlMs)],
    [
      'permit.extend()',
      async ({ clock, redlock }) => {
        const permit = await clock.runUntilSettled(redlock.semaphore('jobs', { limit: 2 }).acquire(10_000));
        return async (ttlMs) => {
          await permit.extend(ttlMs);
          return permit;
        };
      },
    ],
    ["a read-write lock's acquireRead()", async ({ redlock }) => (ttlMs) => redlock.readWriteLock('catalog').acquireRead(ttlMs)],
    ["a read-write lock's acquireWrite()", async ({ redlock }) => (ttlMs) => redlock.readWriteLock('catalog').acquireWrite(ttlMs)],
    ["a read-write lock's tryAcquireRead()", async ({ redlock }) => (ttlMs) => redlock.readWriteLock('catalog').tryAcquireRead(ttlMs)],
    ["a read-write lock's tryAcquireWrite()", async ({ redlock }) => (ttlMs) => redlock.readWriteLock('catalog').tryAcquireWrite(ttlMs)],
    [
      'a read-write handle’s extend()',
      async ({ clock, redlock }) => {
        const handle = await clock.runUntilSettled(redlock.readWriteLock('catalog').acquireWrite(10_000));
        return async (ttlMs) => {
          await handle.extend(ttlMs);
          return handle;
        };
      },
    ],
  ])('%s takes 60 (seconds) with a REDLOCK_SHORT_TTL warning before any node call', async (_, prepare) => {
    const fresh = await freshSetup();
    const { clock, nodes } = fresh;
    const call = await prepare(fresh);
    const warnings = recordWarnings(nodes);
    const callsBefore = callCountOf(nodes);
    const held = await clock.runUntilSettled(call(60));
    expect(warnings).toEqual([{ ...shortTtlWarning(60), callsBefore }]);
    expect(callCountOf(nodes)).toBeGreaterThan(callsBefore);
    expect(held?.state).toBe('held');
    expect(held?.remainingValidityMs).toBeLessThanOrEqual(60);
  });

  it('takes a legitimate 250 ms lock without an error, warning once per process however many such calls follow', async () => {
    const { core, fakeNodes, clock, nodes, redlock } = await freshSetup();
    const warnings = recordWarnings(nodes);
    const lock = await clock.runUntilSettled(redlock.acquire('job', 250));
    expect(lock.state).toBe('held');
    // drift = round(250 × 0.01) + 2 = 5 ms
    expect(lock.remainingValidityMs).toBe(245);
    for (const node of nodes) expect(node.keyspace.pttl('job')).toBe(250);
    await clock.runUntilSettled(lock.release());
    const permit = await clock.runUntilSettled(redlock.semaphore('jobs', { limit: 2 }).acquire(250));
    await clock.runUntilSettled(permit.extend(200));
    // Another Redlock of the same process: the warning was given.
    await clock.runUntilSettled(new core.Redlock(fakeNodes.grantingNodes(clock, 3), { clock }).acquire('job', 300));
    expect(warnings).toEqual([{ ...shortTtlWarning(250), callsBefore: 0 }]);
  });

  it('gives no warning from 1000 ms on, nor for a shorter TTL under a lower `shortTtlMs`', async () => {
    const { core, clock, nodes, redlock } = await freshSetup();
    const warnings = recordWarnings(nodes);
    await clock.runUntilSettled(redlock.acquire('a', 1000));
    await clock.runUntilSettled(redlock.semaphore('jobs', { limit: 2 }).acquire(1000));
    await clock.runUntilSettled(new core.Redlock(nodes, { clock, shortTtlMs: 200 }).acquire('b', 250));
    expect(warnings).toEqual([]);
    await clock.runUntilSettled(redlock.acquire('c', 999));
    expect(warnings).toEqual([{ ...shortTtlWarning(999), callsBefore: expect.any(Number) }]);
  });
});
