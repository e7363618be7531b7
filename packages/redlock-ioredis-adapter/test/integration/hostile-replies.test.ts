import { randomUUID } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { DIAGNOSTICS_CHANNELS, type Lock, LockAcquireError, LockExtendError, LockReleaseError, type NodeErrorMessage, Redlock, type RedlockOptions } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { eventually as eventuallyUntil } from '../support/eventually.js';
import { canInjectFaults, itWithFaults, useRedisNodes } from '../support/redis-servers.js';

// Hostile names and error replies on real Redis: each gets a typed error or the right behaviour, and no
// key of ours is left behind. Tests that reconfigure nodes (maxmemory, REPLICAOF, SCRIPT FLUSH) only run
// on nodes this file started.


const NODE_COUNT = 5;
const TTL_MS = 5_000;

const redis = useRedisNodes(NODE_COUNT);
/** A master outside the lock set, for making lock nodes its replicas. */
const outsider = useRedisNodes(1);

let admins: Redis[] = [];
let prefix = '';

beforeAll(() => {
  admins = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: 1 }));
});
beforeEach(() => {
  prefix = `hostile:${randomUUID()}:`;
});
afterEach(async () => {
  if (!canInjectFaults) return;
  // Undo every reconfiguration, whatever the test did.
  await Promise.all(
    admins.map(async (admin) => {
      await admin.config('SET', 'maxmemory', '0');
      await admin.replicaof('NO', 'ONE');
    }),
  );
});

function newRedlock(options: RedlockOptions = {}): Redlock {
  const clients = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: 1 }));
  return new Redlock(
    clients.map((client) => new IoredisAdapter(client)),
    { keyPrefix: prefix, retryCount: 0, nodeTimeoutMs: 1_000, ...options },
  );
}

/** Every key of this test on every node, as raw bytes decoded as UTF-8. */
/** Releases `lock` and waits for every node: how many deleted our keys. */
async function releasedEverywhere(lock: Lock): Promise<number> {
  const settled = await (await lock.release()).settled;
  return settled.filter((node) => node.status === 'released').length;
}

async function keysOfTest(): Promise<string[]> {
  const keys = await Promise.all(admins.map((admin) => admin.keysBuffer(`${prefix}*`)));
  return keys.flat().map((key) => key.toString('utf8'));
}

/** The node indexes whose key `key` holds `token` (a key of another type holds no token). */
async function holders(key: string, token: string): Promise<number[]> {
  const values = await Promise.all(admins.map((admin) => admin.get(key).catch(() => null)));
  return values.flatMap((value, index) => (value === token ? [index] : []));
}

/**
 * `read()` once it equals `expected`, polling for up to 2 s: acquire() resolves at a quorum, while the
 * last nodes may still be running the script.
 */
async function eventually<T>(read: () => Promise<T>, expected: T): Promise<T> {
  let value = await read();
  for (let tries = 0; tries < 100 && JSON.stringify(value) !== JSON.stringify(expected); tries += 1) {
    await delay(20);
    value = await read();
  }
  return value;
}

async function outOfMemory(indexes: readonly number[]): Promise<void> {
  for (const index of indexes) {
    await admins[index]?.config('SET', 'maxmemory-policy', 'noeviction');
    await admins[index]?.config('SET', 'maxmemory', '1');
  }
}

describe('hostile resource names on real Redis', () => {
  it('locks, extends and releases a 1 MB resource name, and keeps messages short', async () => {
    // Short: the name is cut in messages. 400 characters leave room for the advice a foreign key gets
    // (352 with it); the whole name would be over a million.
    const name = `big:${'x'.repeat(1024 * 1024)}`;
    const redlock = newRedlock();
    const lock = await redlock.acquire(name, TTL_MS);
    expect(await eventually(() => holders(prefix + name, lock.token), [0, 1, 2, 3, 4])).toEqual([0, 1, 2, 3, 4]);
    await lock.extend(TTL_MS);
    expect(await releasedEverywhere(lock)).toBe(NODE_COUNT);
    expect(await keysOfTest()).toEqual([]);

    await admins[0]?.set(prefix + name, 'someone', 'PX', 60_000);
    await admins[1]?.set(prefix + name, 'someone', 'PX', 60_000);
    await admins[2]?.set(prefix + name, 'someone', 'PX', 60_000);
    // Each a single try (retryCount 0): it ends once a quorum refused, while the last nodes may still be
    // running its acquire on the 1 MB key; close() waits for their cleanup before the keys are changed.
    const trying = newRedlock();
    const error = await trying.acquire(name, TTL_MS).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as Error).message.length).toBeLessThan(400);
    await trying.close();
    await Promise.all(admins.map((admin) => admin.del(prefix + name)));
    await Promise.all(admins.map((admin) => admin.hset(prefix + name, 'field', 'value')));
    const tryingForeign = newRedlock();
    const foreign = await tryingForeign.acquire(name, TTL_MS).catch((failure: unknown) => failure);
    expect((foreign as LockAcquireError).reason).toBe('foreign-key');
    expect((foreign as Error).message.length).toBeLessThan(400);
    await tryingForeign.close();
    await Promise.all(admins.map((admin) => admin.del(prefix + name)));
    expect(await keysOfTest()).toEqual([]);
  });

  it('locks 10,000 resources at once at default options: the node timeout grows with the keys of a call', async () => {
    const names = Array.from({ length: 10_000 }, (_, index) => `many:${index}:a-resource-name-of-some-length`);
    const lock = await newRedlock({ nodeTimeoutMs: undefined }).acquire(names, 10_000);
    expect(lock.attempts).toBe(1);
    await lock.extend(10_000);
    // The release runs on every node, but on a loaded machine the answer of a node deleting 10,000 keys can
    // come after its timeout (at most 1 s, plus 25 µs a key): a new user's `npm test` beside the simulations
    // saw 3 of 5 nodes time out. What must hold: no node refuses, and every key is gone well before its TTL.
    const nodes = await lock.release().then(
      async (released) => released.settled,
      (error: unknown) => {
        if (!(error instanceof LockReleaseError)) throw error;
        return error.nodes;
      },
    );
    expect(nodes.filter((node) => node.status !== 'released' && node.status !== 'timeout')).toEqual([]);
    expect(await eventuallyUntil(keysOfTest, (keys) => keys.length === 0, 5_000)).toEqual([]);
  });

  it.each<[string, string[]]>([
    ['unicode', ['訂單:42', '🔒', 'שלום', 'e\u0301', '\u00e9']],
    ['binary-looking', ['\u0000', '\r\n*1\r\n$4\r\nPING\r\n', '\u00ff', '-ERR x', '$-1']],
    ['glob, hash-tag and prefix-like', ['*', '[a]', '{t}:1', 'lock:x', `${'hostile:'}x`]],
  ])('round-trips %s names byte for byte, one key each', async (_, names) => {
    const lock = await newRedlock().acquire(names, TTL_MS);
    const expected = Array.from({ length: NODE_COUNT }, () => names.map((name) => prefix + name))
      .flat()
      .sort();
    expect(await eventually(async () => (await keysOfTest()).sort(), expected)).toEqual(expected);
    expect(await releasedEverywhere(lock)).toBe(NODE_COUNT);
    expect(await keysOfTest()).toEqual([]);
  });

  it('rejects names that are not well-formed UTF-16 before any node call', async () => {
    // ioredis would encode lone surrogates as U+FFFD: "\uD800" and "\uDBFF" are distinct names, one key.
    for (const name of ['\uD800', 'a\uDBFFb', '\uDC00']) {
      await expect(newRedlock().acquire(name, TTL_MS)).rejects.toThrow(RangeError);
    }
    expect(await keysOfTest()).toEqual([]);
  });
});

describe('nodes that answer with Redis errors', () => {
  itWithFaults('acquires past one out-of-memory node and fails cleanly with OOM on a majority, leaving no key', async () => {
    await outOfMemory([0]);
    const lock = await newRedlock().acquire('oom', TTL_MS);
    expect(await eventually(() => holders(`${prefix}oom`, lock.token), [1, 2, 3, 4])).toEqual([1, 2, 3, 4]);
    // Release deletes, which Redis allows under OOM.
    const released = await (await lock.release()).settled;
    expect(released.filter((node) => node.status === 'released')).toHaveLength(4);
    expect(released[0]?.status).toBe('not-held');

    await outOfMemory([1, 2]);
    const error = (await newRedlock().acquire('oom', TTL_MS).catch((failure: unknown) => failure)) as LockAcquireError;
    expect(error).toBeInstanceOf(LockAcquireError);
    expect(error.reason).toBe('nodes-unreachable');
    expect(error.nodeErrors.map((nodeError) => nodeError.nodeIndex)).toEqual([0, 1, 2]);
    for (const nodeError of error.nodeErrors) expect(String((nodeError.cause as Error).message)).toMatch(/^OOM /);
    expect(await keysOfTest()).toEqual([]);
  });

  itWithFaults("hands out no token with a node's OOM reply: not in lock.nodes, LockAcquireError or any diagnostics payload", async () => {
    // Every token the lock's attempts send, as the adapter sends them.
    const tokens: string[] = [];
    class TokenRecordingAdapter extends IoredisAdapter {
      override trySet(key: string, value: string, ttlMs: number): Promise<unknown> {
        tokens.push(value);
        return super.trySet(key, value, ttlMs);
      }
    }
    const payloads: unknown[] = [];
    const onPayload = (payload: unknown): void => {
      payloads.push(payload);
    };
    const tracing = [DIAGNOSTICS_CHANNELS.acquire, DIAGNOSTICS_CHANNELS.attempt].map((name) => diagnosticsChannel.tracingChannel(name));
    const handlers = { start: onPayload, end: () => undefined, asyncStart: () => undefined, asyncEnd: () => undefined, error: () => undefined };
    for (const channel of tracing) channel.subscribe(handlers);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.nodeError, onPayload);
    try {
      const redlock = new Redlock(
        redis.urls.map((_, index) => new TokenRecordingAdapter(redis.createClient(index, { maxRetriesPerRequest: 1 }))),
        { keyPrefix: prefix, retryCount: 0, nodeTimeoutMs: 1_000 },
      );
      // Met first: a first contact takes a lock by the script (until the probe tells the node runs scripts), not by SET.
      await redlock.inspect('oom-token');
      await outOfMemory([0]);
      const lock = await redlock.acquire('oom-token', TTL_MS);
      await outOfMemory([1, 2]);
      const error = (await redlock.acquire('oom-token-2', TTL_MS).catch((failure: unknown) => failure)) as LockAcquireError;
      expect(error).toBeInstanceOf(LockAcquireError);
      await (await lock.release()).settled;
      // The replies are still told apart: an ioredis ReplyError, OOM, from a SET. lock.nodes holds the answers
      // known when the quorum was reached, which node 0's may come after; its node error is published
      // either way, before its release's reply on the same connection (so before `settled`).
      const oomNode = lock.nodes[0];
      const published = payloads.find(
        (payload): payload is NodeErrorMessage => (payload as Partial<NodeErrorMessage>).nodeIndex === 0 && (payload as Partial<NodeErrorMessage>).operation === 'acquire',
      );
      const oomError = oomNode?.status === 'error' ? oomNode.error : published?.error;
      expect(oomError).toBeDefined();
      expect(oomError?.cause).toMatchObject({ name: 'ReplyError', message: expect.stringMatching(/^OOM /), command: { name: 'set' } });
      expect(error.nodeErrors.map((nodeError) => (nodeError.cause as { command?: { name?: string } }).command?.name)).toEqual(['set', 'set', 'set']);
      expect(tokens).toHaveLength(2 * NODE_COUNT);
      expect(payloads.length).toBeGreaterThanOrEqual(4 + 4);
      for (const [what, value] of [['lock.nodes', lock.nodes], ['LockAcquireError', error], ['payloads', payloads]] as const) {
        const shown = inspect(value, { depth: null });
        for (const token of tokens) expect(`${what}: ${shown.includes(token) ? `holds token ${token}` : 'no token'}`).toBe(`${what}: no token`);
      }
    } finally {
      for (const channel of tracing) channel.unsubscribe(handlers);
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.nodeError, onPayload);
    }
  });

  itWithFaults('releases a held lock on nodes that ran out of memory meanwhile', async () => {
    const lock = await newRedlock().acquire('oom-held', TTL_MS);
    await eventually(() => holders(`${prefix}oom-held`, lock.token), [0, 1, 2, 3, 4]);
    await outOfMemory([0, 1, 2]);
    expect(await releasedEverywhere(lock)).toBe(NODE_COUNT);
    expect(await keysOfTest()).toEqual([]);
  });

  // A regression once: the extend script rewrote every key with SET … PX, which Redis refuses under
  // maxmemory with noeviction, where PEXPIRE is allowed; now only re-seeding a missing key needs memory.
  itWithFaults('extends a held lock on a majority of out-of-memory nodes, whose keys are all still there', async () => {
    const lock = await newRedlock().acquire('oom-extend', TTL_MS);
    await eventually(() => holders(`${prefix}oom-extend`, lock.token), [0, 1, 2, 3, 4]);
    await outOfMemory([0, 1, 2]);
    try {
      await lock.extend(TTL_MS);
    } finally {
      // Every node, not just a quorum, before looking for keys left behind.
      await (await lock.release()).settled;
    }
    expect(await keysOfTest()).toEqual([]);
  });

  itWithFaults('fails with READONLY on nodes made replicas, cleanly, and works again once they are masters', async () => {
    const [master] = outsider.urls;
    const { hostname, port } = new URL(master as string);
    for (const index of [0, 1, 2]) await admins[index]?.replicaof(hostname, Number(port));
    const error = (await newRedlock().acquire('replica', TTL_MS).catch((failure: unknown) => failure)) as LockAcquireError;
    expect(error).toBeInstanceOf(LockAcquireError);
    expect(error.reason).toBe('nodes-unreachable');
    for (const nodeError of error.nodeErrors) expect((nodeError.cause as Error).message).toMatch(/^(READONLY|LOADING|MASTERDOWN) /);
    expect(await keysOfTest()).toEqual([]);

    for (const index of [0, 1, 2]) await admins[index]?.replicaof('NO', 'ONE');
    const lock = await newRedlock().acquire('replica', TTL_MS);
    expect(await releasedEverywhere(lock)).toBe(NODE_COUNT);
    expect(await keysOfTest()).toEqual([]);
  });

  itWithFaults('falls back to EVAL after SCRIPT FLUSH on every node, for extend and release', async () => {
    const redlock = newRedlock();
    const lock = await redlock.acquire('flushed', TTL_MS);
    await Promise.all(admins.map((admin) => admin.script('FLUSH')));
    await lock.extend(TTL_MS);
    await Promise.all(admins.map((admin) => admin.script('FLUSH')));
    expect(await releasedEverywhere(lock)).toBe(NODE_COUNT);
    await Promise.all(admins.map((admin) => admin.script('FLUSH')));
    const next = await redlock.acquire('flushed', TTL_MS);
    expect(await releasedEverywhere(next)).toBe(NODE_COUNT);
    expect(await keysOfTest()).toEqual([]);
  });

  it('reports a resource key that exists as a hash as a foreign key, and leaves it alone', async () => {
    await Promise.all(admins.map((admin) => admin.hset(`${prefix}hash`, 'field', 'value')));
    const error = (await newRedlock().acquire('hash', TTL_MS).catch((failure: unknown) => failure)) as LockAcquireError;
    expect(error).toBeInstanceOf(LockAcquireError);
    expect(error.reason).toBe('foreign-key');
    expect(await Promise.all(admins.map((admin) => admin.hget(`${prefix}hash`, 'field')))).toEqual(Array(NODE_COUNT).fill('value'));
    await Promise.all(admins.map((admin) => admin.del(`${prefix}hash`)));
    // The call ends once a quorum's refusals settle it: on a loaded machine a node's script may run only
    // after the DEL, and grant; that late grant is released as soon as it is reported.
    expect(await eventually(keysOfTest, [])).toEqual([]);
  });

  it('reads our keys replaced by hashes on a majority as a lost lock, and leaves the hashes alone', async () => {
    const lock = await newRedlock().acquire(['a', 'b'], TTL_MS);
    await eventually(() => holders(`${prefix}b`, lock.token), [0, 1, 2, 3, 4]);
    for (const admin of admins.slice(0, 3)) {
      await admin.del(`${prefix}b`);
      await admin.hset(`${prefix}b`, 'field', 'value');
    }
    const extendError = (await lock.extend(TTL_MS).catch((failure: unknown) => failure)) as LockExtendError;
    expect(extendError).toBeInstanceOf(LockExtendError);
    expect(extendError.isLost).toBe(true);
    expect(extendError.nodes.map((node) => node.status)).toEqual(['not-held', 'not-held', 'not-held', 'extended', 'extended']);
    expect(lock.state).toBe('lost');

    // The release deletes what is still ours and never touches the hashes.
    await (await lock.release()).settled;
    expect(await holders(`${prefix}a`, lock.token)).toEqual([]);
    expect(await holders(`${prefix}b`, lock.token)).toEqual([]);
    for (const admin of admins.slice(0, 3)) expect(await admin.hget(`${prefix}b`, 'field')).toBe('value');
    await Promise.all(admins.map((admin) => admin.del(`${prefix}b`)));
    expect(await keysOfTest()).toEqual([]);
  });
});
