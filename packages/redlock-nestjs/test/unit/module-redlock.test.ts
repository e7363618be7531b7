import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis';
import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis-v5';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { createModuleRedlock, type IoredisAdapterPackage, loadIoredisAdapter } from '../../src/module-redlock.js';
import type { RedlockModuleClient } from '../../src/index.js';

// Clients of ioredis 6 and 5 that never connect: `tsc -p tsconfig.test.json` checks that both fit
// `clients`, and the module tells them from what is not a client by their members alone.
const redises = [new Redis6({ lazyConnect: true }), new Redis5({ lazyConnect: true })];
const clusters = [new Cluster6([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true }), new Cluster5([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true })];
afterAll(() => {
  for (const client of [...redises, ...clusters]) client.disconnect();
});

/** A stand-in for redlock-ioredis-adapter, recording what the module does with it. */
function fakeAdapterPackage() {
  const quit = jest.fn(async (_client: RedlockModuleClient) => undefined);
  const closed: unknown[] = [];
  const adapterPackage: IoredisAdapterPackage = {
    IoredisAdapter: class {
      constructor(readonly client: object) {}
      evalsha = async () => null;
      eval = async () => null;
      close = async () => void closed.push(this.client);
    },
    quitClient: quit,
  };
  return { adapterPackage, quit, closed, load: jest.fn(async () => adapterPackage) };
}

describe('createModuleRedlock over clients', () => {
  it('wraps ioredis 5 and 6 Redis and Cluster clients in IoredisAdapter, and `{ client, timeoutMs }` with its timeout', async () => {
    const [redis6, redis5] = redises as [Redis6, Redis5];
    const [cluster6, cluster5] = clusters as [Cluster6, Cluster5];
    const { redlock, closeClients } = await createModuleRedlock({ clients: [redis6, redis5, cluster6, { client: cluster5, timeoutMs: 500 }, { client: new Redis6({ lazyConnect: true }) }] });
    expect(redlock.quorum).toBe(3);
    expect(redlock.nodeHealth().map((node) => node.nodeIndex)).toEqual([0, 1, 2, 3, 4]);
    await closeClients(); // closes none: `closeClients` was not given
    expect(redis6.status).toBe('wait');
    await redlock.close();
  });

  it('quits every client with quitClient after `closeClients: true`, and calls a function instead when given one', async () => {
    const fake = fakeAdapterPackage();
    const [redis6, redis5] = redises as [Redis6, Redis5];
    const quitting = await createModuleRedlock({ clients: [redis6, { client: redis5, timeoutMs: 200 }], closeClients: true }, fake.load);
    await quitting.closeClients();
    expect(fake.quit.mock.calls.map(([client]) => client)).toEqual([redis6, redis5]);

    const closeClients = jest.fn(() => 'closed');
    const calling = await createModuleRedlock({ clients: [redis6], closeClients }, fake.load);
    await calling.closeClients();
    expect(closeClients).toHaveBeenCalledTimes(1);
    expect(fake.quit).toHaveBeenCalledTimes(2);
  });

  it.each([
    ['both nodes and clients', { nodes: [new IoredisAdapter(redises[0]!)], clients: [redises[1]] }, TypeError, /either `nodes` or `clients`.*got both/],
    ['neither', { redlockOptions: {} }, TypeError, /either `nodes` \(adapters\) or `clients` \(ioredis clients\).*got neither/],
    ['no clients', { clients: [] }, RangeError, /`clients` to hold at least one client, got an empty array/],
    ['clients not in an array', { clients: redises[0] }, TypeError, /`clients` to be an array of ioredis clients, got an ioredis client/],
    ['a URL for a client', { clients: ['redis://127.0.0.1:6379'] }, TypeError, /`clients\[0\]` to be an ioredis `Redis` or `Cluster`.*got `"redis:\/\/127.0.0.1:6379"`/],
    ['an adapter for a client', { clients: [redises[0], new IoredisAdapter(redises[1]!)] }, TypeError, /`clients\[1\]`.*that is an adapter, which goes in `nodes`/],
    ['a bad client in `{ client }`', { clients: [{ client: { evalsha() {}, eval() {} }, timeoutMs: 100 }] }, TypeError, /`clients\[0\]`.*`\{ client, timeoutMs \}`.*adapter/],
    ['`closeClients: true` with nodes', { nodes: [new IoredisAdapter(redises[0]!)], closeClients: true }, TypeError, /`closeClients` to be a function \(`true` is for `clients`/],
    ['a string for closeClients', { clients: [redises[0]], closeClients: 'yes' }, TypeError, /`closeClients` to be a boolean or a function, got `"yes"`/],
  ])('refuses %s with a clear error, before loading the adapter', async (_case, options, type, message) => {
    const fake = fakeAdapterPackage();
    const creating = createModuleRedlock(options as never, fake.load);
    await expect(creating).rejects.toThrow(type);
    await expect(creating).rejects.toThrow(message);
    expect(fake.load).not.toHaveBeenCalled();
  });

  it('refuses a bad timeout or Redlock option as the Redlock constructor does, and closes the adapters it made', async () => {
    const fake = fakeAdapterPackage();
    const [redis6, redis5] = redises as [Redis6, Redis5];
    await expect(createModuleRedlock({ clients: [redis6, { client: redis5, timeoutMs: -1 }] }, fake.load)).rejects.toThrow(/nodes\[1\]\.timeoutMs/);
    await expect(createModuleRedlock({ clients: [redis6, redis5], redlockOptions: { retryCount: -1 } }, fake.load)).rejects.toThrow(/retryCount/);
    expect(fake.closed).toEqual([redis6, redis5, redis6, redis5]);
    // The adapter refuses the third client: the two made before it are closed too.
    const refusing = { ...fake.adapterPackage, IoredisAdapter: class extends fake.adapterPackage.IoredisAdapter {
      constructor(client: never) {
        super(client);
        if (client === redises[0]) throw new TypeError('Expected an ioredis client without `stringNumbers`');
      }
    } };
    await expect(createModuleRedlock({ clients: [redis5, clusters[0]!, redis6] }, async () => refusing)).rejects.toThrow(/stringNumbers/);
    expect(fake.closed.slice(4)).toEqual([redis5, clusters[0]]);
    // One client in two entries: one server counted twice.
    await expect(createModuleRedlock({ clients: [redis6, redis6] }, fake.load)).rejects.toThrow(/the same client/);
  });

  it('says what to install when redlock-ioredis-adapter is missing, and lets any other loading error through', async () => {
    const missing = Object.assign(new Error("Cannot find package 'redlock-ioredis-adapter'"), { code: 'ERR_MODULE_NOT_FOUND' });
    const loading = loadIoredisAdapter(async () => Promise.reject(missing));
    await expect(loading).rejects.toThrow('RedlockModule needs redlock-ioredis-adapter to wrap `clients`, and it is not installed: run `npm install redlock-ioredis-adapter`, or pass adapters in `nodes`');
    await expect(loading).rejects.toMatchObject({ cause: missing });
    const required = Object.assign(new Error("Cannot find module 'redlock-ioredis-adapter'"), { code: 'MODULE_NOT_FOUND' });
    await expect(loadIoredisAdapter(async () => Promise.reject(required))).rejects.toMatchObject({ cause: required });
    const broken = new SyntaxError('Unexpected token');
    await expect(loadIoredisAdapter(async () => Promise.reject(broken))).rejects.toBe(broken);
    expect((await loadIoredisAdapter()).IoredisAdapter).toBe(IoredisAdapter);
  });
});

describe('createModuleRedlock over nodes', () => {
  it('never loads the adapter package', async () => {
    const fake = fakeAdapterPackage();
    const { redlock } = await createModuleRedlock({ nodes: [new IoredisAdapter(redises[0]!)] }, fake.load);
    expect(redlock.quorum).toBe(1);
    expect(fake.load).not.toHaveBeenCalled();
    await redlock.close();
  });
});
