import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { useRedisNodes } from '../support/redis-servers.js';

// How many times the adapter's commands reach a real node's socket: the first command of a burst (what is
// sent before the promise continuations queued so far have run) leaves at once, the rest of the burst and
// of its turn of the event loop in one write, and each still gets its own reply, in order with the client's
// other commands.

const redis = useRedisNodes(3);

/** A connected client of node `index`, and a count of the writes its socket makes from now on. */
async function clientWithWriteCount(index: number): Promise<{ client: Redis; writes: () => number }> {
  const client = redis.createClient(index);
  await client.ping();
  const socket = client.stream as Socket & { _write: Socket['_write']; _writev: NonNullable<Socket['_writev']> };
  let writes = 0;
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (...args) => {
    writes += 1;
    write(...args);
  };
  socket._writev = (...args) => {
    writes += 1;
    writev(...args);
  };
  return { client, writes: () => writes };
}

describe('coalesced writes over ioredis', () => {
  it('sends the first command of a burst at once and the rest of the turn in one write, each with its own reply', async () => {
    const { client, writes } = await clientWithWriteCount(0);
    const adapter = new IoredisAdapter(client, { notifications: false });
    const keys = Array.from({ length: 20 }, (_, index) => `coalesced:${randomUUID()}:${index}`);
    await client.set(keys[3] as string, 'taken');
    const before = writes();
    const replies = await Promise.all(keys.map((key) => adapter.setIfAbsent(key, `token-of-${key}`, 5_000)));
    expect(writes() - before).toBe(2);
    expect(replies).toEqual(keys.map((_, index) => (index === 3 ? 'taken' : null)));
    expect(await client.mget(keys)).toEqual(keys.map((key, index) => (index === 3 ? 'taken' : `token-of-${key}`)));
  });

  it('releases every socket held in the same turn, two writes each', async () => {
    const counted = await Promise.all(redis.urls.map((_, index) => clientWithWriteCount(index)));
    const adapters = counted.map(({ client }) => new IoredisAdapter(client, { notifications: false }));
    const keys = Array.from({ length: 10 }, (_, index) => `coalesced-nodes:${randomUUID()}:${index}`);
    const before = counted.map(({ writes }) => writes());
    const replies = await Promise.all(keys.flatMap((key) => adapters.map((adapter) => adapter.setIfAbsent(key, 'token', 5_000))));
    expect(counted.map(({ writes }, index) => writes() - (before[index] as number))).toEqual(counted.map(() => 2));
    expect(replies).toEqual(replies.map(() => null));
  });

  it('writes each command at once with `coalesceWrites: false`', async () => {
    const { client, writes } = await clientWithWriteCount(0);
    const adapter = new IoredisAdapter(client, { notifications: false, coalesceWrites: false });
    const keys = Array.from({ length: 20 }, (_, index) => `uncoalesced:${randomUUID()}:${index}`);
    const before = writes();
    const replies = await Promise.all(keys.map((key) => adapter.setIfAbsent(key, 'token', 5_000)));
    expect(writes() - before).toBe(20);
    expect(replies).toEqual(keys.map(() => null));
  });

  it("keeps the client's own commands of the same turn in order with the adapter's", async () => {
    const { client, writes } = await clientWithWriteCount(0);
    const adapter = new IoredisAdapter(client, { notifications: false });
    const key = `coalesced-order:${randomUUID()}`;
    const before = writes();
    const replies = await Promise.all([
      adapter.setIfAbsent(key, 'first', 5_000),
      client.del(key),
      adapter.setIfAbsent(key, 'second', 5_000),
      client.get(key),
      adapter.eval("return redis.call('GET', KEYS[1])", [key], []),
    ]);
    // The adapter's first command and the client's DEL before its second go out at once; the rest together.
    expect(writes() - before).toBe(3);
    expect(replies).toEqual([null, 1, null, 'second', 'second']);
  });

  it('never holds a lone lock\'s commands: one per socket per turn goes out at once, without cork()', async () => {
    const counted = await Promise.all(redis.urls.map((_, index) => clientWithWriteCount(index)));
    const redlock = new Redlock(counted.map(({ client }) => new IoredisAdapter(client)));
    const resource = `coalesced-serial:${randomUUID()}`;
    // First contact (the server probe, the release script's EVAL) out of the count.
    await (await redlock.acquire(resource, 5_000)).release();
    let corks = 0;
    for (const { client } of counted) {
      const cork = client.stream.cork.bind(client.stream);
      client.stream.cork = () => {
        corks += 1;
        cork();
      };
    }
    const before = counted.map(({ writes }) => writes());
    for (let cycle = 0; cycle < 20; cycle += 1) {
      const lock = await redlock.acquire(resource, 5_000);
      await (await lock.release()).settled;
    }
    expect(corks).toBe(0);
    // A SET and a release per node and cycle, each in a write of its own.
    expect(counted.map(({ writes }, index) => writes() - (before[index] as number))).toEqual(counted.map(() => 40));
    await redlock.close();
  });

  it('sends the commands of later turns too, each turn in a write of its own', async () => {
    const { client, writes } = await clientWithWriteCount(0);
    const adapter = new IoredisAdapter(client, { notifications: false });
    const key = `coalesced-turns:${randomUUID()}`;
    const before = writes();
    expect(await adapter.setIfAbsent(key, 'token', 5_000)).toBeNull();
    expect(await adapter.setIfAbsent(key, 'other', 5_000)).toBe('token');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await adapter.eval("return redis.call('GET', KEYS[1])", [key], [])).toBe('token');
    expect(writes() - before).toBe(3);
  });

  it('sends a burst\'s first command at once even later in the same turn, and holds the socket once a burst sends two', async () => {
    const { client, writes } = await clientWithWriteCount(0);
    const adapter = new IoredisAdapter(client, { notifications: false });
    const key = `coalesced-bursts:${randomUUID()}`;
    const before = writes();
    const first = adapter.setIfAbsent(key, 'token', 5_000);
    // Continuations of this turn, each a burst of its own: one command each goes out at once.
    await Promise.resolve();
    const second = adapter.setIfAbsent(key, 'other', 5_000);
    expect(writes() - before).toBe(2);
    await Promise.resolve();
    // A burst of two: the second and whatever the turn sends after it wait for the end of the turn.
    const rest = [adapter.eval("return redis.call('GET', KEYS[1])", [key], []), adapter.setIfAbsent(key, 'third', 5_000)];
    await Promise.resolve();
    rest.push(adapter.eval("return redis.call('GET', KEYS[1])", [key], []));
    expect(writes() - before).toBe(3);
    expect(await Promise.all([first, second, ...rest])).toEqual([null, 'token', 'token', 'token', 'token']);
    expect(writes() - before).toBe(4);
  });

  it('leaves a socket you corked to your own uncork()', async () => {
    const { client, writes } = await clientWithWriteCount(0);
    const adapter = new IoredisAdapter(client, { notifications: false });
    const key = `coalesced-user-cork:${randomUUID()}`;
    const before = writes();
    client.stream.cork();
    const reply = adapter.setIfAbsent(key, 'token', 5_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.stream.writableCorked).toBe(1);
    expect(writes() - before).toBe(0);
    client.stream.uncork();
    expect(await reply).toBeNull();
    expect(writes() - before).toBe(1);
  });

  it('works on a client that has no socket yet, whose commands wait in its offline queue', async () => {
    const client = redis.createClient(0, { lazyConnect: true });
    expect(client.stream).toBeUndefined();
    const adapter = new IoredisAdapter(client, { notifications: false });
    const key = `coalesced-offline:${randomUUID()}`;
    expect(await Promise.all([adapter.setIfAbsent(key, 'token', 5_000), adapter.setIfAbsent(key, 'other', 5_000)])).toEqual([null, 'token']);
  });

  it('takes and releases concurrent locks with fewer writes than commands, and leaves no key behind', async () => {
    const counted = await Promise.all(redis.urls.map((_, index) => clientWithWriteCount(index)));
    const redlock = new Redlock(counted.map(({ client }) => new IoredisAdapter(client)), { retryCount: 0 });
    // First contact (the server probe, the release script's EVAL) out of the count.
    await (await redlock.acquire(`coalesced-locks:${randomUUID()}`, 5_000)).release();
    const before = counted.map(({ writes }) => writes());
    const resources = Array.from({ length: 30 }, (_, index) => `coalesced-locks:${randomUUID()}:${index}`);
    const locks = await Promise.all(resources.map((resource) => redlock.acquire(resource, 5_000)));
    await Promise.all(locks.map((lock) => lock.release().then((result) => result.settled)));
    // 30 SETs and 30 release scripts per node: the 30 SETs alone went out in two writes.
    for (const [index, { writes }] of counted.entries()) {
      expect(writes() - (before[index] as number)).toBeLessThan(60);
      expect(writes() - (before[index] as number)).toBeGreaterThanOrEqual(2);
    }
    for (const { client } of counted) expect(await client.exists(...resources)).toBe(0);
    await redlock.close();
  });
});
