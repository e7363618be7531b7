import { afterAll, describe, expect, it } from '@jest/globals';
import RedisMock from 'ioredis-mock';
import { LockAcquireError } from 'redlock-core';
import Redlock, { ExecutionError, Lock, ResourceLockedError } from '../../src/index.js';

// Users' own unit tests often run node-redlock over ioredis-mock: they keep working after the one-line
// migration. ioredis-mock runs Lua in fengari, where INFO answers no text: the first-contact probe reads
// that as a server that reports nothing, as node-redlock never asked.
const clients = [1, 2, 3].map((port) => new RedisMock({ port }));
const redlock = new Redlock(clients, { retryCount: 0 });
const live = new Redlock([4, 5, 6].map((port) => new RedisMock({ port })));
afterAll(() => Promise.all([redlock.quit(), live.quit()]));

describe('node-redlock compat over ioredis-mock', () => {
  it('acquires, refuses a second owner, extends, releases and runs using()', async () => {
    const errors: unknown[] = [];
    redlock.on('error', (error) => errors.push(error));
    const lock = await redlock.acquire(['mock:a'], 2_000);
    await expect(redlock.acquire(['mock:a'], 2_000)).rejects.toBeInstanceOf(ExecutionError);
    await lock.extend(3_000);
    await lock.release();
    const relocked = await redlock.acquire(['mock:a'], 2_000);
    await relocked.release();
    await expect(redlock.using(['mock:b', 'mock:c'], 2_000, async (signal) => signal.aborted)).resolves.toBe(false);
    // The refused acquisition's votes, as node-redlock reports them; no node error.
    expect(errors.map((error) => (error as Error).name)).toEqual(['ResourceLockedError', 'ResourceLockedError', 'ResourceLockedError']);
  });

  it("applies a change to redlock.settings to the calls that follow, checked as a call's own settings are", async () => {
    const settings = live.settings as { -readonly [Name in keyof typeof live.settings]: unknown } & { retryDelayMs?: number };
    const held = await live.acquire(['mock:live'], 5_000);
    // node-redlock's default of 10 retries, changed to none: the contended call makes one attempt.
    settings.retryCount = 0;
    const error = await live.acquire(['mock:live'], 5_000).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as ExecutionError).attempts).toHaveLength(1);
    settings.retryCount = '3';
    await expect(live.acquire(['mock:live'], 5_000)).rejects.toThrow(new TypeError('Expected `retryCount` in the Redlock settings to be a finite number, got "3"'));
    settings.retryCount = 0;
    settings.driftFactor = 0.02;
    await expect(live.acquire(['mock:live'], 5_000)).rejects.toThrow(/^The `driftFactor` of a Redlock cannot change once it is made/);
    // A lock already held is still extended (with the settings last found good) and released.
    const extended = await held.extend(5_000);
    settings.retryDelay = -5;
    await expect(live.acquire(['mock:other'], 5_000)).rejects.toThrow(RangeError);
    await expect(extended.release()).resolves.toBeDefined();
    settings.driftFactor = 0.01;
    settings.retryDelay = 200;
    // An unknown name is refused as in the constructor, until it is gone.
    settings.retryDelayMs = 5;
    await expect(live.acquire(['mock:live'], 5_000)).rejects.toThrow(/^Unknown setting `retryDelayMs` in the Redlock settings/);
    delete settings.retryDelayMs;
    await (await live.acquire(['mock:live'], 5_000)).release();
  });

  it("retries keys that are not locks `retryCount` times, as node-redlock; with `foreignKeys: 'redlock-core'` fails after the first attempt", async () => {
    await Promise.all(clients.map((client) => client.set('mock:foreign', 'not a lock')));
    const settings = { retryCount: 3, retryDelay: 0, retryJitter: 0 };
    const retried = await redlock.acquire(['mock:foreign'], 2_000, settings).catch((failure: unknown) => failure);
    expect(retried).toBeInstanceOf(ExecutionError);
    expect(((retried as ExecutionError).cause as LockAcquireError).reason).toBe('foreign-key');
    const attempts = await Promise.all((retried as ExecutionError).attempts);
    expect(attempts).toHaveLength(4);
    for (const stats of attempts) {
      expect(stats.votesFor.size).toBe(0);
      for (const vote of stats.votesAgainst.values()) {
        expect(vote).toBeInstanceOf(ResourceLockedError);
        expect(vote.message).toBe('The operation was applied to: 0 of the 1 requested resources.');
      }
    }
    const failedAtOnce = await redlock.acquire(['mock:foreign'], 2_000, { ...settings, foreignKeys: 'redlock-core' }).catch((failure: unknown) => failure);
    expect((failedAtOnce as ExecutionError).attempts).toHaveLength(1);
    expect(await Promise.all(clients.map((client) => client.get('mock:foreign')))).toEqual(['not a lock', 'not a lock', 'not a lock']);
    await Promise.all(clients.map((client) => client.del('mock:foreign')));
  });

  it('keeps the setting the Redlock was made with for one set to undefined, and refuses a Lock made with a string of resources', async () => {
    const held = await redlock.acquire(['mock:undefined'], 5_000);
    (redlock.settings as { retryCount?: number }).retryCount = undefined;
    // Its own retryCount, 0: one attempt, where node-redlock's default would make 11.
    const error = await redlock.acquire(['mock:undefined'], 5_000).catch((failure: unknown) => failure);
    expect((error as ExecutionError).attempts).toHaveLength(1);
    (redlock.settings as { retryCount?: number }).retryCount = 0;
    await held.release();
    expect(() => new Lock(redlock, 'order:1' as never, 'value', [], 0)).toThrow(/^Expected `resources` to be an array of resource names, got the string "order:1"/);
  });
});
