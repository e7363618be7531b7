import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import RedisMock from 'ioredis-mock';
import { MAX_TTL_MS } from 'redlock-core';
import Redlock from '../../src/index.js';
import { FIRST_STAND_IN_MS, needsStandIn, StandInAdapter, StandInTtls } from '../../src/long-durations.js';

// Durations above the core's longest TTL reach the core as a stand-in TTL, and Redis as themselves: the
// adapters put the duration back in place of the stand-in (see long-durations.ts).
const CENTURIES_MS = Math.floor(Number.MAX_SAFE_INTEGER / 10); // 28,500 years, as node-redlock's suite locks

/** A client that never connects, whose commands are recorded and answered with `reply`. */
function recordingClient(reply: unknown): { client: Redis; sent: unknown[][] } {
  const client = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false });
  const sent: unknown[][] = [];
  const record = (name: string) => async (...args: unknown[]) => {
    sent.push([name, ...args]);
    return reply;
  };
  Object.assign(client, { evalsha: record('evalsha'), eval: record('eval'), set: record('set') });
  return { client, sent };
}

describe('node-redlock compat: durations longer than the core takes', () => {
  it('gives the core a stand-in from the top of its range, for every duration from there on', () => {
    expect(needsStandIn(FIRST_STAND_IN_MS - 1)).toBe(false);
    expect(needsStandIn(FIRST_STAND_IN_MS)).toBe(true);
    expect(needsStandIn(MAX_TTL_MS + 1)).toBe(true);
    const standIns = new StandInTtls();
    const first = standIns.take(CENTURIES_MS);
    const second = standIns.take(MAX_TTL_MS);
    expect(first).toBeGreaterThanOrEqual(FIRST_STAND_IN_MS);
    expect(first).toBeLessThanOrEqual(MAX_TTL_MS);
    expect(second).not.toBe(first);
    expect(standIns.durationOf(String(first))).toBe(String(CENTURIES_MS));
    expect(standIns.durationOf(String(second))).toBe(String(MAX_TTL_MS));
    // Any other TTL passes as it is; a stand-in nobody holds never reaches Redis.
    expect(standIns.durationOf('10000')).toBe('10000');
    expect(() => standIns.durationOf(String(MAX_TTL_MS - 7))).toThrow(/^The stand-in TTL \d+ ms is no longer in use/);
  });

  it('sends the duration in place of the stand-in: as the TTL argument of the lock scripts, and in the SET', async () => {
    const standIns = new StandInTtls();
    const { client, sent } = recordingClient('OK');
    const adapter = new StandInAdapter(client, standIns, false);
    // Before any stand-in, the calls pass untouched.
    await adapter.evalsha('sha', ['k'], ['token', '10000']);
    const standIn = standIns.take(CENTURIES_MS);
    await adapter.evalsha('sha', ['k'], ['token', String(standIn), '0']);
    await adapter.eval('source', ['k'], ['token', String(standIn)]);
    await adapter.evalsha('sha', ['k'], ['token']);
    await adapter.trySet('k', 'token', standIn);
    await adapter.setIfAbsent('k', 'token', 5_000);
    expect(sent).toEqual([
      ['evalsha', 'sha', 1, 'k', 'token', '10000'],
      ['evalsha', 'sha', 1, 'k', 'token', String(CENTURIES_MS), '0'],
      ['eval', 'source', 1, 'k', 'token', String(CENTURIES_MS)],
      ['evalsha', 'sha', 1, 'k', 'token'],
      ['set', 'k', 'token', 'PX', CENTURIES_MS, 'NX'],
      ['set', 'k', 'token', 'PX', 5_000, 'NX', 'GET'],
    ]);
    // A stand-in no longer in use fails the call: a rejection, as the seam requires, and nothing sent.
    await expect(adapter.trySet('k', 'token', MAX_TTL_MS - 7)).rejects.toThrow(/no longer in use/);
    await expect(adapter.evalsha('sha', ['k'], ['token', String(MAX_TTL_MS - 7)])).rejects.toThrow(/no longer in use/);
    expect(sent).toHaveLength(6);
    client.disconnect();
  });
});

describe('node-redlock compat: long durations over ioredis-mock', () => {
  const clients = [1, 2, 3].map((port) => new RedisMock({ port }));
  const redlock = new Redlock(clients, { retryCount: 0 });
  afterAll(() => redlock.quit());

  it('locks for 28,500 years: that TTL on the nodes, and node-redlock\'s expiration from it', async () => {
    const startedAt = Date.now();
    const lock = await redlock.acquire(['long:a'], CENTURIES_MS);
    const drift = Math.round(CENTURIES_MS * 0.01) + 2;
    expect(lock.expiration).toBeGreaterThanOrEqual(startedAt + CENTURIES_MS - drift);
    expect(lock.expiration).toBeLessThanOrEqual(Date.now() + CENTURIES_MS - drift);
    for (const client of clients) expect(CENTURIES_MS - (await client.pttl('long:a'))).toBeLessThan(1_000);
    const extended = await lock.extend(3 * CENTURIES_MS);
    for (const client of clients) expect(3 * CENTURIES_MS - (await client.pttl('long:a'))).toBeLessThan(1_000);
    // Back to a duration the core takes as it is: its own expiration again.
    const shortened = await extended.extend(5_000);
    expect(shortened.expiration).toBeLessThanOrEqual(Date.now() + 5_000);
    for (const client of clients) expect(await client.pttl('long:a')).toBeLessThanOrEqual(5_000);
    await shortened.release();
    for (const client of clients) expect(await client.exists('long:a')).toBe(0);
  });

  it("extends a lock past its core lock's validity by its value, as a lock longer than 24.8 days outlives that validity", async () => {
    const lock = await redlock.acquire(['long:c'], 100);
    // Stands for a lock whose keys outlive the core's view of it: its keys still there, its expiration ahead.
    await new Promise((resolve) => setTimeout(resolve, 150));
    // DEL first: ioredis-mock 8 drops at once a key SET with PX over one that expired.
    await Promise.all(clients.map(async (client) => client.del('long:c').then(async () => client.set('long:c', lock.value, 'PX', 10_000))));
    lock.expiration = Date.now() + 5_000;
    const extended = await lock.extend(CENTURIES_MS);
    for (const client of clients) expect(CENTURIES_MS - (await client.pttl('long:c'))).toBeLessThan(1_000);
    await extended.release();
    for (const client of clients) expect(await client.exists('long:c')).toBe(0);
  });

  it("refuses durations above 2³¹−1 ms with `durations: 'redlock-core'`, and any above Number.MAX_SAFE_INTEGER", async () => {
    const strict = new Redlock(clients, { retryCount: 0, durations: 'redlock-core' });
    await expect(strict.acquire(['long:b'], MAX_TTL_MS + 1)).rejects.toThrow(RangeError);
    // Up to there, as the core takes it.
    await (await strict.acquire(['long:b'], MAX_TTL_MS)).release();
    await expect(redlock.acquire(['long:b'], Number.MAX_SAFE_INTEGER + 1)).rejects.toThrow(
      new RangeError(`Expected a duration of at most Number.MAX_SAFE_INTEGER (${Number.MAX_SAFE_INTEGER}) ms, got ${Number.MAX_SAFE_INTEGER + 1}`),
    );
    await expect(redlock.acquire(['long:b'], Infinity)).rejects.toThrow(RangeError);
    await strict.quit();
  });
});
