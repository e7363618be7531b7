import { afterAll, describe, expect, it } from '@jest/globals';
import RedisMock from 'ioredis-mock';
import Redlock, { ExecutionError } from '../../src/index.js';

// Users' own unit tests often run node-redlock over ioredis-mock: they keep working after the one-line
// migration. ioredis-mock runs Lua in fengari, where INFO answers no text: the first-contact probe reads
// that as a server that reports nothing, as node-redlock never asked.
const clients = [1, 2, 3].map((port) => new RedisMock({ port }));
const redlock = new Redlock(clients, { retryCount: 0 });
afterAll(() => redlock.quit());

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
});
