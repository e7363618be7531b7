import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import Redlock from '../../src/index.js';

// Bad arguments fail with a typed error before any node is called: these clients never connect.
const clients = [1, 2, 3].map((port) => new Redis({ port, lazyConnect: true, enableOfflineQueue: false }));
afterAll(() => {
  for (const client of clients) client.disconnect();
});

describe('node-redlock compat: arguments', () => {
  it('refuses no clients with node-redlock\'s message', () => {
    expect(() => new Redlock([])).toThrow(new Error('Redlock must be instantiated with at least one redis client.'));
  });

  it.each([
    [{ retryCount: '3' }, TypeError, 'Expected `retryCount` in the Redlock settings to be a finite number, got "3"'],
    [{ retryDelay: Number.NaN }, TypeError, 'Expected `retryDelay` in the Redlock settings to be a finite number, got NaN'],
    [{ retryCount: -2 }, RangeError, 'Expected `retryCount` in the Redlock settings to be an integer ≥ 0, or -1 (or Infinity) to retry until the lock is acquired, got -2'],
    [{ driftFactor: 1 }, RangeError, 'Expected `driftFactor` in the Redlock settings to be in [0, 1), got 1'],
    [{ retryJitter: -1 }, RangeError, 'Expected `retryJitter` in the Redlock settings to be ≥ 0, got -1'],
    [{ retryCounts: 3 }, TypeError, 'Unknown setting `retryCounts` in the Redlock settings'],
    [{ errors: 'core' }, TypeError, "Expected `errors` in the Redlock settings to be 'node-redlock' or 'redlock-core', got \"core\""],
    [{ durations: true }, TypeError, "Expected `durations` in the Redlock settings to be 'node-redlock' or 'redlock-core', got true"],
  ])('refuses the settings %p', (settings, type, message) => {
    expect(() => new Redlock(clients, settings as never)).toThrow(type);
    expect(() => new Redlock(clients, settings as never)).toThrow(message);
  });

  it('refuses custom scripts, which the core cannot run', () => {
    expect(() => new Redlock(clients, {}, { acquireScript: (script) => script })).toThrow(/^Custom scripts are not supported/);
    expect(() => new Redlock(clients, {}, {})).not.toThrow();
  });

  it('has node-redlock\'s defaults, also for a setting given as undefined, and reads retryCount -1 as for ever', () => {
    expect(new Redlock(clients).settings).toEqual({ driftFactor: 0.01, retryCount: 10, retryDelay: 200, retryJitter: 100, automaticExtensionThreshold: 500 });
    expect(new Redlock(clients, { retryCount: undefined, retryDelay: 50 } as never).settings).toMatchObject({ retryCount: 10, retryDelay: 50 });
    expect(new Redlock(clients, { retryCount: -1 }).settings.retryCount).toBe(-1);
  });

  it("shows this package's own settings only when given, and takes them on a call too", async () => {
    expect(Object.keys(new Redlock(clients).settings)).toEqual(['driftFactor', 'retryCount', 'retryDelay', 'retryJitter', 'automaticExtensionThreshold']);
    const redlock = new Redlock(clients, { errors: 'redlock-core', foreignKeys: 'redlock-core', durations: 'node-redlock' });
    expect(redlock.settings).toMatchObject({ errors: 'redlock-core', foreignKeys: 'redlock-core', durations: 'node-redlock' });
    await expect(redlock.acquire(['a'], 1000, { foreignKeys: 'fail' as never })).rejects.toThrow(/^Expected `foreignKeys` in acquire\(\) to be 'node-redlock' or 'redlock-core'/);
  });

  it('takes what node-redlock took: retryCount Infinity for ever, and fractional delays (100 * 1.1), waited to the nearest millisecond', async () => {
    expect(new Redlock(clients, { retryCount: Infinity }).settings.retryCount).toBe(Infinity);
    const redlock = new Redlock(clients, { retryDelay: 100 * 1.1, retryJitter: 50.5, automaticExtensionThreshold: 300.5 });
    expect(redlock.settings).toMatchObject({ retryDelay: 110.00000000000001, retryJitter: 50.5 });
    // Past the checks, to the nodes (which these clients never reach): no RangeError about `retryDelayMs`.
    const error = await redlock.acquire(['a'], 1000, { retryCount: 0, retryDelay: 20.5 }).catch((failure: unknown) => failure);
    expect((error as Error).name).toBe('ExecutionError');
    // Stops the failed attempt's cleanup, which would go on failing against these clients in the background
    // until the keys' TTL, publishing node errors into the next test file of this worker.
    await redlock.quit();
  });

  it('refuses a duration that is not an integer, a driftFactor of one call, and a using() without room for its threshold', async () => {
    const redlock = new Redlock(clients);
    await expect(redlock.acquire(['a'], 1000.5)).rejects.toThrow(new TypeError('Duration must be an integer value in milliseconds.'));
    await expect(redlock.acquire(['a'], 1000, { driftFactor: 0.1 })).rejects.toThrow(/^A `driftFactor` for one call is not supported/);
    await expect(redlock.acquire(['a'], 1000, { retryDelay: -5 })).rejects.toThrow(RangeError);
    await expect(redlock.using(['a'], 550, async () => 1)).rejects.toThrow(
      new RangeError('A lock `duration` must be at least 100ms greater than the `automaticExtensionThreshold` setting.'),
    );
    await expect(redlock.using(['a'], 1000, {} as never)).rejects.toThrow(TypeError);
  });

  it('refuses resources that are not an array, which node-redlock locked character by character', async () => {
    const redlock = new Redlock(clients);
    await expect(redlock.acquire('order:1' as never, 1000)).rejects.toThrow(
      new TypeError('Expected `resources` to be an array of resource names, got the string "order:1": write ["order:1"] for one resource'),
    );
    await expect(redlock.using('order:1' as never, 1000, async () => 1)).rejects.toThrow(/^Expected `resources` to be an array/);
    await expect(redlock.acquire(undefined as never, 1000)).rejects.toThrow(new TypeError('Expected `resources` to be an array of resource names, got `undefined`: write [name] for one resource'));
  });
});
