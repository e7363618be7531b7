import { describe, expect, it } from '@jest/globals';
import { type AcquireOptions, Redlock, type RedlockOptions, type TryAcquireOptions, type UsingOptions } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNode, grantingNodes } from '../../src/testing/fake-nodes.js';

/** Bypasses the option types, to pass what a JavaScript caller could. */
function loose<T>(value: unknown): T {
  return value as T;
}

async function rejectionOf(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(
    () => undefined,
    (failure: unknown) => failure,
  );
}

function setup(): { clock: FakeClock; nodes: FakeNode[]; redlock: Redlock } {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, 3);
  return { clock, nodes, redlock: new Redlock(nodes, { clock }) };
}

describe('unknown option names in the Redlock constructor', () => {
  it.each([
    ['retryDelay', 'Unknown option `retryDelay` in the options of the `Redlock` constructor: write `retryDelayMs` (milliseconds); `retryDelay` is the name in node-redlock'],
    ['retryJitter', 'Unknown option `retryJitter` in the options of the `Redlock` constructor: write `retryJitterMs` (milliseconds); `retryJitter` is the name in node-redlock'],
    [
      'automaticExtensionThreshold',
      'Unknown option `automaticExtensionThreshold` in the options of the `Redlock` constructor: use `autoExtend: true` in the options of `acquire()` or `tryAcquire()`, or `using()`, which extend the lock when half its TTL of validity is left; `automaticExtensionThreshold` is the name in node-redlock',
    ],
    ['retryInterval', 'Unknown option `retryInterval` in the options of the `Redlock` constructor: write `retryDelayMs` (milliseconds); `retryInterval` is the name in redis-semaphore'],
    ['acquireTimeout', 'Unknown option `acquireTimeout` in the options of the `Redlock` constructor: write `waitMs` (milliseconds); `acquireTimeout` is the name in redis-semaphore'],
    ['lockTimeout', 'Unknown option `lockTimeout` in the options of the `Redlock` constructor: pass the TTL as the `ttlMs` argument (milliseconds); `lockTimeout` is the name in redis-semaphore'],
    ['retrycount', 'Unknown option `retrycount` in the options of the `Redlock` constructor: did you mean `retryCount`?'],
    ['retryDelayMS', 'Unknown option `retryDelayMS` in the options of the `Redlock` constructor: did you mean `retryDelayMs`?'],
    ['signal', 'Unknown option `signal` in the options of the `Redlock` constructor: `signal` is an option of `acquire()`, `tryAcquire()`, `using()`'],
    ['maxHoldMs', 'Unknown option `maxHoldMs` in the options of the `Redlock` constructor: `maxHoldMs` is an option of `acquire()`, `tryAcquire()`, `using()`'],
  ])('throws a TypeError for %s, naming the intended option', (name, message) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    expect(() => new Redlock(nodes, loose<RedlockOptions>({ clock, [name]: 100 }))).toThrow(TypeError);
    expect(() => new Redlock(nodes, loose<RedlockOptions>({ clock, [name]: 100 }))).toThrow(message);
  });

  it('accepts driftFactor, which node-redlock spells the same way', () => {
    const clock = new FakeClock();
    expect(() => new Redlock(grantingNodes(clock, 3), { clock, driftFactor: 0.01 })).not.toThrow();
  });

  it('lists the options it takes for a name it cannot place', () => {
    const clock = new FakeClock();
    expect(() => new Redlock(grantingNodes(clock, 3), loose<RedlockOptions>({ clock, colour: 'blue' }))).toThrow(
      'Unknown option `colour` in the options of the `Redlock` constructor: it takes `driftFactor`, `retryCount`, `retryDelayMs`, `retryJitterMs`, `waitMs`, `nodeTimeoutMs`, `restartGraceMs`, `refuseEvictingNodes`, `shortTtlMs`, `keyPrefix`, `clock`',
    );
  });

  it('refuses an unknown name even when its value is undefined', () => {
    const clock = new FakeClock();
    expect(() => new Redlock(grantingNodes(clock, 3), loose<RedlockOptions>({ clock, retryDelay: undefined }))).toThrow(TypeError);
  });
});

describe('unknown option names per call', () => {
  it.each<[string, (redlock: Redlock, options: unknown) => Promise<unknown>, string, string]>([
    ['acquire()', (redlock, options) => redlock.acquire('r', 10_000, loose<AcquireOptions>(options)), 'retryDelay', 'Unknown option `retryDelay` in the options of `acquire()`: write `retryDelayMs` (milliseconds); `retryDelay` is the name in node-redlock'],
    ['acquire()', (redlock, options) => redlock.acquire('r', 10_000, loose<AcquireOptions>(options)), 'acquireTimeout', 'Unknown option `acquireTimeout` in the options of `acquire()`: write `waitMs` (milliseconds); `acquireTimeout` is the name in redis-semaphore'],
    ['acquire()', (redlock, options) => redlock.acquire('r', 10_000, loose<AcquireOptions>(options)), 'keyPrefix', 'Unknown option `keyPrefix` in the options of `acquire()`: `keyPrefix` is an option of the `Redlock` constructor'],
    ['acquire()', (redlock, options) => redlock.acquire('r', 10_000, loose<AcquireOptions>(options)), 'maxExtensions', 'Expected `autoExtend: true` with `maxExtensions`, which limits automatic extension, got `autoExtend: false`'],
    ['acquire()', (redlock, options) => redlock.acquire('r', 10_000, loose<AcquireOptions>(options)), 'refreshInterval', 'Unknown option `refreshInterval` in the options of `acquire()`: use `autoExtend: true` in the options of `acquire()` or `tryAcquire()`, or `using()`, which extend the lock when half its TTL of validity is left; `refreshInterval` is the name in redis-semaphore'],
    ['tryAcquire()', (redlock, options) => redlock.tryAcquire('r', 10_000, loose<TryAcquireOptions>(options)), 'retryInterval', 'Unknown option `retryInterval` in the options of `tryAcquire()`: write `retryDelayMs` (milliseconds); `retryInterval` is the name in redis-semaphore'],
    ['tryAcquire()', (redlock, options) => redlock.tryAcquire('r', 10_000, loose<TryAcquireOptions>(options)), 'fenceing', 'Unknown option `fenceing` in the options of `tryAcquire()`: it takes `signal`, `fencing`, `fair`, `reentrant`, `autoExtend`, `maxExtensions`, `maxHoldMs`'],
    ['using()', (redlock, options) => redlock.using('r', 10_000, () => 'never', loose<UsingOptions>(options)), 'retryJitter', 'Unknown option `retryJitter` in the options of `using()`: write `retryJitterMs` (milliseconds); `retryJitter` is the name in node-redlock'],
    ['using()', (redlock, options) => redlock.using('r', 10_000, () => 'never', loose<UsingOptions>(options)), 'maxholdms', 'Unknown option `maxholdms` in the options of `using()`: did you mean `maxHoldMs`?'],
    ['using()', (redlock, options) => redlock.using('r', 10_000, () => 'never', loose<UsingOptions>(options)), 'clock', 'Unknown option `clock` in the options of `using()`: `clock` is an option of the `Redlock` constructor'],
  ])('%s rejects %s with a TypeError before any node is called', async (_, call, name, message) => {
    const { nodes, redlock } = setup();
    const error = await rejectionOf(() => call(redlock, { [name]: 100 }));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(message);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('accepts every option of using(), including those of acquire()', async () => {
    const { clock, redlock } = setup();
    const options: UsingOptions = {
      retryCount: 1,
      retryDelayMs: 10,
      retryJitterMs: 0,
      waitMs: 1000,
      fencing: false,
      signal: new AbortController().signal,
      reentrant: undefined,
      maxExtensions: 1,
      maxHoldMs: 1000,
    };
    await expect(clock.runUntilSettled(redlock.using('r', 10_000, () => 'done', options))).resolves.toBe('done');
  });
});

describe('a TTL too short to leave validity', () => {
  it('using() rejects a 10 ms TTL at once, saying the unit is milliseconds, without running the routine', async () => {
    const { nodes, redlock } = setup();
    let hasRun = false;
    const error = await rejectionOf(() =>
      redlock.using('job', 10, () => {
        hasRun = true;
      }),
    );
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(
      'Expected `ttlMs` to leave more validity than one node timeout (50 ms), got `10` ms, which leaves 8 ms after the clock drift allowance: the unit is milliseconds: did you mean 10_000 (10 s)?',
    );
    expect(hasRun).toBe(false);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('draws the line at the default node timeout: 52 ms is refused, 53 ms (50 ms of validity) is taken', async () => {
    const { clock, redlock } = setup();
    await expect(redlock.acquire('r', 52)).rejects.toThrow(
      'Expected `ttlMs` to leave more validity than one node timeout (50 ms), got `52` ms, which leaves 49 ms after the clock drift allowance: the unit is milliseconds: did you mean 52_000 (52 s)?',
    );
    await expect(redlock.tryAcquire('r', 30)).rejects.toThrow(RangeError);
    const lock = await clock.runUntilSettled(redlock.acquire('r', 53));
    expect(lock.state).toBe('held');
  });

  it('measures against a node timeout set on the Redlock, and then does not suggest seconds', async () => {
    const clock = new FakeClock();
    const redlock = new Redlock(grantingNodes(clock, 3), { clock, nodeTimeoutMs: 1000 });
    await expect(redlock.acquire('r', 1000)).rejects.toThrow(
      'Expected `ttlMs` to leave more validity than one node timeout (1000 ms), got `1000` ms, which leaves 988 ms after the clock drift allowance: the unit is milliseconds: use a longer TTL, or shorter node timeouts',
    );
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1100));
    expect(lock.state).toBe('held');
  });

  it('measures against the node timeout by which a quorum has answered: one far node does not count', async () => {
    const clock = new FakeClock();
    const [near1, near2, far] = [grantingNode(clock), grantingNode(clock), grantingNode(clock)];
    const withOneFar = new Redlock([near1, near2, { adapter: far, timeoutMs: 2000 }], { clock });
    const lock = await clock.runUntilSettled(withOneFar.acquire('r', 1000));
    expect(lock.state).toBe('held');
    await clock.runUntilSettled(lock.release());
    const withTwoFar = new Redlock([grantingNode(clock), { adapter: grantingNode(clock), timeoutMs: 2000 }, { adapter: grantingNode(clock), timeoutMs: 2000 }], {
      clock,
    });
    await expect(withTwoFar.acquire('r', 1000)).rejects.toThrow('(2000 ms), got `1000` ms');
  });
});
