import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redlock } from 'redlock-core';
import { describeAdapterContract, type TestFunctions, useTestCluster, useTestNodes } from 'redlock-adapter-test-kit';
import { createClient as createClient6, RESP_TYPES } from 'redis';
import { createClient as createClient5 } from 'redis5';
import { NodeRedisAdapter, type NodeRedisClient } from '../../src/index.js';
import { NODE_REDIS_VERSIONS, type NodeRedisVersion, nodeRedisFactory, type TestClient } from '../support/node-redis-versions.js';

const test: TestFunctions = { describe, it, beforeAll, afterAll, beforeEach, afterEach };

describe('NodeRedisAdapter over single clients', () => {
  const nodes = useTestNodes(test, 1);
  for (const version of NODE_REDIS_VERSIONS) {
    describeAdapterContract({ name: `NodeRedisAdapter, ${version.name}`, test, nodes, connect: nodeRedisFactory(version) });
    describeAdapterContract({
      name: `NodeRedisAdapter with a subscriber of its user, ${version.name}`,
      test,
      nodes,
      connect: nodeRedisFactory(version, { subscriber: 'given' }),
    });
    describeAdapterContract({
      name: `NodeRedisAdapter with notifications: false, ${version.name}`,
      test,
      nodes,
      connect: nodeRedisFactory(version, { subscriber: 'none' }),
    });
  }
});

describe('NodeRedisAdapter over cluster clients', () => {
  const cluster = useTestCluster(test);
  for (const version of NODE_REDIS_VERSIONS) {
    describeAdapterContract({
      name: `NodeRedisAdapter over createCluster, ${version.name}`,
      test,
      nodes: cluster,
      cluster: true,
      connect: nodeRedisFactory(version, { cluster: true }),
    });
  }
});

describe('NodeRedisAdapter', () => {
  const nodes = useTestNodes(test, 1);
  const [, , , latest] = NODE_REDIS_VERSIONS;
  let opened: TestClient[] = [];
  /** A connected client of the newest major; closed after the test. */
  const connected = async (): Promise<ReturnType<NodeRedisVersion['createClient']>> => {
    const client = (latest as NodeRedisVersion).createClient(nodes.urls[0] as string);
    client.on('error', () => undefined);
    opened.push(client);
    await client.connect();
    return client;
  };
  afterEach(async () => {
    const closing = opened;
    opened = [];
    await Promise.all(closing.map((client) => client.disconnect().catch(() => undefined)));
  });

  it('is tested in every version with the protocol its name says (node-redis 6 speaks RESP3 unless told otherwise)', async () => {
    for (const version of NODE_REDIS_VERSIONS) {
      const client = version.createClient(nodes.urls[0] as string);
      client.on('error', () => undefined);
      opened.push(client);
      await client.connect();
      const info = String(await client.sendCommand(['CLIENT', 'INFO']));
      expect(`${version.name}: resp=${/resp=(\d)/.exec(info)?.[1]}`).toBe(`${version.name}: resp=${/RESP(\d)/.exec(version.name)?.[1]}`);
    }
  });

  it('exposes the client it wraps, as given, so Redlock refuses one client in two adapters', async () => {
    const client = await connected();
    const adapter = new NodeRedisAdapter(client);
    expect(adapter.client).toBe(client);
    expect(() => new Redlock([adapter, new NodeRedisAdapter(client), new NodeRedisAdapter(client)])).toThrow(
      'got the same client at `nodes[0]` and `nodes[1]`',
    );
  });

  it('has the subscribe capability by default, and none with `notifications: false`', async () => {
    const client = await connected();
    expect(new NodeRedisAdapter(client).subscribe).toBeInstanceOf(Function);
    expect(new NodeRedisAdapter(client, { notifications: false }).subscribe).toBeUndefined();
  });

  it('has no subscribe capability over a stand-in client that can neither subscribe nor be duplicated', () => {
    expect(new NodeRedisAdapter({ sendCommand: async () => null }).subscribe).toBeUndefined();
  });

  it.each([
    ['options that are not an object', null, /^Expected `options` to be an object, got `null`$/],
    ['a `notifications` that is not a boolean', { notifications: 'yes' }, /^Expected `notifications` to be a boolean, got `yes`$/],
    ['a subscriber together with `notifications: false`', { notifications: false, subscriber: 'duplicate' }, /^Expected either `subscriber` or `notifications: false`, got both/],
    ['a misspelt option', { notification: false }, /^Unknown option `notification` in the options of NodeRedisAdapter: it takes `notifications`, `subscriber`$/],
    ["another adapter's option", { coalesceWrites: false }, /^Unknown option `coalesceWrites` in the options of NodeRedisAdapter/],
  ])('refuses %s with a TypeError', async (_, options, message) => {
    const client = await connected();
    const given = options !== null && (options as { subscriber?: unknown }).subscriber === 'duplicate' ? { ...options, subscriber: client.duplicate() } : options;
    expect(() => new NodeRedisAdapter(client, given as never)).toThrow(TypeError);
    expect(() => new NodeRedisAdapter(client, given as never)).toThrow(message);
  });

  it('refuses a node-redis 6 client with a keyPrefix, which it would not put before the lock keys', () => {
    const prefixed = createClient6({ url: nodes.urls[0] as string, keyPrefix: 'app:' });
    expect(() => new NodeRedisAdapter(prefixed as never)).toThrow(TypeError);
    expect(() => new NodeRedisAdapter(prefixed as never)).toThrow('Expected a node-redis client without `keyPrefix`, got one with `app:`');
  });

  it.each([
    ['redis 5', createClient5],
    ['redis 6', createClient6],
  ] as const)('locks over a %s client whose type mapping turns strings into Buffers', async (_, createClient) => {
    const mapping = { [RESP_TYPES.BLOB_STRING]: Buffer, [RESP_TYPES.SIMPLE_STRING]: Buffer };
    const client = (createClient as (options: unknown) => unknown)({ url: nodes.urls[0] as string, RESP: 3, commandOptions: { typeMapping: mapping } }) as TestClient & NodeRedisClient;
    client.on('error', () => undefined);
    opened.push(client);
    await client.connect();
    const redlock = new Redlock([new NodeRedisAdapter(client, { notifications: false })], { retryCount: 0 });
    const lock = await redlock.acquire(`mapped:${Math.random()}`, 10_000);
    expect(lock.state).toBe('held');
    await lock.extend(10_000);
    expect((await lock.release()).releasedCount).toBe(1);
    await redlock.close();
  });

  it.each([
    ['null', null],
    ['an object without sendCommand', { get: async () => null }],
    ['a string', 'redis://127.0.0.1:6379'],
  ])('refuses %s as the client with a TypeError', (_, client) => {
    expect(() => new NodeRedisAdapter(client as unknown as NodeRedisClient)).toThrow(TypeError);
    expect(() => new NodeRedisAdapter(client as unknown as NodeRedisClient)).toThrow(/^Expected `client` to be a node-redis client or cluster/);
  });

  it('refuses the client as its own subscriber, and a subscriber without subscribe/unsubscribe', async () => {
    const client = await connected();
    expect(() => new NodeRedisAdapter(client, { subscriber: client })).toThrow(TypeError);
    expect(() => new NodeRedisAdapter(client, { subscriber: client })).toThrow('got `client` itself');
    expect(() => new NodeRedisAdapter(client, { subscriber: {} as never })).toThrow(/^Expected `subscriber` to be a node-redis client/);
  });

  it.each(['evalsha', 'eval'] as const)('rejects %s with what the client threw, never throwing itself', async (method) => {
    const thrown = new Error('client bug');
    const adapter = new NodeRedisAdapter({
      sendCommand: () => {
        throw thrown;
      },
    });
    let pending: Promise<unknown> | undefined;
    expect(() => {
      pending = adapter[method]('script', ['key'], ['arg']);
    }).not.toThrow();
    await expect(pending).rejects.toBe(thrown);
  });

  it('sends one SUBSCRIBE per channel for several adapters sharing a subscriber, and UNSUBSCRIBE after the last', async () => {
    const subscriber = (await connected()).duplicate();
    subscriber.on('error', () => undefined);
    opened.push(subscriber);
    await subscriber.connect();
    const [first, second] = [new NodeRedisAdapter(await connected(), { subscriber }), new NodeRedisAdapter(await connected(), { subscriber })];
    const channel = `redlock:wake:node-redis-shared:${Date.now()}`;
    const numsub = async (): Promise<unknown> => ((await nodes.command(0, ['PUBSUB', 'NUMSUB', channel])) as unknown[])[1];
    const received: string[] = [];
    const stopFirst = await first.subscribe!(channel, () => received.push('first'));
    const stopSecond = await second.subscribe!(channel, () => received.push('second'));
    expect(await numsub()).toBe(1);
    expect(await nodes.command(0, ['PUBLISH', channel, '1'])).toBe(1);
    for (let tries = 0; tries < 200 && received.length < 2; tries += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(received.sort()).toEqual(['first', 'second']);
    await stopFirst();
    expect(await numsub()).toBe(1);
    await stopSecond();
    expect(await numsub()).toBe(0);
  });
});
