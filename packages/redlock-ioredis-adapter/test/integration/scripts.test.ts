import { createHash, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Redis } from 'ioredis';
// Test-only deep imports: the scripts are internal to the core, and this file checks them against real Redis.
import { acquireArgsOf, acquireScript, parseAcquireReply } from '../../../redlock-core/src/scripts/acquire.js';
import { extendScript, parseExtendReply } from '../../../redlock-core/src/scripts/extend.js';
import { fenceKeyOf, fenceScript, parseFenceReply } from '../../../redlock-core/src/scripts/fence.js';
import { inspectScript, parseInspectReply } from '../../../redlock-core/src/scripts/inspect.js';
import { LABEL_CHANNEL_PREFIX, labelKeyOf } from '../../../redlock-core/src/scripts/label.js';
import { type LuaScript, runScript } from '../../../redlock-core/src/scripts/lua-script.js';
import { freeSlotsOf, parsePermitAcquireReply, permitAcquireArgsOf, permitAcquireScript } from '../../../redlock-core/src/scripts/permit-acquire.js';
import { KNOWN_SCRIPTS } from '../../../redlock-core/src/testing/fake-adapter.js';
import { parsePermitExtendReply, permitExtendArgsOf, permitExtendScript } from '../../../redlock-core/src/scripts/permit-extend.js';
import { parsePermitInspectReply, permitInspectScript } from '../../../redlock-core/src/scripts/permit-inspect.js';
import { parsePermitReleaseReply, permitReleaseScript, quietPermitReleaseScript } from '../../../redlock-core/src/scripts/permit-release.js';
import { NO_INTENT, parseReadWriteAcquireReply, readWriteAcquireArgsOf, readWriteAcquireScript, type ReadWriteMode } from '../../../redlock-core/src/scripts/read-write-acquire.js';
import { parseReadWriteInspectReply, readWriteInspectScript } from '../../../redlock-core/src/scripts/read-write-inspect.js';
import { parseReleaseReply, quietReleaseScript, releaseScript } from '../../../redlock-core/src/scripts/release.js';
import { leaveQueueScript } from '../../../redlock-core/src/scripts/leave-queue.js';
import { handOffScript } from '../../../redlock-core/src/scripts/hand-off.js';
import { BY_PATTERN_MARK, hasWaitQueue, QUEUE_OF_LUA, RESERVE_UNITS, RESERVED_PREFIX, WAIT_QUEUE_TTL_MS, wakeChannelOf, wakeTicketOf } from '../../../redlock-core/src/scripts/wake-queue.js';
import { Redlock, type RedlockOptions } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { eventually } from '../support/eventually.js';
import { itWithFaults, useRedisNodes } from '../support/redis-servers.js';

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

/** The wait queue of a key without a hash tag, as the scripts name it (wake-queue.ts): in the key's slot. */
const queueOf = (key: string): string => `{${key}}:w`;

/** The members of `key`'s wait queue, head first. */
const queuedOn = (key: string): Promise<string[]> => client.zrange(queueOf(key), '0', '-1');

/** A queue member of this run's own, so no other connection listens on its wake channel. */
const memberNamed = (name: string): string => `${name}.${randomUUID().slice(0, 8)}`;

/** A waiter's ticket: at `place`, or without one, asking the node for one. */
const ticketOf = (member: string, place?: number): string => wakeTicketOf(member, place);

/** The node's clock, in milliseconds, as the scripts read it. */
async function nodeNowMs(): Promise<number> {
  const [seconds, microseconds] = await client.time();
  return Number(seconds) * 1000 + Math.floor(Number(microseconds) / 1000);
}

/**
 * Listens on the wake channels of `members`, on a connection of its own; `heard()` ends the listening and
 * resolves with the members woken meanwhile, in order, and the messages.
 */
async function listenFor(...members: string[]): Promise<{ heard(): Promise<string[]>; messages: string[] }> {
  const subscriber = redis.createClient(0);
  const heard: string[] = [];
  const messages: string[] = [];
  subscriber.on('message', (channel: string, message: string) => {
    heard.push(channel.slice(wakeChannelOf('').length));
    messages.push(message);
  });
  await subscriber.subscribe(...members.map(wakeChannelOf));
  return {
    messages,
    async heard() {
      // A round trip on the subscriber connection delivers every message published before it.
      await subscriber.unsubscribe();
      subscriber.disconnect();
      return heard;
    },
  };
}

// Every script the core defines.
describe.each([...KNOWN_SCRIPTS])('the $name script $sha1', (script) => {
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

  it('never shortens a key when re-seeding, where an extension sets the TTL it is given', async () => {
    const keys = keysFor('extend-never-shorter', 2);
    await client.set(keys[0] as string, TOKEN, 'PX', 60_000);
    // A re-seed sent with the TTL the keys had left, arriving after an extension that gave them more.
    expect(await run(extendScript, keys, [TOKEN, '5000', '1'])).toBe(2);
    expect(await valuesOf(keys)).toEqual([TOKEN, TOKEN]);
    expect(await client.pttl(keys[0] as string)).toBeGreaterThan(59_000);
    expect(await client.pttl(keys[1] as string)).toBeLessThanOrEqual(5_000);
    // A re-seed with more lengthens; an extension sets what it is given, shorter or not.
    expect(await run(extendScript, keys, [TOKEN, '90000', '1'])).toBe(1);
    for (const key of keys) expect(await client.pttl(key)).toBeGreaterThan(89_000);
    expect(await run(extendScript, keys, [TOKEN, '5000', '0'])).toBe(1);
    for (const key of keys) expect(await client.pttl(key)).toBeLessThanOrEqual(5_000);
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

  it('runs GET, DEL and one PTTL per key where nobody waits, and the wait queue\'s commands only where someone does', async () => {
    // Nearly every release is of an uncontended lock: reading a queue that is not there cost a node a third
    // of its work per lock (a ZRANGE, and the wake's functions made on every run).
    const [alone, waited] = keysFor('release-cost', 2) as [string, string];
    const waiting = memberNamed('waiting');
    await client.zadd(queueOf(waited), 1, waiting);
    const monitor = await redis.createClient(0).monitor();
    const inScripts: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === 'lua' && args.some((arg) => arg.includes('release-cost') || arg.includes(waiting))) inScripts.push(`${args[0]?.toLowerCase()} ${args[1] === alone || args[1] === queueOf(alone) ? 'alone' : 'waited'}`);
    });
    try {
      for (const key of [alone, waited]) await client.set(key, TOKEN, 'PX', 10_000);
      expect(await run(releaseScript, [alone, waited], [TOKEN])).toBe(2);
      await eventually(() => inScripts.length, (count) => count >= 10, 2_000);
      expect(inScripts.filter((command) => command.endsWith('alone'))).toEqual(['get alone', 'del alone', 'pttl alone']);
      // Nobody hears the member (its process is gone; a fair waiter that polls would have a lease): it leaves,
      // and the next one is looked for.
      expect(inScripts.filter((command) => command.endsWith('waited'))).toEqual(['get waited', 'del waited', 'pttl waited', 'zrange waited', 'publish waited', 'hget waited', 'zrem waited', 'zrange waited']);
    } finally {
      monitor.disconnect();
      await client.del(queueOf(waited));
    }
  });

  it('replies 0 and deletes nothing when no key holds the token', async () => {
    const keys = keysFor('release-none', 2);
    await client.set(keys[0] as string, OTHER_TOKEN, 'PX', 10_000);
    const reply = await run(releaseScript, keys, [TOKEN]);
    expect(reply).toBe(0);
    expect(parseReleaseReply(reply, keys.length)).toBe('not-held');
    expect(await valuesOf(keys)).toEqual([OTHER_TOKEN, null]);
  });

  it('wakes the head of the wait queue of each key it deleted, where the quiet release wakes nobody', async () => {
    const keys = keysFor('release-wake', 3);
    const [first, second, third] = [memberNamed('first'), memberNamed('second'), memberNamed('third')];
    for (const key of keys) await client.zadd(queueOf(key), 1, first, 2, second);
    await client.zadd(queueOf(keys[2] as string), 3, third);
    await client.set(keys[0] as string, TOKEN, 'PX', 10_000);
    await client.set(keys[1] as string, OTHER_TOKEN, 'PX', 10_000);
    await client.set(keys[2] as string, TOKEN, 'PX', 10_000);
    const listening = await listenFor(first, second, third);
    expect(await run(quietReleaseScript, keys.slice(0, 1), [TOKEN])).toBe(1);
    await client.set(keys[0] as string, TOKEN, 'PX', 10_000);
    expect(await run(releaseScript, keys, [TOKEN])).toBe(2);
    // One wake per key deleted, to its queue's head, with the message '1'; none for another owner's key. The
    // head keeps its place until it is granted: the next release wakes it again, on every node alike.
    expect(await listening.heard()).toEqual([first, first]);
    expect(listening.messages).toEqual(['1', '1']);
    expect(await Promise.all(keys.map(queuedOn))).toEqual([[first, second], [first, second], [first, second, third]]);
    expect(await valuesOf(keys)).toEqual([null, OTHER_TOKEN, null]);
    await client.del(...keys.map(queueOf), keys[1] as string);
  });

  it('wakes nobody where it deletes nothing: a key not ours, or already gone', async () => {
    const [key] = keysFor('release-wake-not-ours', 1) as [string];
    const waiting = memberNamed('waiting');
    await client.zadd(queueOf(key), 1, waiting);
    const listening = await listenFor(waiting);
    expect(await run(releaseScript, [key], [TOKEN])).toBe(0);
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    expect(await run(releaseScript, [key], [TOKEN])).toBe(0);
    expect(await listening.heard()).toEqual([]);
    expect(await queuedOn(key)).toEqual([waiting]);
    await client.del(key, queueOf(key));
  });

  it('drops a member nobody hears (its process stopped waiting) and wakes the next, which keeps its place', async () => {
    // A pattern subscription that matches the wake channels (a GLIDE client's, on a node shared with other
    // test files) would count as hearing every wake: these are local nodes of this file's own.
    const [key] = keysFor('release-wake-skip', 1) as [string];
    const [gone, alsoGone, waiting, behind] = ['gone', 'also-gone', 'waiting', 'behind'].map(memberNamed) as [string, string, string, string];
    await client.zadd(queueOf(key), 1, gone, 2, alsoGone, 3, waiting, 4, behind);
    await client.set(key, TOKEN, 'PX', 10_000);
    const listening = await listenFor(waiting, behind);
    expect(await run(releaseScript, [key], [TOKEN])).toBe(1);
    expect(await listening.heard()).toEqual([waiting]);
    expect(await queuedOn(key)).toEqual([waiting, behind]);
    // With nobody listening at all, the release empties the queue: each member was tried once.
    await client.set(key, TOKEN, 'PX', 10_000);
    expect(await run(releaseScript, [key], [TOKEN])).toBe(1);
    expect(await client.exists(queueOf(key))).toBe(0);
  });

  it('counts a member heard when its own channel has a subscriber, though a pattern hears every wake (a GLIDE client\'s)', async () => {
    const [key, reserved] = keysFor('release-wake-pattern', 2) as [string, string];
    const [gone, waiting, behind] = ['gone', 'waiting', 'behind'].map(memberNamed) as [string, string, string];
    // A member of a process that hears wakes through a pattern itself: `+` and its wake id.
    const byPattern = `${BY_PATTERN_MARK}${memberNamed('by-pattern')}`;
    await client.zadd(queueOf(key), 1, gone, 2, waiting, 3, behind);
    await client.zadd(queueOf(reserved), 1 + 300 / RESERVE_UNITS, byPattern, 2, waiting);
    const pattern = redis.createClient(0);
    const heardByPattern: string[] = [];
    pattern.on('pmessage', (_pattern: string, channel: string) => heardByPattern.push(channel.slice(wakeChannelOf('').length)));
    await pattern.psubscribe(wakeChannelOf('*'));
    try {
      const listening = await listenFor(waiting, behind);
      for (const each of [key, reserved]) await client.set(each, TOKEN, 'PX', 10_000);
      expect(await run(releaseScript, [key, reserved], [TOKEN])).toBe(2);
      // `gone` has no subscriber of its own: skipped, though the pattern heard it; `waiting` keeps its place.
      expect(await queuedOn(key)).toEqual([waiting, behind]);
      // The marked member is heard by whoever hears the pattern: woken once, the key reserved for it, and off
      // the queue (its process queues it again where it is refused next).
      expect(await queuedOn(reserved)).toEqual([waiting]);
      expect(await client.get(reserved)).toBe(`${RESERVED_PREFIX}${byPattern}`);
      expect(await client.pttl(reserved)).toBeGreaterThan(0);
      expect(await listening.heard()).toEqual([waiting]);
      await pattern.punsubscribe();
      expect(heardByPattern).toEqual([gone, waiting, byPattern]);
    } finally {
      pattern.disconnect();
      await client.del(queueOf(key), queueOf(reserved), reserved);
    }
  });

  it("removes the releaser's own member (its ticket, ARGV[2]) first, so a process that won by a plain SET never wakes itself", async () => {
    const [key] = keysFor('release-wake-own', 1) as [string];
    const [own, next] = [memberNamed('own'), memberNamed('next')];
    // The releaser queued first, then took the lock by a plain SET, which leaves no queue.
    await client.zadd(queueOf(key), 1, own, 2, next);
    await client.set(key, TOKEN, 'PX', 10_000);
    const listening = await listenFor(own, next);
    expect(await run(releaseScript, [key], [TOKEN, ticketOf(own, 1)])).toBe(1);
    expect(await listening.heard()).toEqual([next]);
    expect(await queuedOn(key)).toEqual([next]);
    await client.del(queueOf(key));
  });
});

describe('the wait queues (wake-queue.ts): a sorted set beside each key, of the waiting processes\' members', () => {
  const acquire = (keys: readonly string[], token: string, ticket: string) => run(acquireScript, keys, acquireArgsOf(token, 10_000, 0, false, ticket));

  it('has a refused acquire with a ticket (ARGV[5]) join the queue of each key, after its last, and reply with that place', async () => {
    const keys = keysFor('queue-join', 2);
    const [early, late] = [memberNamed('early'), memberNamed('late')];
    await client.set(keys[1] as string, OTHER_TOKEN, 'PX', 10_000);
    // A ticket without a place asks the node for one: no clock is read, the client's or the node's.
    expect(acquireArgsOf(TOKEN, 10_000, 0, false, ticketOf(early))).toEqual([TOKEN, '10000', '0', '0', `:${early}`]);
    expect(await acquire(keys, TOKEN, ticketOf(early))).toEqual([0, 1]);
    expect(await acquire(keys, 'a-later-waiter', ticketOf(late))).toEqual([0, 2]);
    expect(await Promise.all(keys.map(queuedOn))).toEqual([[early, late], [early, late]]);
    for (const key of keys) {
      // The queue outlives its latest refusal by WAIT_QUEUE_TTL_MS, so a member whose process died goes with it.
      expect(await client.pttl(queueOf(key))).toBeGreaterThan(WAIT_QUEUE_TTL_MS - 1_000);
      expect(await client.pttl(queueOf(key))).toBeLessThanOrEqual(WAIT_QUEUE_TTL_MS);
    }
    // Asked again, a node keeps the member's place.
    expect(await acquire(keys, 'its-next-attempt', ticketOf(early))).toEqual([0, 1]);
    // A ticket with a place (the highest a quorum of nodes reported) sets it, here behind the later waiter; the
    // reply says no place: the caller knows it.
    expect(await acquire(keys, 'its-next-attempt', ticketOf(early, 3))).toBe(0);
    expect(await Promise.all(keys.map(queuedOn))).toEqual([[late, early], [late, early]]);
    expect(await client.zscore(queueOf(keys[0] as string), early)).toBe('3');
    // A member placed differently on each key is told the highest.
    const third = memberNamed('third');
    await client.zadd(queueOf(keys[0] as string), 7, third);
    expect(await acquire(keys, 'a-third-waiter', ticketOf(third))).toEqual([0, 7]);
    expect(await client.zscore(queueOf(keys[1] as string), third)).toBe('4');
    // Granted (the holder gone), the member leaves every queue; the keys are set as without a ticket.
    await client.del(keys[1] as string);
    expect(await acquire(keys, TOKEN, ticketOf(early, 3))).toBe(1);
    expect(await Promise.all(keys.map(queuedOn))).toEqual([[late, third], [late, third]]);
    expect(await valuesOf(keys)).toEqual([TOKEN, TOKEN]);
    await client.del(...keys, ...keys.map(queueOf));
  });

  it('numbers a new member one after the last place, whatever came before: an intent first, a reservation, an emptied queue', async () => {
    const [key] = keysFor('queue-number', 1) as [string];
    const [first, second, third] = [memberNamed('first'), memberNamed('second'), memberNamed('third')];
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    await client.zadd(queueOf(key), '-inf', first, 4 + 300 / RESERVE_UNITS, second);
    expect(await acquire([key], TOKEN, ticketOf(third))).toEqual([0, 5]);
    // A member first (an intent's `-inf`) keeps that, and is told no place.
    expect(await acquire([key], TOKEN, ticketOf(first))).toBe(0);
    expect(await client.zscore(queueOf(key), first)).toBe('-inf');
    // Without a place, a ticket's reservation keeps the member's place (a semaphore's waiter close to giving up).
    expect(wakeTicketOf(third, undefined, 300)).toBe(`${String(300 / RESERVE_UNITS).slice(1)}:${third}`);
    expect(await acquire([key], TOKEN, wakeTicketOf(third, undefined, 300))).toEqual([0, 5]);
    expect(Number(await client.zscore(queueOf(key), third))).toBe(5 + 300 / RESERVE_UNITS);
    await client.del(queueOf(key));
    expect(await acquire([key], TOKEN, ticketOf(third))).toEqual([0, 1]);
    await client.del(key, queueOf(key));
  });

  it('renews the queue\'s TTL where a new member joins, and for a member already queued once half of it is gone', async () => {
    const [key] = keysFor('queue-ttl', 1) as [string];
    const [first, second] = [memberNamed('first'), memberNamed('second')];
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    const refusedWith = async (member: string): Promise<number> => {
      expect(await acquire([key], TOKEN, ticketOf(member))).toEqual([0, expect.any(Number)]);
      return client.pttl(queueOf(key));
    };
    expect(await refusedWith(first)).toBeGreaterThan(WAIT_QUEUE_TTL_MS - 1_000);
    // More than half left: a member already queued leaves the TTL as it is (a PTTL, not a PEXPIRE, per refusal)...
    await client.pexpire(queueOf(key), WAIT_QUEUE_TTL_MS / 2 + 10_000);
    expect(await refusedWith(first)).toBeLessThanOrEqual(WAIT_QUEUE_TTL_MS / 2 + 10_000);
    // ...a new member renews it...
    expect(await refusedWith(second)).toBeGreaterThan(WAIT_QUEUE_TTL_MS - 1_000);
    // ...and so does a member already queued once less than half is left: a queue whose waiters wait on never expires.
    await client.pexpire(queueOf(key), WAIT_QUEUE_TTL_MS / 2 - 10_000);
    expect(await refusedWith(first)).toBeGreaterThan(WAIT_QUEUE_TTL_MS - 1_000);
    expect(await queuedOn(key)).toEqual([first, second]);
    await client.del(key, queueOf(key));
  });

  it('queues nothing without a ticket (the plain 2-argument form), nor where a key is foreign or the node restarting', async () => {
    const [held, foreign, graced] = keysFor('queue-none', 3) as [string, string, string];
    await client.set(held, OTHER_TOKEN, 'PX', 10_000);
    await client.rpush(foreign, 'not-a-lock');
    expect(await run(acquireScript, [held], [TOKEN, '10000'])).toBe(0);
    expect(await run(acquireScript, [held], [TOKEN, '10000', '0', '0', ''])).toBe(0);
    expect(await acquire([foreign], TOKEN, ticketOf(memberNamed('foreign')))).toBe(-2);
    expect(await run(acquireScript, [graced], [TOKEN, '10000', '2000000000', '0', ticketOf(memberNamed('graced'))])).toBe(-1);
    expect(await client.exists(queueOf(held), queueOf(foreign), queueOf(graced))).toBe(0);
    await client.del(held, foreign);
  });

  it('keeps the queue of a key with a hash tag at `<key>:w`, which shares the tag, and none for a key whose `}` closes no hash tag', async () => {
    const tagged = `{${KEY_PREFIX}queue-tag}:orders`;
    const untaggable = `${KEY_PREFIX}queue-no-tag}`;
    const member = memberNamed('tagged');
    for (const key of [tagged, untaggable]) await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    expect(await acquire([tagged], TOKEN, ticketOf(member))).toEqual([0, 1]);
    expect(await client.zrange(`${tagged}:w`, '0', '-1')).toEqual([member]);
    // Its waiters wake on their timers: the script names no queue outside the key's slot.
    expect(await acquire([untaggable], TOKEN, ticketOf(member))).toBe(0);
    expect(await client.keys(`*${KEY_PREFIX}queue-no-tag*`)).toEqual([untaggable]);
    await client.del(tagged, `${tagged}:w`, untaggable);
  });

  it("names the queue after the key as the node sees it, ioredis' keyPrefix included, and wakes on a channel no prefix touches", async () => {
    const prefixed = redis.createClient(0, { keyPrefix: 'app:' });
    const [key] = keysFor('queue-key-prefix', 1) as [string];
    const member = memberNamed('prefixed');
    await client.set(`app:${key}`, OTHER_TOKEN, 'PX', 10_000);
    expect(await prefixed.eval(acquireScript.source, 1, key, ...acquireArgsOf(TOKEN, 10_000, 0, false, ticketOf(member)))).toEqual([0, 1]);
    expect(await client.zrange(queueOf(`app:${key}`), '0', '-1')).toEqual([member]);
    expect(await client.exists(queueOf(key))).toBe(0);
    const listening = await listenFor(member);
    expect(await prefixed.eval(releaseScript.source, 1, key, OTHER_TOKEN)).toBe(1);
    expect(await listening.heard()).toEqual([member]);
    expect(await client.zrange(queueOf(`app:${key}`), '0', '-1')).toEqual([member]);
    await client.del(queueOf(`app:${key}`));
  });
});

describe('a fair acquisition (ARGV[6], the lease of a waiter) and the leave script', () => {
  const LEASE_MS = 1_000;
  /** A fair attempt of `token` with `ticket` (none: a single try), telling the node whether it `listens` for its wakes. */
  const acquireFairly = (keys: readonly string[], token: string, ticket = '', listens = false) => run(acquireScript, keys, acquireArgsOf(token, 10_000, 0, false, ticket, LEASE_MS, listens));
  const leasesOf = (key: string): string => `{${key}}:l`;
  const acquire = (keys: readonly string[], token: string, ticket: string) => run(acquireScript, keys, acquireArgsOf(token, 10_000, 0, false, ticket));

  it('grants a free key only to the first live waiter of its queue, queues a newcomer behind with a lease, and renews it', async () => {
    const [key] = keysFor('fair-turn', 1) as [string];
    const [first, newcomer] = [memberNamed('first'), memberNamed('newcomer')];
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    const listening = await listenFor(first);
    expect(await acquireFairly([key], 'first', ticketOf(first), true)).toEqual([0, 1]);
    expect(await run(releaseScript, [key], [OTHER_TOKEN])).toBe(1);
    // The key is free, and first's: a fair newcomer queues behind it, a fair single try is refused.
    expect(await acquireFairly([key], 'newcomer', ticketOf(newcomer))).toEqual([0, 2]);
    expect(await acquireFairly([key], 'a-single-try')).toBe(0);
    expect(await queuedOn(key)).toEqual([first, newcomer]);
    const [expiry, listens] = String(await client.hget(leasesOf(key), newcomer)).split(':');
    expect(Number(expiry) - (await nodeNowMs())).toBeGreaterThan(LEASE_MS - 200);
    // It said it listens for no wake: it polls.
    expect(listens).toBe('0');
    expect((await client.hget(leasesOf(key), first))?.endsWith(':1')).toBe(true);
    expect(await client.get(key)).toBeNull();
    // The default takes a free key whoever waits: fair calls never make it wait.
    expect(await acquire([key], 'a-default-call', '')).toBe(1);
    await client.del(key);
    expect(await acquireFairly([key], TOKEN, ticketOf(first, 1))).toBe(1);
    // Granted, it stays first until it releases: an attempt that failed elsewhere keeps its place here.
    expect(await queuedOn(key)).toEqual([first, newcomer]);
    expect(await run(releaseScript, [key], [TOKEN, ticketOf(first, 1)])).toBe(1);
    expect(await queuedOn(key)).toEqual([newcomer]);
    expect(await client.hexists(leasesOf(key), first)).toBe(0);
    // Woken by the release, then by each fair call refused on the free key for it (the newcomer, the single
    // try): it may have become first after its last attempt, and be waiting for a release that came before.
    expect(await listening.heard()).toEqual([first, first, first]);
    await client.del(key, queueOf(key), leasesOf(key));
  });

  it('skips a waiter whose lease ran out, one that listened and no longer does, and a default waiter nobody hears; wakes the next', async () => {
    const [key] = keysFor('fair-skip', 1) as [string];
    const [paused, gone, defaultGone, next, asking] = ['paused', 'gone', 'default-gone', 'next', 'asking'].map(memberNamed) as [string, string, string, string, string];
    const now = await nodeNowMs();
    await client.zadd(queueOf(key), 1, paused, 2, gone, 3, defaultGone, 4, next, 5, asking);
    await client.hset(leasesOf(key), paused, `${now - 1}:0`, gone, `${now + 60_000}:1`, next, `${now + 60_000}:1`, asking, `${now + 60_000}:1`);
    const listening = await listenFor(next);
    // The first live one is `next`: the dead ahead of it leave, and it is woken (its wake may have come and gone).
    expect(await acquireFairly([key], 'asking', ticketOf(asking, 5))).toBe(0);
    expect(await queuedOn(key)).toEqual([next, asking]);
    expect(await client.hkeys(leasesOf(key))).toEqual(expect.arrayContaining([next, asking]));
    expect(await client.hlen(leasesOf(key))).toBe(2);
    expect(await listening.heard()).toEqual([next]);
    // `next` gone too: `asking` is first now, and gets it.
    expect(await acquireFairly([key], TOKEN, ticketOf(asking, 5))).toBe(1);
    expect(await queuedOn(key)).toEqual([asking]);
    await client.del(key, queueOf(key), leasesOf(key));
  });

  it('tells a fair ticket without a place where a grant queued it, beside the fencing counter; a ticket with one, no more', async () => {
    const [key, other] = keysFor('fair-grant-place', 2) as [string, string];
    // A waiter nobody hears any more left place 4 here: dropped on the way, it still numbers the next place.
    await client.zadd(queueOf(key), 4, memberNamed('gone'));
    const asking = memberNamed('asking');
    expect(await acquireFairly([key], TOKEN, ticketOf(asking))).toEqual([1, 0, 5]);
    expect(await queuedOn(key)).toEqual([asking]);
    expect(parseAcquireReply([1, 0, 5])).toBe('acquired');
    const fenced = await run(acquireScript, [other, fenceKeyOf(other)], acquireArgsOf(TOKEN, 10_000, 0, true, ticketOf(asking), LEASE_MS, false));
    expect(fenced).toEqual([1, 0, 1]);
    await client.del(key, other);
    expect(await acquireFairly([key], TOKEN, ticketOf(asking, 5))).toBe(1);
    await client.del(key, other, queueOf(key), queueOf(other), leasesOf(key), leasesOf(other));
  });

  it('names a wait queue for exactly the keys a fair call accepts (`hasWaitQueue`)', async () => {
    const keys = ['jobs', 'jobs{1}', '{jobs}1', 'a{b}c}', '{}x', 'x{', 'x}', '}{a}', 'a}{b}', '{a', '{}', 'a{}b}'];
    const named = await client.eval(`${QUEUE_OF_LUA}\nlocal named = {}\nfor i, key in ipairs(KEYS) do named[i] = queueOf(key) and 1 or 0 end\nreturn named`, keys.length, ...keys);
    expect((named as number[]).map((each) => each === 1)).toEqual(keys.map(hasWaitQueue));
  });

  it('sets a fair caller\'s place before its turn is judged: one kept lower from before does not make it first', async () => {
    const [key] = keysFor('fair-place-first', 1) as [string];
    const [stale, next] = [memberNamed('stale'), memberNamed('next')];
    const now = await nodeNowMs();
    // `stale` kept place 1 here from its first attempt; a quorum of nodes gave it 3.
    await client.zadd(queueOf(key), 1, stale, 2, next);
    await client.hset(leasesOf(key), next, `${now + 60_000}:0`);
    expect(await acquireFairly([key], 'stale', ticketOf(stale, 3))).toBe(0);
    expect(await queuedOn(key)).toEqual([next, stale]);
    // Granted, the first one stays there, at its place, until its release.
    expect(await acquireFairly([key], TOKEN, ticketOf(next, 2))).toBe(1);
    expect(await client.zscore(queueOf(key), next)).toBe('2');
    await client.del(key, queueOf(key), leasesOf(key));
  });

  it('keeps a fair waiter that cannot hear wakes first while its lease lives: a release wakes nobody behind it', async () => {
    const [key] = keysFor('fair-poller', 1) as [string];
    const [poller, behind] = [memberNamed('poller'), memberNamed('behind')];
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    expect(await acquireFairly([key], 'poller', ticketOf(poller))).toEqual([0, 1]);
    const listening = await listenFor(behind);
    expect(await acquireFairly([key], 'behind', ticketOf(behind))).toEqual([0, 2]);
    expect(await run(releaseScript, [key], [OTHER_TOKEN])).toBe(1);
    expect(await listening.heard()).toEqual([]);
    expect(await queuedOn(key)).toEqual([poller, behind]);
    expect(await acquireFairly([key], 'behind', ticketOf(behind, 2))).toBe(0);
    expect(await acquireFairly([key], TOKEN, ticketOf(poller, 1))).toBe(1);
    await client.del(key, queueOf(key), leasesOf(key));
  });

  it('keeps a fair waiter that listens through a pattern (GLIDE before 2.3) first: woken, and by the turn check', async () => {
    const [key] = keysFor('fair-pattern', 1) as [string];
    const byPattern = `${BY_PATTERN_MARK}${memberNamed('by-pattern')}`;
    const behind = memberNamed('behind');
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    // Its own channel has no subscriber: the pattern's does not count there, and it says it listens.
    expect(await acquireFairly([key], 'by-pattern', ticketOf(byPattern), true)).toEqual([0, 1]);
    const pattern = redis.createClient(0);
    await pattern.psubscribe(wakeChannelOf('*'));
    try {
      expect(await run(releaseScript, [key], [OTHER_TOKEN])).toBe(1);
      expect(await queuedOn(key)).toEqual([byPattern]);
      expect(await acquireFairly([key], 'behind', ticketOf(behind))).toEqual([0, 2]);
      expect(await queuedOn(key)).toEqual([byPattern, behind]);
    } finally {
      pattern.disconnect();
      await client.del(key, queueOf(key), leasesOf(key));
    }
  });

  it('lets a waiter that gives up leave at once, and wakes the next where it was first and the key is free', async () => {
    const keys = keysFor('fair-leave', 2);
    const [leaving, next] = [memberNamed('leaving'), memberNamed('next')];
    for (const key of keys) await client.zadd(queueOf(key), 1, leaving, 2, next);
    for (const key of keys) await client.hset(leasesOf(key), leaving, '1:1', next, '1:1');
    await client.set(keys[1] as string, OTHER_TOKEN, 'PX', 10_000);
    const listening = await listenFor(next);
    // A winner leaves where it was not granted, waking nobody: another waiter's call it would be.
    const winner = memberNamed('winner');
    for (const key of keys) await client.zadd(queueOf(key), 0, winner);
    const unheard = await listenFor(next);
    expect(await run(leaveQueueScript, keys, [ticketOf(winner, 0), '0'])).toBe(1);
    expect(await unheard.heard()).toEqual([]);
    expect(await run(leaveQueueScript, keys, [ticketOf(leaving, 1), '1'])).toBe(1);
    expect(await Promise.all(keys.map(queuedOn))).toEqual([[next], [next]]);
    expect(await Promise.all(keys.map((key) => client.hkeys(leasesOf(key))))).toEqual([[next], [next]]);
    // Woken once: where the key was free, not where another owner holds it.
    expect(await listening.heard()).toEqual([next]);
    await client.del(...keys, ...keys.map(queueOf), ...keys.map(leasesOf));
  });

  it('tells a fair release which waiter heard its wake; a hand-off ask drops that one only once its process is gone, and wakes the next', async () => {
    const [key] = keysFor('fair-hand-off', 1) as [string];
    const [awaited, behind] = [memberNamed('awaited'), memberNamed('behind')];
    const now = await nodeNowMs();
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    await client.zadd(queueOf(key), 1, awaited, 2, behind);
    await client.hset(leasesOf(key), awaited, `${now + 60_000}:1`, behind, `${now + 60_000}:1`);
    const [awaitedListens, behindListens] = [await listenFor(awaited), await listenFor(behind)];
    expect(await run(releaseScript, [key], [OTHER_TOKEN, '', '1'])).toEqual([1, awaited]);
    // Live, and not come yet: still due, and woken no more.
    expect(await run(handOffScript, [key], [awaited])).toBe(awaited);
    // Another process first, or the key taken: the hand-off went through.
    expect(await run(handOffScript, [key], [behind])).toBe('');
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    expect(await run(handOffScript, [key], [awaited])).toBe('');
    await client.del(key);
    // Its process gone (its channel has no subscriber): dropped, and the one behind woken, and due now.
    expect(await awaitedListens.heard()).toEqual([awaited]);
    expect(await run(handOffScript, [key], [awaited])).toBe(behind);
    expect(await queuedOn(key)).toEqual([behind]);
    expect(await client.hkeys(leasesOf(key))).toEqual([behind]);
    expect(await behindListens.heard()).toEqual([behind]);
    // A release whose wake nobody heard says so.
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    expect(await run(releaseScript, [key], [OTHER_TOKEN, '', '1'])).toEqual([1, '']);
    await client.del(key, queueOf(key), leasesOf(key));
  });
});

describe('reservations for a waiter close to giving up (its milliseconds as the fraction of its score)', () => {
  const acquire = (keys: readonly string[], token: string, ticket: string) => run(acquireScript, keys, acquireArgsOf(token, 10_000, 0, false, ticket));

  it('keeps the place of a waiter that asks for one, first placed first among them, and a release that wakes it reserves the freed key for its member only', async () => {
    const [key] = keysFor('reserve', 1) as [string];
    // Named so that, with equal scores, the later one would come first.
    const [older, younger] = [memberNamed('z-older'), memberNamed('a-younger')];
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    expect(await acquire([key], 'a-waiter', ticketOf(older))).toEqual([0, 1]);
    expect(await acquire([key], 'a-later-waiter', ticketOf(younger))).toEqual([0, 2]);
    // Both ask for a reservation, the younger first: each keeps its place.
    expect(await acquire([key], 'a-starving-waiter', wakeTicketOf(younger, 2, 300))).toBe(0);
    expect(await acquire([key], 'another-starving-waiter', wakeTicketOf(older, 1, 300))).toBe(0);
    expect(await queuedOn(key)).toEqual([older, younger]);
    expect(Number(await client.zscore(queueOf(key), older))).toBe(1 + 300 / RESERVE_UNITS);
    const listening = await listenFor(older, younger);
    expect(await run(releaseScript, [key], [OTHER_TOKEN])).toBe(1);
    expect(await listening.heard()).toEqual([older]);
    expect(await client.get(key)).toBe(`~${older}`);
    expect(await client.pttl(key)).toBeGreaterThan(250);
    expect(await client.pttl(key)).toBeLessThanOrEqual(300);
    // The SET of a holder that takes the lock back, or another waiter's script: held.
    expect(await client.set(key, 'a-holder', 'PX', 10_000, 'NX')).toBeNull();
    expect(await acquire([key], 'a-holder', '')).toBe(0);
    expect(await acquire([key], 'a-waiter', wakeTicketOf(younger, 2, 300))).toBe(0);
    // Its own member's script takes it, and leaves the queue.
    expect(await acquire([key], TOKEN, wakeTicketOf(older, 1, 300))).toBe(1);
    expect(await client.get(key)).toBe(TOKEN);
    expect(await client.pttl(key)).toBeGreaterThan(9_000);
    expect(await queuedOn(key)).toEqual([younger]);
    await client.del(key, queueOf(key));
  });

  it('reserves nothing for a member with a whole place, for one nobody hears, nor where the key is taken', async () => {
    const [plain, unheard] = keysFor('reserve-none', 2) as [string, string];
    const [waiting, gone] = [memberNamed('waiting'), memberNamed('gone')];
    await client.zadd(queueOf(plain), 1, waiting);
    await client.zadd(queueOf(unheard), 1 + 300 / RESERVE_UNITS, gone);
    for (const key of [plain, unheard]) await client.set(key, TOKEN, 'PX', 10_000);
    const listening = await listenFor(waiting);
    expect(await run(releaseScript, [plain, unheard], [TOKEN])).toBe(2);
    expect(await listening.heard()).toEqual([waiting]);
    expect(await client.exists(plain, unheard)).toBe(0);
    expect(await client.exists(queueOf(unheard))).toBe(0);
    await client.del(queueOf(plain));
  });
});

describe('the inspect script', () => {
  it("replies a lock's remaining TTL, -1 for a key that is not a lock and -2 when absent, never a value", async () => {
    const keys = keysFor('inspect', 5);
    await client.set(keys[0] as string, TOKEN, 'PX', 10_000);
    await client.set(keys[1] as string, TOKEN);
    await client.multi().hset(keys[2] as string, 'field', TOKEN).pexpire(keys[2] as string, 10_000).exec();
    await client.rpush(keys[3] as string, TOKEN);
    const replies = await Promise.all(keys.map((key) => run(inspectScript, [key, labelKeyOf(key)], [])));
    expect(replies[0]).toEqual([expect.any(Number), '', '']);
    expect(parseInspectReply(replies[0]).remaining).toBeGreaterThan(9_000);
    expect(replies.slice(1)).toEqual([-1, -1, -1, -2].map((remaining) => [remaining, '', '']));
    expect(replies.map((reply) => parseInspectReply(reply).remaining).slice(1)).toEqual(['foreign', 'foreign', 'foreign', 'free']);
    await client.del(...keys.slice(1));
  });
});

describe('a label, written by the extend script and read by the inspect script', () => {
  const inspected = async (key: string): Promise<string> => parseInspectReply(await run(inspectScript, [key, labelKeyOf(key)], [])).label;

  it('is written only where every key holds our token, with their TTL, announced, and kept by later extensions', async () => {
    const keys = keysFor('label', 2);
    const labelKeys = keys.map(labelKeyOf);
    await client.set(keys[0] as string, TOKEN, 'PX', 1_000);
    await client.set(keys[1] as string, OTHER_TOKEN, 'PX', 1_000);
    expect(await run(extendScript, [...keys, ...labelKeys], [TOKEN, '60000', '0', '', 'host-a'])).toBe(0);
    expect(await client.exists(...labelKeys)).toBe(0);
    await client.set(keys[1] as string, TOKEN, 'PX', 1_000);
    const subscriber = client.duplicate();
    const announced: string[] = [];
    subscriber.on('message', (channel: string) => announced.push(channel));
    await subscriber.subscribe(...keys.map((key) => LABEL_CHANNEL_PREFIX + key));
    try {
      expect(await run(extendScript, [...keys, ...labelKeys], [TOKEN, '60000', '0', '', 'host-a'])).toBe(1);
      expect(await Promise.all(keys.map(inspected))).toEqual(['host-a', 'host-a']);
      expect(await client.get(labelKeys[0] as string)).toBe(`${createHash('sha1').update(TOKEN).digest('hex')}:host-a`);
      for (const key of labelKeys) expect(await client.pttl(key)).toBeGreaterThan(59_000);
      // The same label again is kept, unannounced, with the new TTL; a new one is written and announced.
      expect(await run(extendScript, [...keys, ...labelKeys], [TOKEN, '90000', '0', '', 'host-a'])).toBe(1);
      for (const key of labelKeys) expect(await client.pttl(key)).toBeGreaterThan(89_000);
      expect(await run(extendScript, [...keys, ...labelKeys], [TOKEN, '90000', '0', '', 'host-b'])).toBe(1);
      expect(await Promise.all(keys.map(inspected))).toEqual(['host-b', 'host-b']);
      expect(await run(extendScript, [...keys, ...labelKeys], [TOKEN, '90000', '0', '', ''])).toBe(1);
      expect(await client.exists(...labelKeys)).toBe(0);
      await client.ping();
      expect(announced).toEqual([...keys, ...keys, ...keys].map((key) => LABEL_CHANNEL_PREFIX + key));
    } finally {
      subscriber.disconnect();
    }
    await client.del(...keys);
  });

  it("is never read for a later holder of the key, nor for a key that is not a lock", async () => {
    const [key] = keysFor('label-stale', 1) as [string];
    await client.set(key, TOKEN, 'PX', 10_000);
    await run(extendScript, [key, labelKeyOf(key)], [TOKEN, '10000', '0', '', 'host-a']);
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    expect(await inspected(key)).toBe('');
    await client.set(key, 'x'.repeat(100), 'PX', 10_000);
    expect(await inspected(key)).toBe('');
    await client.del(key, labelKeyOf(key));
  });
});

describe('the extend script of a fenced lock', () => {
  it('raises each fencing counter to the token where it is lower or lost, never lowers one, and leaves a foreign one alone', async () => {
    const keys = keysFor('fenced-extend', 4);
    const counters = keys.map(fenceKeyOf);
    await client.mset(keys[0] as string, TOKEN, keys[1] as string, TOKEN, keys[2] as string, TOKEN, keys[3] as string, TOKEN);
    await Promise.all(keys.map((key) => client.pexpire(key, 10_000)));
    await client.set(counters[1] as string, '3');
    await client.set(counters[2] as string, '9');
    await client.set(counters[3] as string, 'not-a-counter');
    expect(await run(extendScript, [...keys, ...counters], [TOKEN, '60000', '0', '7'])).toBe(1);
    expect(await client.mget(...counters)).toEqual(['7', '7', '9', 'not-a-counter']);
    expect(await Promise.all(counters.map((key) => client.pttl(key)))).toEqual([-1, -1, -1, -1]);
    await client.del(...keys, ...counters);
  });

  it('sets the counter again with the keys it re-seeds on a node that lost both, and not without re-seeding', async () => {
    const [key] = keysFor('fenced-reseed', 1) as [string];
    const counter = fenceKeyOf(key);
    expect(await run(extendScript, [key, counter], [TOKEN, '60000', '0', '12'])).toBe(2);
    expect(await client.exists(key, counter)).toBe(0);
    expect(await run(extendScript, [key, counter], [TOKEN, '60000', '1', '12'])).toBe(2);
    expect(await client.mget(key, counter)).toEqual([TOKEN, '12']);
    // Another owner's key: nothing changes.
    await client.set(key, OTHER_TOKEN, 'PX', 10_000);
    await client.del(counter);
    expect(await run(extendScript, [key, counter], [TOKEN, '60000', '1', '12'])).toBe(0);
    expect(await client.exists(counter)).toBe(0);
    await client.del(key);
  });

  it('writes its label with the fencing token, which the inspect script reports; a label without one reports none', async () => {
    const [key, plain] = keysFor('fenced-label', 2) as [string, string];
    await client.set(key, TOKEN, 'PX', 10_000);
    await client.set(plain, TOKEN, 'PX', 10_000);
    expect(await run(extendScript, [key, labelKeyOf(key), fenceKeyOf(key)], [TOKEN, '60000', '0', '5', '{"term":5}'])).toBe(1);
    expect(await client.get(labelKeyOf(key))).toBe(`${createHash('sha1').update(TOKEN).digest('hex')}#5:{"term":5}`);
    expect(await run(inspectScript, [key, labelKeyOf(key)], [])).toEqual([expect.any(Number), '{"term":5}', '5']);
    // An unfenced label that looks like a fenced one is read as the label it is, with no fencing token.
    expect(await run(extendScript, [plain, labelKeyOf(plain)], [TOKEN, '60000', '0', '', '#999:{"term":999}'])).toBe(1);
    expect(await run(inspectScript, [plain, labelKeyOf(plain)], [])).toEqual([expect.any(Number), '#999:{"term":999}', '']);
    await client.del(key, plain, labelKeyOf(key), labelKeyOf(plain), fenceKeyOf(key));
  });
});

describe('the permit scripts (a semaphore of limit 3 as slots in a hash)', () => {
  /** A permit-acquire reply as the client reads it: its status, the slots given, the slots still free, a recorded limit. */
  const parsed = (reply: unknown, permits: number, limit: number) => {
    const { reply: raw, freeFrom, ...answer } = parsePermitAcquireReply(reply, permits, limit);
    return freeFrom === undefined ? answer : { ...answer, free: freeSlotsOf({ reply: raw, freeFrom }) };
  };
  const take = (key: string, token: string, permits: number, firstSlot: number, { ttlMs = 10_000, limit = 3, graceMs = 0, intent = NO_INTENT, ticket = '' } = {}) =>
    run(permitAcquireScript, [key], permitAcquireArgsOf(token, ttlMs, permits, limit, graceMs, firstSlot, intent, ticket)).then((reply) => parsed(reply, permits, limit));
  /** Sends permit-release (waking waiters, or not with the quiet one), with no queue ticket of the releaser's. */
  const releaseOf = (script: LuaScript, key: string, token: string, other = '', kept: readonly string[] = []) => run(script, [key], [token, other, '', ...kept]).then(parsePermitReleaseReply);

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

  it("leaves the intent of a request for more permits than are free, keeps that many free for it, and removes it once admitted", async () => {
    const [key] = keysFor('permit-intent', 1) as [string];
    const waiter = { id: '3:intent-of-three', ttlMs: 60_000 };
    await take(key, 'holder-1', 1, 1);
    await take(key, 'holder-2', 1, 2);
    // Too few free: the request for 3 leaves its intent, `<expiry>:<permits>:<id>`, for the intent's TTL.
    expect(await take(key, 'attempt-1', 3, 1, { intent: waiter })).toEqual({ status: 'full', free: [3] });
    const left = await client.hget(key, 'i');
    expect(left).toMatch(/^\d+:3:intent-of-three$/);
    expect(await client.pttl(key)).toBeGreaterThan(50_000);
    // Slot 3 is free, but the intent keeps 3 free: a request for 1 is refused, and sees none free.
    expect(await take(key, 'other', 1, 3)).toEqual({ status: 'full', free: [] });
    // Another waiting request leaves no intent of its own while this one lives.
    expect(await take(key, 'other', 2, 3, { intent: { id: '2:intent-of-two', ttlMs: 60_000 } })).toEqual({ status: 'full', free: [] });
    // The request's next attempt (another token, the same intent) refreshes it.
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await take(key, 'attempt-2', 3, 1, { intent: waiter })).toEqual({ status: 'full', free: [3] });
    const refreshed = await client.hget(key, 'i');
    expect(Number(refreshed?.split(':')[0])).toBeGreaterThan(Number(left?.split(':')[0]));
    // Released, the holders leave the key to the intent; the request is admitted and removes it.
    await releaseOf(permitReleaseScript, key, 'holder-1');
    await releaseOf(permitReleaseScript, key, 'holder-2');
    expect(await take(key, 'attempt-3', 3, 2, { intent: waiter })).toEqual({ status: 'admitted', slots: [2, 3, 1], free: [] });
    expect(Object.keys(await client.hgetall(key)).sort()).toEqual(['1', '2', '3', 'limit']);
    await releaseOf(permitReleaseScript, key, 'attempt-3', '3:intent-of-three');
    expect(await client.exists(key)).toBe(0);
  });

  it('admits others beside a live intent only where they leave its permits free, and not beside an intent of the layout it breaks', async () => {
    const [key, broken] = keysFor('permit-intent-room', 2) as [string, string];
    const waiter = { id: '2:intent-of-two', ttlMs: 60_000 };
    await take(key, 'holder-1', 1, 1);
    await take(key, 'holder-2', 1, 2);
    // An intent id that names other permits than the request's is ignored: none is left.
    expect(await take(key, 'liar', 2, 1, { intent: { id: '3:liar', ttlMs: 60_000 } })).toEqual({ status: 'full', free: [3] });
    expect(await client.hexists(key, 'i')).toBe(0);
    expect(await take(key, 'attempt-1', 2, 1, { intent: waiter })).toEqual({ status: 'full', free: [3] });
    await releaseOf(permitReleaseScript, key, 'holder-1');
    // Two free, two kept: a request for 1 would leave 1.
    expect(await take(key, 'other', 1, 1)).toEqual({ status: 'full', free: [] });
    await releaseOf(permitReleaseScript, key, 'holder-2');
    expect(await take(key, 'other', 1, 1)).toEqual({ status: 'admitted', slots: [1], free: [2, 3] });
    // Inspection reports slots only; the release of the intent's holder withdraws it.
    expect(await run(permitInspectScript, [key], []).then(parsePermitInspectReply)).toMatchObject({ limit: 3, slots: [expect.objectContaining({ slot: 1 })] });
    expect(await releaseOf(quietPermitReleaseScript, key, '2:intent-of-two')).toBe('released');
    expect(Object.keys(await client.hgetall(key)).sort()).toEqual(['1', 'limit']);
    // An expired intent keeps nothing free; an `i` field that is not an intent makes the hash someone else's.
    await client.hset(key, 'i', `1:${waiter.id}`);
    expect(await take(key, 'third', 2, 2)).toEqual({ status: 'admitted', slots: [2, 3], free: [] });
    await client.multi().hset(broken, 'limit', '3', 'i', 'not-an-intent').pexpire(broken, 60_000).exec();
    expect(await take(broken, TOKEN, 1, 1)).toEqual({ status: 'foreign' });
    await client.del(key, broken);
  });

  it('shortens the key to its longest live slot on release, and removes it with expired slots when none is live', async () => {
    const [key] = keysFor('permit-release-ttl', 1) as [string];
    const release = (token: string) => releaseOf(permitReleaseScript, key, token);
    await take(key, TOKEN, 1, 1, { ttlMs: 600_000 });
    await take(key, OTHER_TOKEN, 1, 2, { ttlMs: 2_000 });
    expect(await release(TOKEN)).toBe('released');
    const pttl = await client.pttl(key);
    expect(pttl).toBeGreaterThan(1_500);
    expect(pttl).toBeLessThanOrEqual(2_000);
    // A slot that expired (its holder crashed) does not keep the key once the last live one is released.
    await take(key, 'a-third-owner', 1, 1, { ttlMs: 600_000 });
    await client.hset(key, '2', `1:${OTHER_TOKEN}`);
    expect(await release('a-third-owner')).toBe('released');
    expect(await client.exists(key)).toBe(0);
  });

  it('refuses a re-sent first call whose token holds fewer slots than it asks for, changing nothing', async () => {
    const [key] = keysFor('permit-resent-short', 1) as [string];
    await take(key, TOKEN, 1, 1);
    expect(await take(key, TOKEN, 2, 1)).toEqual({ status: 'full', free: [2, 3] });
    expect((await client.hkeys(key)).sort()).toEqual(['1', 'limit']);
  });

  it('takes exactly the slots asked for in a second round, where each is free or ours, and frees our others', async () => {
    const [key] = keysFor('permit-settle', 1) as [string];
    const settle = (token: string, slots: number[]) =>
      run(permitAcquireScript, [key], permitAcquireArgsOf(token, 10_000, slots.length, 3, 0, 0, NO_INTENT, '', slots)).then((reply) => parsed(reply, slots.length, 3));
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
    const extend = (token: string, slots: string[]) =>
      run(permitExtendScript, [key], permitExtendArgsOf(token, 60_000, false, { kind: 'semaphore', limit: 3 }, slots)).then(parsePermitExtendReply);
    expect(await extend(TOKEN, ['1', '2'])).toBe('extended');
    expect(await client.pttl(key)).toBeGreaterThan(50_000);
    expect(await extend(TOKEN, ['1', '3'])).toBe('not-held');
    expect(await extend(OTHER_TOKEN, ['3'])).toBe('extended');
  });

  it('never shortens our slots when re-seeding, where an extension sets the TTL it is given', async () => {
    const [key] = keysFor('permit-reseed-never-shorter', 1) as [string];
    await take(key, TOKEN, 1, 1, { ttlMs: 60_000 });
    const extend = (ttlMs: number, isReseeding: boolean) =>
      run(permitExtendScript, [key], permitExtendArgsOf(TOKEN, ttlMs, isReseeding, { kind: 'semaphore', limit: 3 }, ['1'])).then(parsePermitExtendReply);
    const expiryOfSlot = async (): Promise<number> => Number((await client.hget(key, '1'))?.split(':')[0]) - Date.now();
    // A re-seed sent with the TTL the slot had left, arriving after an extension that gave it more.
    expect(await extend(5_000, true)).toBe('extended');
    expect(await expiryOfSlot()).toBeGreaterThan(55_000);
    expect(await client.pttl(key)).toBeGreaterThan(55_000);
    expect(await extend(5_000, false)).toBe('extended');
    expect(await expiryOfSlot()).toBeLessThanOrEqual(5_000);
  });

  it('tells slots that are all missing apart (2), and re-seeds them only where the slots are free and the limit ours', async () => {
    const [absent, other, otherLimit, partial, plainHash, lockKey] = keysFor('permit-reseed', 6) as [string, string, string, string, string, string];
    const extend = (key: string, slots: string[], isReseeding: boolean, limit = 3) =>
      run(permitExtendScript, [key], permitExtendArgsOf(TOKEN, 60_000, isReseeding, { kind: 'semaphore', limit }, slots)).then(parsePermitExtendReply);
    // The node lost the key (it restarted empty): without re-seeding, nothing changes.
    expect(await extend(absent, ['1', '2'], false)).toBe('missing');
    expect(await client.exists(absent)).toBe(0);
    expect(await extend(absent, ['1', '2'], true)).toBe('missing');
    const hash = await client.hgetall(absent);
    expect(Object.keys(hash).sort()).toEqual(['1', '2', 'limit']);
    expect(hash['limit']).toBe('3');
    expect([hash['1'], hash['2']].every((value) => value?.endsWith(`:${TOKEN}`))).toBe(true);
    expect(await client.pttl(absent)).toBeGreaterThan(50_000);
    expect(await extend(absent, ['1', '2'], false)).toBe('extended');
    // Another holder's slot 3, live longer than our TTL: re-seeding our free slot 1 keeps the key that long.
    await take(other, OTHER_TOKEN, 1, 3, { ttlMs: 120_000 });
    expect(await extend(other, ['1'], true)).toBe('missing');
    expect(await client.hget(other, '1')).toMatch(new RegExp(`:${TOKEN}$`));
    expect(await client.pttl(other)).toBeGreaterThan(110_000);
    // Our slot taken by another holder, another limit, some of ours there and some not, a hash of someone
    // else's, a lock: never ours, never touched.
    await take(otherLimit, OTHER_TOKEN, 1, 2, { limit: 2 });
    await take(partial, TOKEN, 1, 1);
    await client.hset(plainHash, 'field', 'value');
    await client.pexpire(plainHash, 60_000);
    await client.set(lockKey, OTHER_TOKEN, 'PX', 60_000);
    for (const [key, slots] of [[other, ['3']], [otherLimit, ['1']], [partial, ['1', '2']], [plainHash, ['1']], [lockKey, ['1']]] as const) {
      const dump = await client.dump(key);
      expect(await extend(key, [...slots], false)).toBe('not-held');
      expect(await extend(key, [...slots], true)).toBe('not-held');
      expect(await client.dump(key)).toEqual(dump);
    }
    await client.del(absent, other, otherLimit, partial, plainHash, lockKey);
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

  it('frees only our slots (but those kept, ARGV[4..]), wakes a queued request when it announces, and removes the key with the last slot', async () => {
    const [key] = keysFor('permit-release', 1) as [string];
    await take(key, TOKEN, 2, 1);
    await take(key, OTHER_TOKEN, 1, 1);
    expect(await releaseOf(quietPermitReleaseScript, key, TOKEN, '', ['2'])).toBe('released');
    expect(Object.keys(await client.hgetall(key)).sort()).toEqual(['2', '3', 'limit']);
    expect(await releaseOf(quietPermitReleaseScript, key, 'nobody')).toBe('not-held');
    // A request for 2 finds 1 free: it joins the queue, and the announcing release wakes it.
    const waiting = memberNamed('permit-waiter');
    expect(await take(key, 'a-request', 2, 1, { ticket: ticketOf(waiting) })).toEqual({ status: 'full', free: [1] });
    expect(await queuedOn(key)).toEqual([waiting]);
    const listening = await listenFor(waiting);
    expect(await releaseOf(quietPermitReleaseScript, key, OTHER_TOKEN, '', ['3'])).toBe('not-held');
    expect(await releaseOf(permitReleaseScript, key, TOKEN)).toBe('released');
    expect(await listening.heard()).toEqual([waiting]);
    // Woken, it leaves the queue: refused again, it would join it again.
    expect(await queuedOn(key)).toEqual([]);
    expect(await releaseOf(permitReleaseScript, key, OTHER_TOKEN)).toBe('released');
    await client.del(queueOf(key));
    expect(await client.exists(key)).toBe(0);
  });

  it('takes the requests a release wakes off the queue, but one close to giving up, which keeps its place', async () => {
    const [key] = keysFor('permit-queue-starving', 1) as [string];
    const [early, starving, late] = ['early', 'starving', 'late'].map(memberNamed) as [string, string, string];
    const sinceMs = Date.now();
    await take(key, TOKEN, 3, 1);
    expect(await take(key, 'request-1', 1, 1, { ticket: ticketOf(early, sinceMs) })).toEqual({ status: 'full', free: [] });
    expect(await take(key, 'request-2', 1, 1, { ticket: wakeTicketOf(starving, sinceMs + 5, 300) })).toEqual({ status: 'full', free: [] });
    expect(await take(key, 'request-3', 1, 1, { ticket: ticketOf(late, sinceMs + 10) })).toEqual({ status: 'full', free: [] });
    const listening = await listenFor(early, starving, late);
    expect(await releaseOf(permitReleaseScript, key, TOKEN)).toBe('released');
    expect(await listening.heard()).toEqual([early, starving, late]);
    expect(await queuedOn(key)).toEqual([starving]);
    await client.del(key, queueOf(key));
  });

  it('queues a refused request by its ticket (ARGV[9]), first while its intent lives, and wakes as many as a release freed slots', async () => {
    const [key] = keysFor('permit-queue', 1) as [string];
    const [early, late, intended, admitted] = ['early', 'late', 'intended', 'admitted'].map(memberNamed) as [string, string, string, string];
    const sinceMs = Date.now();
    await take(key, TOKEN, 2, 1);
    await take(key, OTHER_TOKEN, 1, 1);
    expect(await take(key, 'request-1', 1, 1, { ticket: ticketOf(early, sinceMs) })).toEqual({ status: 'full', free: [] });
    expect(await take(key, 'request-2', 1, 1, { ticket: ticketOf(late, sinceMs + 5) })).toEqual({ status: 'full', free: [] });
    // The request that leaves its intent goes first: the others make room for it.
    expect(await take(key, 'request-3', 2, 1, { intent: { id: '2:intent', ttlMs: 60_000 }, ticket: ticketOf(intended, sinceMs + 10) })).toEqual({ status: 'full', free: [] });
    expect(await queuedOn(key)).toEqual([intended, early, late]);
    expect(await client.zscore(queueOf(key), intended)).toBe('-inf');
    expect(await client.pttl(queueOf(key))).toBeGreaterThan(WAIT_QUEUE_TTL_MS - 1_000);
    // A release of 2 slots wakes the first 2.
    const listening = await listenFor(early, late, intended);
    expect(await releaseOf(permitReleaseScript, key, TOKEN)).toBe('released');
    expect(await listening.heard()).toEqual([intended, early]);
    expect(await queuedOn(key)).toEqual([late]);
    // Admitted, a request leaves the queue.
    await client.zadd(queueOf(key), 5, admitted);
    expect(await take(key, 'request-4', 2, 1, { intent: { id: '2:intent', ttlMs: 60_000 }, ticket: ticketOf(admitted, 5) })).toMatchObject({ status: 'admitted' });
    expect(await queuedOn(key)).toEqual([late]);
    await client.del(key, queueOf(key));
  });
});

describe('the read-write scripts (a hash: `rw` marker, `w` writer, `r:<token>` readers, `i` waiting writer)', () => {
  const INTENT = 'intent-of-a-waiting-writer';
  /** Sends read-write-acquire and resolves with its raw reply. */
  const take = (key: string, token: string, mode: ReadWriteMode, { ttlMs = 10_000, graceMs = 0, intent = '', intentTtlMs = undefined as number | undefined, ticket = '' } = {}) =>
    run(readWriteAcquireScript, [key], readWriteAcquireArgsOf(token, ttlMs, mode, graceMs, { id: intent, ttlMs: intentTtlMs ?? ttlMs }, ticket));
  const release = (key: string, token: string, secondHolder = '', ticket = '') => run(permitReleaseScript, [key], [token, secondHolder, ticket]).then(parsePermitReleaseReply);
  const fieldsOf = async (key: string): Promise<string[]> => Object.keys(await client.hgetall(key)).sort();
  /** An entry's expiry on the node's clock and its holder, from `<expiry ms>:<token>`. */
  const entryOf = (value: string | null | undefined): { expiresAt: number; holder: string } => {
    const colon = (value ?? '').indexOf(':');
    return { expiresAt: Number(value?.slice(0, colon)), holder: String(value?.slice(colon + 1)) };
  };

  it('admits readers beside readers (1), refuses a writer while they hold (2), and admits a re-sent call again', async () => {
    const [key] = keysFor('read-write-readers', 1) as [string];
    const before = await nodeNowMs();
    expect(await take(key, TOKEN, 'read')).toBe(1);
    expect(parseReadWriteAcquireReply(1)).toBe('admitted');
    expect(await client.hget(key, 'rw')).toBe('1');
    const entry = entryOf(await client.hget(key, `r:${TOKEN}`));
    expect(entry.holder).toBe(TOKEN);
    expect(entry.expiresAt).toBeGreaterThanOrEqual(before + 10_000);
    expect(entry.expiresAt).toBeLessThanOrEqual((await nodeNowMs()) + 10_000);
    expect(await client.pttl(key)).toBeGreaterThan(9_000);
    expect(await take(key, OTHER_TOKEN, 'read')).toBe(1);
    // The re-sent call finds its own entry and changes nothing.
    const hash = await client.hgetall(key);
    expect(await take(key, TOKEN, 'read', { ttlMs: 60_000 })).toBe(1);
    expect(await client.hgetall(key)).toEqual(hash);
    // A single try of a writer ('' intent) is refused and leaves no intent.
    expect(await take(key, 'a-writer', 'write')).toBe(2);
    expect(parseReadWriteAcquireReply(2)).toBe('readers-hold');
    expect(await fieldsOf(key)).toEqual([`r:${OTHER_TOKEN}`, `r:${TOKEN}`, 'rw']);
  });

  it('admits the writer alone: refuses another writer and readers (0), admits its re-sent call, and leaves no intent against a writer', async () => {
    const [key] = keysFor('read-write-writer', 1) as [string];
    expect(await take(key, TOKEN, 'write', { intent: INTENT })).toBe(1);
    expect(await fieldsOf(key)).toEqual(['rw', 'w']);
    expect(entryOf(await client.hget(key, 'w')).holder).toBe(TOKEN);
    expect(await take(key, TOKEN, 'write', { intent: INTENT })).toBe(1);
    expect(await take(key, OTHER_TOKEN, 'write', { intent: 'another-intent' })).toBe(0);
    expect(await take(key, OTHER_TOKEN, 'read')).toBe(0);
    expect(parseReadWriteAcquireReply(0)).toBe('writer-holds');
    expect(await fieldsOf(key)).toEqual(['rw', 'w']);
  });

  it("leaves a writer's intent where readers hold, for its TTL, refreshes it, and refuses new readers (3) but not those holding", async () => {
    const [key] = keysFor('read-write-intent', 1) as [string];
    expect(await take(key, TOKEN, 'read', { ttlMs: 1_000 })).toBe(1);
    expect(await take(key, 'the-writer', 'write', { ttlMs: 5_000, intent: INTENT })).toBe(2);
    const first = entryOf(await client.hget(key, 'i'));
    expect(first.holder).toBe(INTENT);
    // The key lives as long as its longest entry: the intent's.
    expect(await client.pttl(key)).toBeGreaterThan(4_000);
    // The writer's next attempt (same intent id, a fresh token) refreshes it for its TTL.
    expect(await take(key, 'its-next-attempt', 'write', { ttlMs: 20_000, intent: INTENT })).toBe(2);
    const refreshed = entryOf(await client.hget(key, 'i'));
    expect(refreshed.holder).toBe(INTENT);
    expect(refreshed.expiresAt).toBeGreaterThan(first.expiresAt + 10_000);
    expect(await client.pttl(key)).toBeGreaterThan(19_000);
    // Another waiting writer, or a single try, does not replace it.
    expect(await take(key, 'another-writer', 'write', { ttlMs: 60_000, intent: 'another-intent' })).toBe(2);
    expect(await take(key, 'a-single-try', 'write')).toBe(2);
    expect(await client.hget(key, 'i')).toBe(`${refreshed.expiresAt}:${INTENT}`);
    // An intent lives as long as the writer says, which may be longer than its TTL (see writerIntentOf).
    expect(await take(key, 'its-third-attempt', 'write', { ttlMs: 100, intent: INTENT, intentTtlMs: 30_000 })).toBe(2);
    const lasting = entryOf(await client.hget(key, 'i'));
    expect(lasting.expiresAt - (await nodeNowMs())).toBeGreaterThan(29_000);
    // A new reader is refused; the reader holding is admitted again (a re-sent call).
    expect(await take(key, OTHER_TOKEN, 'read')).toBe(3);
    expect(parseReadWriteAcquireReply(3)).toBe('writer-waiting');
    expect(await take(key, TOKEN, 'read')).toBe(1);
    expect(await fieldsOf(key)).toEqual(['i', `r:${TOKEN}`, 'rw']);
    // Once the readers left, the waiting writer is admitted and removes its own intent.
    expect(await release(key, TOKEN)).toBe('released');
    expect(await take(key, 'the-writer', 'write', { intent: INTENT })).toBe(1);
    expect(await fieldsOf(key)).toEqual(['rw', 'w']);
  });

  it("counts no entry that expired by the node's clock, and deletes those on admission", async () => {
    const [key] = keysFor('read-write-expired', 1) as [string];
    const past = (await nodeNowMs()) - 1;
    await client.hset(key, 'rw', '1', 'w', `${past}:a-crashed-writer`, 'r:a-crashed-reader', `${past}:a-crashed-reader`, 'i', `${past}:a-gone-intent`);
    await client.pexpire(key, 10_000);
    // Neither the crashed writer nor the gone intent refuses the reader; its admission deletes all three.
    expect(await take(key, TOKEN, 'read')).toBe(1);
    expect(await fieldsOf(key)).toEqual([`r:${TOKEN}`, 'rw']);
    // A crashed reader does not refuse a writer, nor keep its intent: the writer is admitted at once.
    await client.hset(key, `r:${TOKEN}`, `${past}:${TOKEN}`);
    expect(await take(key, OTHER_TOKEN, 'write', { intent: INTENT })).toBe(1);
    expect(await fieldsOf(key)).toEqual(['rw', 'w']);
    expect(entryOf(await client.hget(key, 'w')).holder).toBe(OTHER_TOKEN);
  });

  // Fails against the script as committed (f3198f0): the admission writes `w`, then deletes the expired
  // fields it found, `w` among them, and replies 1 with no entry left. A key outlives an expired writer
  // whenever an earlier entry had a longer TTL (a reader's, an intent's: PEXPIRE only lengthens), and a
  // reader is then admitted beside the writer that holds the lock.
  it("admits a writer where a crashed writer's expired entry is left, and keeps the new writer's entry", async () => {
    const [key] = keysFor('read-write-expired-writer', 1) as [string];
    const past = (await nodeNowMs()) - 1;
    await client.hset(key, 'rw', '1', 'w', `${past}:a-crashed-writer`);
    await client.pexpire(key, 10_000);
    expect(await take(key, OTHER_TOKEN, 'write', { intent: INTENT })).toBe(1);
    expect(entryOf(await client.hget(key, 'w')).holder).toBe(OTHER_TOKEN);
    expect(await take(key, TOKEN, 'read')).toBe(0);
  });

  it('refuses foreign keys (-2) and admits nothing inside the restart grace (-1), changing nothing', async () => {
    const [lockKey, semaphoreKey, plainHash, list, graced] = keysFor('read-write-refusals', 5) as [string, string, string, string, string];
    await client.set(lockKey, OTHER_TOKEN, 'PX', 10_000);
    await client.hset(semaphoreKey, 'limit', '3', '1', `${(await nodeNowMs()) + 10_000}:${OTHER_TOKEN}`);
    await client.hset(plainHash, 'field', 'value');
    await client.rpush(list, TOKEN);
    for (const key of [lockKey, semaphoreKey, plainHash, list]) {
      const type = await client.type(key);
      const dump = await client.dump(key);
      const ttlMs = await client.pttl(key);
      for (const mode of ['read', 'write'] as const) {
        const reply = await take(key, TOKEN, mode, { intent: mode === 'write' ? INTENT : '' });
        expect(reply).toBe(-2);
        expect(parseReadWriteAcquireReply(reply)).toBe('foreign');
      }
      expect([await client.type(key), await client.dump(key), Math.sign(await client.pttl(key))]).toEqual([type, dump, Math.sign(ttlMs)]);
    }
    const reply = await take(graced, TOKEN, 'write', { graceMs: 2_000_000_000 });
    expect(reply).toBe(-1);
    expect(parseReadWriteAcquireReply(reply)).toBe('restarting');
    expect(await take(graced, TOKEN, 'read', { graceMs: 2_000_000_000 })).toBe(-1);
    expect(await client.exists(graced)).toBe(0);
    expect(() => parseReadWriteAcquireReply(4)).toThrow();
    await client.del(lockKey, semaphoreKey, plainHash, list);
  });

  it('inspects the live entries by the node\'s clock with an opaque holder id, never a token or an intent id, and changes nothing', async () => {
    const [key, lockKey, semaphoreKey, missing] = keysFor('read-write-inspect', 4) as [string, string, string, string];
    const inspect = (target: string) => run(readWriteInspectScript, [target], []);
    const holderOf = (secret: string): string => createHash('sha1').update(secret).digest('hex').slice(0, 12);
    await take(key, TOKEN, 'read');
    await take(key, 'the-writer', 'write', { intent: INTENT });
    await client.hset(key, 'r:a-crashed-reader', `${(await nodeNowMs()) - 1}:a-crashed-reader`);
    const before = await client.hgetall(key);
    const reply = await inspect(key);
    expect(Array.isArray(reply) && reply[0]).toBe(1);
    const found = parseReadWriteInspectReply(reply);
    // The expired reader is not reported; each live entry has about its TTL left.
    expect(found).toEqual(
      expect.arrayContaining([
        { kind: 'r', holder: holderOf(TOKEN), remainingMs: expect.any(Number) },
        { kind: 'i', holder: holderOf(INTENT), remainingMs: expect.any(Number) },
      ]),
    );
    expect(typeof found === 'object' && found.length).toBe(2);
    expect(typeof found === 'object' && found.every((entry) => entry.remainingMs > 9_000 && entry.remainingMs <= 10_000)).toBe(true);
    for (const secret of [TOKEN, INTENT, 'the-writer', 'a-crashed-reader']) expect(JSON.stringify(reply)).not.toContain(secret);
    expect(await client.hgetall(key)).toEqual(before);
    // A writer's entry is reported as 'w'.
    await release(key, TOKEN, '');
    await take(key, 'the-writer', 'write', { intent: INTENT });
    expect(parseReadWriteInspectReply(await inspect(key))).toEqual([{ kind: 'w', holder: holderOf('the-writer'), remainingMs: expect.any(Number) }]);
    await client.set(lockKey, OTHER_TOKEN, 'PX', 10_000);
    await client.hset(semaphoreKey, 'limit', '3');
    expect([await inspect(lockKey), await inspect(semaphoreKey), await inspect(missing)]).toEqual([-2, -2, 0]);
    expect(parseReadWriteInspectReply(-2)).toBe('foreign');
    expect(parseReadWriteInspectReply(0)).toBe('free');
    await client.del(lockKey, semaphoreKey);
  });

  it("frees a waiting writer's intent by its second holder id, keeps the readers', and removes the key with the last entry", async () => {
    const [key] = keysFor('read-write-release', 1) as [string];
    await take(key, TOKEN, 'read');
    await take(key, OTHER_TOKEN, 'read');
    // A writer that gave up: its attempts' tokens hold nothing, its intent id frees the intent.
    expect(await take(key, 'a-failed-attempt', 'write', { intent: INTENT })).toBe(2);
    expect(await release(key, 'a-failed-attempt')).toBe('not-held');
    expect(await fieldsOf(key)).toEqual(['i', `r:${OTHER_TOKEN}`, `r:${TOKEN}`, 'rw']);
    expect(await release(key, 'a-failed-attempt', INTENT)).toBe('released');
    expect(await fieldsOf(key)).toEqual([`r:${OTHER_TOKEN}`, `r:${TOKEN}`, 'rw']);
    // The writer's intent gone, a new reader is admitted again.
    expect(await take(key, 'a-new-reader', 'read')).toBe(1);
    for (const reader of ['a-new-reader', OTHER_TOKEN]) expect(await release(key, reader)).toBe('released');
    expect(await client.exists(key)).toBe(1);
    // The last entry leaves the marker alone: the key goes.
    expect(await release(key, TOKEN)).toBe('released');
    expect(await client.exists(key)).toBe(0);
    // A writer released with its intent id (there is none left once admitted) frees its entry and the key.
    expect(await take(key, 'the-writer', 'write', { intent: INTENT })).toBe(1);
    expect(await release(key, 'the-writer', INTENT)).toBe('released');
    expect(await client.exists(key)).toBe(0);
  });

  it('queues a refused call by its ticket (ARGV[7]), and wakes every waiter at a release but the releaser (ARGV[3])', async () => {
    const [key] = keysFor('read-write-queue', 1) as [string];
    const [own, readerA, readerB, writer] = ['own', 'reader-a', 'reader-b', 'writer'].map(memberNamed) as [string, string, string, string];
    const sinceMs = Date.now();
    expect(await take(key, 'the-writer', 'write')).toBe(1);
    expect(await take(key, 'reader-a', 'read', { ticket: ticketOf(readerA, sinceMs) })).toBe(0);
    expect(await take(key, 'reader-b', 'read', { ticket: ticketOf(readerB, sinceMs + 1) })).toBe(0);
    expect(await take(key, 'writer-2', 'write', { ticket: ticketOf(writer, sinceMs + 2), intent: INTENT })).toBe(0);
    expect(await queuedOn(key)).toEqual([readerA, readerB, writer]);
    // The writer had queued too, before it got the lock by another path: its release does not wake it.
    await client.zadd(queueOf(key), 0, own);
    const listening = await listenFor(own, readerA, readerB, writer);
    expect(await release(key, 'the-writer', '', ticketOf(own, 0))).toBe('released');
    expect(await listening.heard()).toEqual([readerA, readerB, writer]);
    // Woken, they leave the queue; admitted, a call is not queued; refused by readers, a writer queues again.
    expect(await queuedOn(key)).toEqual([]);
    expect(await take(key, 'reader-a', 'read', { ticket: ticketOf(readerA, sinceMs) })).toBe(1);
    expect(await take(key, 'writer-2', 'write', { ticket: ticketOf(writer, sinceMs + 2), intent: INTENT })).toBe(2);
    expect(await queuedOn(key)).toEqual([writer]);
    await client.del(key, queueOf(key));
  });

  it("extends a holder's entry only while it is ours and unexpired by the node's clock", async () => {
    const [key] = keysFor('read-write-extend', 1) as [string];
    const extend = (token: string, field: string) =>
      run(permitExtendScript, [key], permitExtendArgsOf(token, 60_000, false, { kind: 'read-write' }, [field])).then(parsePermitExtendReply);
    await take(key, TOKEN, 'read', { ttlMs: 1_000 });
    await take(key, OTHER_TOKEN, 'read', { ttlMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await extend(TOKEN, `r:${TOKEN}`)).toBe('extended');
    expect(entryOf(await client.hget(key, `r:${TOKEN}`)).expiresAt).toBeGreaterThan((await nodeNowMs()) + 50_000);
    expect(await client.pttl(key)).toBeGreaterThan(50_000);
    // Expired: never revived. Another's: never touched.
    expect(await extend(OTHER_TOKEN, `r:${OTHER_TOKEN}`)).toBe('not-held');
    expect(await extend(OTHER_TOKEN, `r:${TOKEN}`)).toBe('not-held');
    // No entry of ours there at all: missing, as on a node that lost the key (re-seeding is tested below).
    expect(await extend(TOKEN, 'w')).toBe('missing');
  });

  it("tells an entry missing apart (2), and re-seeds it only where it cannot sit beside a writer, or a writer beside readers", async () => {
    const keys = keysFor('read-write-reseed', 7) as [string, string, string, string, string, string, string];
    const [absent, writing, intended, expiredWriter, reading, intendedOnly, plainHash] = keys;
    const extend = (key: string, field: string, isReseeding: boolean, token = TOKEN) =>
      run(permitExtendScript, [key], permitExtendArgsOf(token, 60_000, isReseeding, { kind: 'read-write' }, [field])).then(parsePermitExtendReply);
    // The node lost the key (it restarted empty): without re-seeding, nothing changes.
    expect(await extend(absent, `r:${TOKEN}`, false)).toBe('missing');
    expect(await client.exists(absent)).toBe(0);
    expect(await extend(absent, `r:${TOKEN}`, true)).toBe('missing');
    expect(await fieldsOf(absent)).toEqual([`r:${TOKEN}`, 'rw']);
    expect(entryOf(await client.hget(absent, `r:${TOKEN}`)).holder).toBe(TOKEN);
    expect(await client.pttl(absent)).toBeGreaterThan(50_000);
    expect(await extend(absent, 'w', true, 'a-writer')).toBe('not-held');
    // A reader never beside a writer, nor beside a waiting writer's intent, which keeps new readers out.
    await take(writing, 'a-writer', 'write');
    await take(intended, OTHER_TOKEN, 'read');
    expect(await take(intended, 'a-waiting-writer', 'write', { intent: INTENT })).toBe(2);
    await release(intended, OTHER_TOKEN);
    // A writer never beside a reader.
    await take(reading, OTHER_TOKEN, 'read');
    await client.hset(plainHash, 'field', 'value');
    await client.pexpire(plainHash, 60_000);
    const refusals = [[writing, `r:${TOKEN}`, 'missing'], [intended, `r:${TOKEN}`, 'missing'], [reading, 'w', 'missing'], [plainHash, 'w', 'not-held']] as const;
    for (const [key, field, withoutReseeding] of refusals) {
      const dump = await client.dump(key);
      expect(await extend(key, field, false)).toBe(withoutReseeding);
      expect(await extend(key, field, true)).toBe('not-held');
      expect(await client.dump(key)).toEqual(dump);
    }
    // An expired writer does not count; a writer may sit beside another writer's intent, as it is admitted.
    await client.hset(expiredWriter, 'rw', '1', 'w', `${(await nodeNowMs()) - 1}:a-crashed-writer`, `r:${OTHER_TOKEN}`, `${(await nodeNowMs()) + 10_000}:${OTHER_TOKEN}`);
    await client.pexpire(expiredWriter, 10_000);
    expect(await extend(expiredWriter, `r:${TOKEN}`, true)).toBe('missing');
    expect(entryOf(await client.hget(expiredWriter, `r:${TOKEN}`)).holder).toBe(TOKEN);
    await client.hset(intendedOnly, 'rw', '1', 'i', `${(await nodeNowMs()) + 10_000}:${INTENT}`);
    await client.pexpire(intendedOnly, 10_000);
    expect(await extend(intendedOnly, 'w', true)).toBe('missing');
    expect(entryOf(await client.hget(intendedOnly, 'w')).holder).toBe(TOKEN);
    expect(await client.pttl(intendedOnly)).toBeGreaterThan(50_000);
    await client.del(...keys);
  });
});

describe('as an ACL user denied every channel, as Redis 7 makes new users by default', () => {
  // The releases wake waiters on a channel; a user the ACL denies it must still release (its waiters wake on
  // their timers). Its keys: the locks' (`~prefix*`) and their wait queues' (`~{prefix*`). A user of its own
  // on the node: a change to the server, so not on shared nodes.
  itWithFaults('a lock, permits and a read-write lock are released though the wakes are refused, and the queue moves on', async () => {
    const user = `no-channels-${randomUUID()}`;
    await client.call('ACL', 'SETUSER', user, 'on', '>secret', `~${KEY_PREFIX}*`, `~{${KEY_PREFIX}*`, '+@all', 'resetchannels');
    const restricted = redis.createClient(0, { username: user, password: 'secret' });
    const redlock = new Redlock([new IoredisAdapter(restricted)], { keyPrefix: `${KEY_PREFIX}acl:` });
    try {
      await expect(restricted.publish(wakeChannelOf(memberNamed('any')), '1')).rejects.toThrow(/NOPERM/);
      // A waiter queued on the key: the refused wake takes it off the queue (it cannot hear from here), and the release succeeds.
      const waiting = memberNamed('acl-waiter');
      await client.zadd(queueOf(`${KEY_PREFIX}acl:r`), 1, waiting);
      await expect((await redlock.acquire('r', 10_000)).release()).resolves.toMatchObject({ releasedCount: 1 });
      expect(await client.exists(queueOf(`${KEY_PREFIX}acl:r`))).toBe(0);
      const permit = await redlock.semaphore('s', { limit: 2 }).acquire(10_000);
      await expect(permit.release()).resolves.toBeUndefined();
      const writer = await redlock.readWriteLock('rw').acquireWrite(10_000);
      await expect(writer.release()).resolves.toBeUndefined();
      expect([permit.state, writer.state]).toEqual(['released', 'released']);
      expect(await client.keys(`${KEY_PREFIX}acl:*`)).toEqual([]);
    } finally {
      await redlock.close();
      // Before its user goes: the server would drop the connection, and the client retry a failing AUTH.
      restricted.disconnect();
      await client.call('ACL', 'DELUSER', user);
    }
  });

  itWithFaults('a waiter is told once that it cannot subscribe, and still gets the lock on its retry timer', async () => {
    const user = `no-channels-${randomUUID()}`;
    await client.call('ACL', 'SETUSER', user, 'on', '>secret', `~${KEY_PREFIX}*`, `~{${KEY_PREFIX}*`, '+@all', 'resetchannels');
    const restricted: Redis[] = [];
    const connect = (options: RedlockOptions = {}) => {
      const connection = redis.createClient(0, { username: user, password: 'secret' });
      restricted.push(connection);
      return new Redlock([new IoredisAdapter(connection)], { keyPrefix: `${KEY_PREFIX}acl:`, ...options });
    };
    const [holding, waiting] = [connect(), connect({ retryCount: Infinity, waitMs: 10_000, retryDelayMs: 50, retryJitterMs: 0 })];
    const warnings: string[] = [];
    const spy = jest.spyOn(process, 'emitWarning').mockImplementation(((_: unknown, options?: { code?: string }) => void warnings.push(options?.code ?? '')) as typeof process.emitWarning);
    try {
      const holder = await holding.acquire('w', 10_000);
      const waiter = waiting.acquire('w', 10_000);
      for (const deadline = Date.now() + 5_000; !warnings.includes('REDLOCK_NO_CHANNEL_PERMISSION') && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 10));
      await holder.release();
      await (await waiter).release();
      expect(warnings.filter((code) => code === 'REDLOCK_NO_CHANNEL_PERMISSION')).toHaveLength(1);
    } finally {
      spy.mockRestore();
      await Promise.all([holding.close(), waiting.close()]);
      for (const connection of restricted) connection.disconnect();
      await client.call('ACL', 'DELUSER', user);
    }
  });
});

describe('as an ACL user denied the wait queues (their keys and commands), as before queued wakes', () => {
  // The scripts run every queue command with redis.pcall: such a user still takes, waits for and releases
  // holds, and its waiters wake on their retry timers.
  itWithFaults('a refused waiter, its release and the holder\'s release succeed, and the waiter gets the lock on its timer', async () => {
    const user = `no-queues-${randomUUID()}`;
    await client.call('ACL', 'SETUSER', user, 'on', '>secret', `~${KEY_PREFIX}*`, '+@all', '-zadd', '-zrem', '-zrange', 'resetchannels');
    const restricted: Redis[] = [];
    const connect = (options: RedlockOptions = {}) => {
      const connection = redis.createClient(0, { username: user, password: 'secret' });
      restricted.push(connection);
      return new Redlock([new IoredisAdapter(connection, { notifications: false })], { keyPrefix: `${KEY_PREFIX}no-queues:`, ...options });
    };
    const [holding, waiting] = [connect(), connect({ retryCount: Infinity, waitMs: 10_000, retryDelayMs: 50, retryJitterMs: 0 })];
    try {
      for (const take of [(redlock: Redlock) => redlock.acquire('q', 10_000), (redlock: Redlock) => redlock.semaphore('s', { limit: 1 }).acquire(10_000)]) {
        const held = await take(holding);
        const waiter = take(waiting);
        await new Promise((resolve) => setTimeout(resolve, 120));
        await held.release();
        await (await waiter).release();
      }
      expect(await client.keys(`*${KEY_PREFIX}no-queues:*`)).toEqual([]);
    } finally {
      await Promise.all([holding.close(), waiting.close()]);
      for (const connection of restricted) connection.disconnect();
      await client.call('ACL', 'DELUSER', user);
    }
  });
});

describe('as an ACL user that may run the scripts but not the reads in them', () => {
  // Redis 7 reports a command a script may not run as an ERR, not NOPERM: read as a key that is not ours,
  // it let a release resolve and leave the keys, an extension call the lock lost, and a lock look foreign.
  itWithFaults('a release and an extension fail, and an acquisition reports the missing permission, leaving no doubt', async () => {
    const user = `no-reads-${randomUUID()}`;
    await client.call('ACL', 'SETUSER', user, 'on', '>secret', `~${KEY_PREFIX}*`, '+eval', '+evalsha', '+set', '+ping', '+info', '+script', '+time');
    const restricted = redis.createClient(0, { username: user, password: 'secret' });
    const redlock = new Redlock([new IoredisAdapter(restricted, { notifications: false })], { keyPrefix: `${KEY_PREFIX}no-reads:`, retryCount: 0 });
    try {
      // At first contact the lock goes by the acquire script, whose STRLEN is denied: refused, nothing written.
      await expect(redlock.acquire('r', 10_000)).rejects.toMatchObject({ name: 'MisconfiguredNodeError', problem: 'no-permission' });
      expect(await client.exists(`${KEY_PREFIX}no-reads:r`)).toBe(0);
      // The probe ahead of it told that the node runs scripts: a plain SET NX takes the lock; the release script's GET is denied.
      const lock = await redlock.acquire('r', 10_000);
      await expect(lock.extend(10_000)).rejects.toMatchObject({ name: 'LockExtendError', isLost: false });
      await expect(lock.release()).rejects.toMatchObject({ name: 'LockReleaseError' });
      expect(await client.get(`${KEY_PREFIX}no-reads:r`)).toBe(lock.token);
      // The acquire script's STRLEN is denied too: a permission problem, not a foreign key.
      await expect(redlock.acquire('r', 10_000)).rejects.toMatchObject({ name: 'MisconfiguredNodeError', problem: 'no-permission' });
    } finally {
      await redlock.close();
      restricted.disconnect();
      await client.del(`${KEY_PREFIX}no-reads:r`);
      await client.call('ACL', 'DELUSER', user);
    }
  });
});
