import { createHash, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
// Test-only deep imports: the scripts are internal to the core, and this file checks them against real Redis.
import { acquireScript, parseAcquireReply } from '../../../redlock-core/src/scripts/acquire.js';
import { extendScript, parseExtendReply } from '../../../redlock-core/src/scripts/extend.js';
import { fenceScript, parseFenceReply } from '../../../redlock-core/src/scripts/fence.js';
import { inspectScript, parseInspectReply } from '../../../redlock-core/src/scripts/inspect.js';
import { type LuaScript, runScript } from '../../../redlock-core/src/scripts/lua-script.js';
import { parsePermitAcquireReply, permitAcquireArgsOf, permitAcquireScript } from '../../../redlock-core/src/scripts/permit-acquire.js';
import { KNOWN_SCRIPTS } from '../../../redlock-core/src/testing/fake-adapter.js';
import { parsePermitExtendReply, permitExtendScript } from '../../../redlock-core/src/scripts/permit-extend.js';
import { parsePermitInspectReply, permitInspectScript } from '../../../redlock-core/src/scripts/permit-inspect.js';
import { parsePermitReleaseReply, permitReleaseScript, quietPermitReleaseScript } from '../../../redlock-core/src/scripts/permit-release.js';
import {
  parseReleaseReply,
  quietReleaseScript,
  releaseChannelOf,
  releaseScript,
} from '../../../redlock-core/src/scripts/release.js';
import { IoredisAdapter } from '../../src/index.js';
import { useRedisNodes } from '../support/redis-servers.js';

// One prefix per run, so keys left by an interrupted run on shared nodes cannot interfere.
const KEY_PREFIX = `scripts-test:${randomUUID()}:`;
const TOKEN = 'token-of-this-owner';
const OTHER_TOKEN = 'token-of-another-owner';

const redis = useRedisNodes(1);
let client: Redis;
let adapter: IoredisAdapter;

beforeAll(() => {
  client = redis.createClient(0);
  adapter = new IoredisAdapter(client);
});

/** `count` keys for one test, named after it. */
function keysFor(test: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${KEY_PREFIX}${test}:${index}`);
}

function run(script: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  return runScript(adapter, script, keys, args);
}

async function valuesOf(keys: readonly string[]): Promise<(string | null)[]> {
  return Promise.all(keys.map((key) => client.get(key)));
}

// Every script the core defines, as the fake adapter lists them.
describe.each(KNOWN_SCRIPTS)('the $name script $sha1', (script) => {
  it('has the SHA1 that SCRIPT LOAD returns', async () => {
    await expect(client.script('LOAD', script.source)).resolves.toBe(script.sha1);
  });
});

describe('runScript() on a real node', () => {
  it('falls back to EVAL after SCRIPT FLUSH and leaves the script cached for EVALSHA', async () => {
    const keys = keysFor('flushed', 1);
    await client.script('FLUSH');
    await expect(client.script('EXISTS', releaseScript.sha1)).resolves.toEqual([0]);
    await expect(run(releaseScript, keys, [TOKEN])).resolves.toBe(0);
    await expect(client.script('EXISTS', releaseScript.sha1)).resolves.toEqual([1]);
  });
});

describe('the acquire script', () => {
  it('sets every key to the token with the TTL in milliseconds and replies 1', async () => {
    const keys = keysFor('acquire-all', 3);
    const reply = await run(acquireScript, keys, [TOKEN, '10000']);
    expect(reply).toBe(1);
    expect(parseAcquireReply(reply)).toBe('acquired');
    expect(await valuesOf(keys)).toEqual([TOKEN, TOKEN, TOKEN]);
    for (const key of keys) {
      const ttlMs = await client.pttl(key);
      expect(ttlMs).toBeGreaterThan(9_000);
      expect(ttlMs).toBeLessThanOrEqual(10_000);
    }
  });

  it('replies 0 and changes nothing when any key already exists', async () => {
    const keys = keysFor('acquire-one-taken', 3);
    await client.set(keys[1] as string, OTHER_TOKEN, 'PX', 5_000);
    const reply = await run(acquireScript, keys, [TOKEN, '10000']);
    expect(reply).toBe(0);
    expect(parseAcquireReply(reply)).toBe('held');
    expect(await valuesOf(keys)).toEqual([null, OTHER_TOKEN, null]);
    expect(await client.pttl(keys[1] as string)).toBeLessThanOrEqual(5_000);
  });

  it('replies 1 when keys already hold the token (the attempt ran twice), setting only what is missing', async () => {
    const keys = keysFor('acquire-own-token', 2);
    await client.set(keys[0] as string, TOKEN, 'PX', 5_000);
    await expect(run(acquireScript, keys, [TOKEN, '10000'])).resolves.toBe(1);
    expect(await valuesOf(keys)).toEqual([TOKEN, TOKEN]);
    expect(await client.pttl(keys[0] as string)).toBeLessThanOrEqual(5_000);
  });

  it.each<[string, (key: string) => Promise<unknown>]>([
    ['a hash', (key) => client.hset(key, 'field', TOKEN)],
    ['a hash with a TTL', async (key) => client.multi().hset(key, 'field', TOKEN).pexpire(key, 10_000).exec()],
    ['a list', (key) => client.rpush(key, TOKEN)],
    ['a set', (key) => client.sadd(key, TOKEN)],
    ['a sorted set', (key) => client.zadd(key, 1, TOKEN)],
    ['a stream', (key) => client.xadd(key, '*', 'field', TOKEN)],
    ['a string without a TTL', (key) => client.set(key, OTHER_TOKEN)],
  ])('replies -2 (foreign) and changes nothing when a key holds %s, which is no lock', async (kind, plant) => {
    const keys = keysFor(`acquire-foreign-${kind.replaceAll(' ', '-')}`, 2);
    await plant(keys[1] as string);
    const type = await client.type(keys[1] as string);
    const ttlMs = await client.pttl(keys[1] as string);
    const reply = await run(acquireScript, keys, [TOKEN, '10000']);
    expect(reply).toBe(-2);
    expect(parseAcquireReply(reply)).toBe('foreign');
    expect(await client.exists(keys[0] as string)).toBe(0);
    expect(await client.type(keys[1] as string)).toBe(type);
    expect(Math.sign(await client.pttl(keys[1] as string))).toBe(Math.sign(ttlMs));
    await client.del(keys[1] as string);
  });

  it("replies 0 (held) for a string with a TTL that is not our token: another client's lock", async () => {
    const keys = keysFor('acquire-other-lock', 1);
    await client.set(keys[0] as string, 'not-a-token-of-ours', 'PX', 10_000);
    await expect(run(acquireScript, keys, [TOKEN, '10000'])).resolves.toBe(0);
  });

  it('with fencing, replies {1, highest counter} and reads a missing counter as 0', async () => {
    const keys = keysFor('acquire-fenced', 4);
    await client.set(keys[2] as string, '41');
    const reply = await run(acquireScript, keys, [TOKEN, '10000', '0', '1']);
    expect(reply).toEqual([1, 41]);
    expect(parseAcquireReply(reply)).toBe('acquired');
    expect(await valuesOf(keys)).toEqual([TOKEN, TOKEN, '41', null]);
    await client.del(keys[2] as string);
  });

  it.each<[string, (key: string) => Promise<unknown>]>([
    ['a string with a TTL (a lock)', (key) => client.set(key, '41', 'PX', 10_000)],
    ['a string that is not a number', (key) => client.set(key, 'user-data')],
    ['a number with a leading zero', (key) => client.set(key, '041')],
    ['a negative number', (key) => client.set(key, '-1')],
    ['a hash', (key) => client.hset(key, 'field', '41')],
  ])('with fencing, replies -2 (foreign) and sets nothing when a counter key holds %s', async (kind, plant) => {
    const keys = keysFor(`acquire-fenced-foreign-${kind.replaceAll(' ', '-')}`, 2);
    await plant(keys[1] as string);
    const type = await client.type(keys[1] as string);
    await expect(run(acquireScript, keys, [TOKEN, '10000', '0', '1'])).resolves.toBe(-2);
    expect(await client.exists(keys[0] as string)).toBe(0);
    expect(await client.type(keys[1] as string)).toBe(type);
    await client.del(keys[1] as string);
  });
});

describe('the fence script', () => {
  it('raises every counter to the token without a TTL, never lowers one, and replies 1', async () => {
    const keys = keysFor('fence-raise', 3);
    await client.set(keys[0] as string, '3');
    await client.set(keys[1] as string, '9');
    const reply = await run(fenceScript, keys, ['5']);
    expect(reply).toBe(1);
    expect(parseFenceReply(reply)).toBe('fenced');
    expect(await valuesOf(keys)).toEqual(['5', '9', '5']);
    for (const key of keys) expect(await client.pttl(key)).toBe(-1);
    await client.del(...keys);
  });

  it.each<[string, (key: string) => Promise<unknown>]>([
    ["another owner's lock (a string with a TTL)", (key) => client.set(key, OTHER_TOKEN, 'PX', 10_000)],
    ['a number with a TTL', (key) => client.set(key, '1', 'PX', 10_000)],
    ['a string that is not a number', (key) => client.set(key, 'user-data')],
    ['a number with a leading zero', (key) => client.set(key, '01')],
    ['a hash', (key) => client.hset(key, 'field', '1')],
    ['a list', (key) => client.rpush(key, '1')],
  ])('replies -2 (foreign) and changes no key, all or nothing, when one holds %s', async (kind, plant) => {
    const keys = keysFor(`fence-foreign-${kind.replaceAll(' ', '-')}`, 3);
    await client.set(keys[0] as string, '3');
    await plant(keys[1] as string);
    const type = await client.type(keys[1] as string);
    const value = type === 'string' ? await client.get(keys[1] as string) : null;
    const ttlMs = await client.pttl(keys[1] as string);
    const reply = await run(fenceScript, keys, ['5']);
    expect(reply).toBe(-2);
    expect(parseFenceReply(reply)).toBe('foreign');
    expect(await client.get(keys[0] as string)).toBe('3');
    expect(await client.exists(keys[2] as string)).toBe(0);
    expect(await client.type(keys[1] as string)).toBe(type);
    if (type === 'string') expect(await client.get(keys[1] as string)).toBe(value);
    expect(Math.sign(await client.pttl(keys[1] as string))).toBe(Math.sign(ttlMs));
    await client.del(...keys);
  });
});

describe('the extend script', () => {
  it('resets the TTL of every key and replies 1 when all of them hold the token', async () => {
    const keys = keysFor('extend-all', 3);
    for (const key of keys) await client.set(key, TOKEN, 'PX', 1_000);
    const reply = await run(extendScript, keys, [TOKEN, '60000', '0']);
    expect(reply).toBe(1);
    expect(parseExtendReply(reply)).toBe('extended');
    for (const key of keys) expect(await client.pttl(key)).toBeGreaterThan(59_000);
    expect(await valuesOf(keys)).toEqual([TOKEN, TOKEN, TOKEN]);
  });

  it('replies 0 and changes nothing when another owner holds one key, even when re-seeding', async () => {
    const keys = keysFor('extend-other', 3);
    await client.set(keys[0] as string, TOKEN, 'PX', 1_000);
    await client.set(keys[1] as string, OTHER_TOKEN, 'PX', 1_000);
    for (const reseed of ['0', '1']) {
      const reply = await run(extendScript, keys, [TOKEN, '60000', reseed]);
      expect(reply).toBe(0);
      expect(parseExtendReply(reply)).toBe('not-held');
    }
    for (const key of keys.slice(0, 2)) expect(await client.pttl(key)).toBeLessThanOrEqual(1_000);
    expect(await valuesOf(keys)).toEqual([TOKEN, OTHER_TOKEN, null]);
  });

  it('replies 2 when a key is gone: changes nothing unless re-seeding, then sets it again with the token', async () => {
    const keys = keysFor('extend-gone', 3);
    await client.set(keys[0] as string, TOKEN, 'PX', 1_000);
    await client.set(keys[2] as string, TOKEN, 'PX', 1_000);
    const reply = await run(extendScript, keys, [TOKEN, '60000', '0']);
    expect(reply).toBe(2);
    expect(parseExtendReply(reply)).toBe('missing');
    expect(await valuesOf(keys)).toEqual([TOKEN, null, TOKEN]);
    expect(await client.pttl(keys[0] as string)).toBeLessThanOrEqual(1_000);

    expect(await run(extendScript, keys, [TOKEN, '60000', '1'])).toBe(2);
    expect(await valuesOf(keys)).toEqual([TOKEN, TOKEN, TOKEN]);
    for (const key of keys) expect(await client.pttl(key)).toBeGreaterThan(59_000);
  });
});

describe('the release script', () => {
  it('deletes only the keys that hold the token and replies how many it deleted', async () => {
    const keys = keysFor('release-some', 4);
    await client.set(keys[0] as string, TOKEN, 'PX', 10_000);
    await client.set(keys[1] as string, OTHER_TOKEN, 'PX', 10_000);
    await client.set(keys[3] as string, TOKEN, 'PX', 10_000);
    const reply = await run(releaseScript, keys, [TOKEN]);
    expect(reply).toBe(2);
    expect(parseReleaseReply(reply, keys.length)).toBe('released');
    expect(await valuesOf(keys)).toEqual([null, OTHER_TOKEN, null, null]);
  });

  it('replies 0 and deletes nothing when no key holds the token', async () => {
    const keys = keysFor('release-none', 2);
    await client.set(keys[0] as string, OTHER_TOKEN, 'PX', 10_000);
    const reply = await run(releaseScript, keys, [TOKEN]);
    expect(reply).toBe(0);
    expect(parseReleaseReply(reply, keys.length)).toBe('not-held');
    expect(await valuesOf(keys)).toEqual([OTHER_TOKEN, null]);
  });

  it('announces each key on its release channel, deleted or not, where the quiet release announces nothing', async () => {
    const keys = keysFor('release-announce', 3);
    const subscriber = redis.createClient(0);
    const heard: string[] = [];
    subscriber.on('message', (channel: string) => heard.push(channel));
    await subscriber.subscribe(...keys.map(releaseChannelOf));
    await client.set(keys[0] as string, TOKEN, 'PX', 10_000);
    await client.set(keys[1] as string, OTHER_TOKEN, 'PX', 10_000);
    await client.set(keys[2] as string, TOKEN, 'PX', 10_000);
    expect(await run(quietReleaseScript, keys.slice(0, 1), [TOKEN])).toBe(1);
    expect(await run(releaseScript, keys, [TOKEN])).toBe(1);
    // A round trip on the subscriber connection delivers every message published before it.
    await subscriber.unsubscribe();
    // Not deleted, still announced: key 0 (already released) and key 1 (another owner's).
    expect(heard).toEqual(keys.map(releaseChannelOf));
    expect(await valuesOf(keys)).toEqual([null, OTHER_TOKEN, null]);
  });
});

describe('the inspect script', () => {
  it("replies a lock's remaining TTL, -1 for a key that is not a lock and -2 when absent, never a value", async () => {
    const keys = keysFor('inspect', 5);
    await client.set(keys[0] as string, TOKEN, 'PX', 10_000);
    await client.set(keys[1] as string, TOKEN);
    await client.multi().hset(keys[2] as string, 'field', TOKEN).pexpire(keys[2] as string, 10_000).exec();
    await client.rpush(keys[3] as string, TOKEN);
    const replies = await Promise.all(keys.map((key) => run(inspectScript, [key], [])));
    expect(replies[0]).toBeGreaterThan(9_000);
    expect(replies.slice(1)).toEqual([-1, -1, -1, -2]);
    expect(replies.map(parseInspectReply).slice(1)).toEqual(['foreign', 'foreign', 'foreign', 'free']);
    await client.del(...keys.slice(1));
  });
});

describe('the permit scripts (a semaphore of limit 3 as slots in a hash)', () => {
  const take = (key: string, token: string, permits: number, firstSlot: number, { ttlMs = 10_000, limit = 3, graceMs = 0 } = {}) =>
    run(permitAcquireScript, [key], permitAcquireArgsOf(token, ttlMs, permits, limit, graceMs, firstSlot)).then((reply) => parsePermitAcquireReply(reply, permits, limit));

  it('takes free slots from the first one asked, wrapping around, and records the limit', async () => {
    const [key] = keysFor('permit-order', 1) as [string];
    expect(await take(key, TOKEN, 2, 3)).toEqual({ status: 'admitted', slots: [3, 1], free: [2] });
    expect(await client.hget(key, 'limit')).toBe('3');
    expect(await client.pttl(key)).toBeGreaterThan(9_000);
    // A re-sent call gets the slots it took, and takes no more.
    expect(await take(key, TOKEN, 2, 2)).toEqual({ status: 'admitted', slots: [1, 3], free: [2] });
    expect(await take(key, OTHER_TOKEN, 1, 1)).toEqual({ status: 'admitted', slots: [2], free: [] });
    expect(await take(key, 'a-third-owner', 1, 1)).toEqual({ status: 'full', free: [] });
  });

  it('takes exactly the slots asked for in a second round, where each is free or ours, and frees our others', async () => {
    const [key] = keysFor('permit-settle', 1) as [string];
    const settle = (token: string, slots: number[]) =>
      run(permitAcquireScript, [key], permitAcquireArgsOf(token, 10_000, slots.length, 3, 0, 0, slots)).then((reply) => parsePermitAcquireReply(reply, slots.length, 3));
    await take(key, TOKEN, 1, 1);
    await take(key, OTHER_TOKEN, 1, 2);
    // Slot 2 is another holder's: nothing changes.
    expect(await settle(TOKEN, [2])).toEqual({ status: 'full', free: [3] });
    expect(await client.hget(key, '1')).toMatch(new RegExp(`:${TOKEN}$`));
    // Slot 3 is free: ours now, and our slot 1 is freed.
    expect(await settle(TOKEN, [3])).toEqual({ status: 'admitted', slots: [3], free: [1] });
    expect(Object.keys(await client.hgetall(key)).sort()).toEqual(['2', '3', 'limit']);
  });

  it('frees a slot whose expiry passed on the node, and refuses other limits and foreign keys, changing nothing', async () => {
    const [key, lockKey, otherHash] = keysFor('permit-refusals', 3) as [string, string, string];
    await take(key, TOKEN, 1, 1, { ttlMs: 1, limit: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await take(key, OTHER_TOKEN, 1, 1, { limit: 1 })).toEqual({ status: 'admitted', slots: [1], free: [] });
    expect(await take(key, TOKEN, 1, 1, { limit: 2 })).toEqual({ status: 'other-limit', recordedLimit: 1 });
    await client.set(lockKey, OTHER_TOKEN, 'PX', 10_000);
    expect(await take(lockKey, TOKEN, 1, 1)).toEqual({ status: 'foreign' });
    await client.hset(otherHash, 'field', 'value');
    expect(await take(otherHash, TOKEN, 1, 1)).toEqual({ status: 'foreign' });
    expect(await client.hgetall(otherHash)).toEqual({ field: 'value' });
    // A node inside its restart grace admits nothing.
    expect(await take(keysFor('permit-grace', 1)[0] as string, TOKEN, 1, 1, { graceMs: 2_000_000_000 })).toEqual({ status: 'restarting' });
  });

  it('extends only slots that hold our token unexpired, all or none', async () => {
    const [key] = keysFor('permit-extend', 1) as [string];
    await take(key, TOKEN, 2, 1);
    await take(key, OTHER_TOKEN, 1, 1);
    const extend = (token: string, slots: string[]) => run(permitExtendScript, [key], [token, '60000', ...slots]).then(parsePermitExtendReply);
    expect(await extend(TOKEN, ['1', '2'])).toBe('extended');
    expect(await client.pttl(key)).toBeGreaterThan(50_000);
    expect(await extend(TOKEN, ['1', '3'])).toBe('not-held');
    expect(await extend(OTHER_TOKEN, ['3'])).toBe('extended');
  });

  it('inspects the slots taken by this node\'s clock with an opaque holder id, never a token, and changes nothing', async () => {
    const [key, lockKey, otherHash, missing] = keysFor('permit-inspect', 4) as [string, string, string, string];
    const inspect = (target: string) => run(permitInspectScript, [target], []).then(parsePermitInspectReply);
    await take(key, TOKEN, 2, 1);
    await take(key, OTHER_TOKEN, 1, 1, { ttlMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const before = await client.hgetall(key);
    const holder = createHash('sha1').update(TOKEN).digest('hex').slice(0, 12);
    const found = await inspect(key);
    expect(found).toEqual({ limit: 3, slots: expect.arrayContaining([expect.objectContaining({ slot: 1, holder }), expect.objectContaining({ slot: 2, holder })]) });
    // The expired slot of the other owner is not reported; each slot has about its TTL left.
    expect(typeof found === 'object' && found.slots.length).toBe(2);
    expect(typeof found === 'object' && found.slots.every((slot) => slot.remainingMs > 9_000 && slot.remainingMs <= 10_000)).toBe(true);
    expect(JSON.stringify(found)).not.toContain(TOKEN);
    expect(await client.hgetall(key)).toEqual(before);
    await client.set(lockKey, OTHER_TOKEN, 'PX', 10_000);
    await client.hset(otherHash, 'field', 'value');
    expect([await inspect(lockKey), await inspect(otherHash), await inspect(missing)]).toEqual(['foreign', 'foreign', 'free']);
  });

  it('frees only our slots (but those kept), announces when asked, and removes the key with the last slot', async () => {
    const [key] = keysFor('permit-release', 1) as [string];
    await take(key, TOKEN, 2, 1);
    await take(key, OTHER_TOKEN, 1, 1);
    const release = (script: LuaScript, token: string, kept: string[] = []) => run(script, [key], [token, '', ...kept]).then(parsePermitReleaseReply);
    expect(await release(quietPermitReleaseScript, TOKEN, ['2'])).toBe('released');
    expect(Object.keys(await client.hgetall(key)).sort()).toEqual(['2', '3', 'limit']);
    expect(await release(quietPermitReleaseScript, 'nobody')).toBe('not-held');
    const subscriber = client.duplicate();
    try {
      await subscriber.subscribe(releaseChannelOf(key));
      const announced = new Promise((resolve) => subscriber.once('message', resolve));
      expect(await release(permitReleaseScript, TOKEN)).toBe('released');
      await expect(announced).resolves.toBe(releaseChannelOf(key));
    } finally {
      subscriber.disconnect();
    }
    expect(await release(permitReleaseScript, OTHER_TOKEN)).toBe('released');
    expect(await client.exists(key)).toBe(0);
  });
});
