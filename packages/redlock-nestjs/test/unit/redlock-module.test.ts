import { describe, expect, it, jest } from '@jest/globals';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redlock, SYSTEM_CLOCK } from 'redlock-core';
import { FakeNode, grantingNodes } from 'redlock-core/testing';
import { RedlockModule } from '../../src/index.js';

/**
 * An ioredis `Redis` as the module and IoredisAdapter use it, over a fake node: commands in ioredis's
 * argument order, QUIT and `status`.
 */
function fakeIoredisClient(node = new FakeNode(SYSTEM_CLOCK)) {
  const client = {
    node,
    isCluster: false,
    status: 'ready',
    options: {},
    evalsha: async (sha1: string, keyCount: number, ...rest: string[]) => node.evalsha(sha1, rest.slice(0, keyCount), rest.slice(keyCount)),
    eval: async (source: string, keyCount: number, ...rest: string[]) => node.eval(source, rest.slice(0, keyCount), rest.slice(keyCount)),
    set: async (key: string, value: string, _px: 'PX', ttlMs: number, _nx: 'NX', get?: 'GET') => (get === undefined ? node.trySet(key, value, ttlMs) : node.setIfAbsent(key, value, ttlMs)),
    duplicate: () => {
      throw new Error('no subscriber connection in this test');
    },
    defineCommand: () => undefined,
    subscribe: async () => undefined,
    unsubscribe: async () => undefined,
    on: () => client,
    off: () => client,
    quit: jest.fn(async () => {
      client.status = 'end';
      return 'OK';
    }),
    disconnect: jest.fn(),
  };
  return client;
}

@Injectable()
class UsesRedlock {
  constructor(readonly redlock: Redlock) {}
}

describe('RedlockModule.forRoot', () => {
  it('provides one Redlock over the nodes, injectable by its class, and closes it with the clients at shutdown', async () => {
    const closeClients = jest.fn(async () => undefined);
    const moduleRef = await Test.createTestingModule({
      imports: [RedlockModule.forRoot({ nodes: grantingNodes(SYSTEM_CLOCK, 3), closeClients })],
      providers: [UsesRedlock],
    }).compile();
    const app = await moduleRef.init();
    const redlock = app.get(Redlock);
    expect(redlock).toBeInstanceOf(Redlock);
    expect(app.get(UsesRedlock).redlock).toBe(redlock);
    await redlock.using('orders:1', 1_000, async () => undefined);

    await app.close();
    expect(closeClients).toHaveBeenCalledTimes(1);
    await expect(redlock.acquire('orders:1', 1_000)).rejects.toMatchObject({ name: 'RedlockClosedError' });
  });

  it('takes ioredis clients, wraps each in an IoredisAdapter, and leaves them open at shutdown by default', async () => {
    const clients = [fakeIoredisClient(), fakeIoredisClient(), fakeIoredisClient()];
    const app = await (await Test.createTestingModule({ imports: [RedlockModule.forRoot({ clients, redlockOptions: { keyPrefix: 'c:' } })] }).compile()).init();
    await app.get(Redlock).using('orders:1', 1_000, async () => undefined);
    expect(clients.map((client) => client.node.acquireRequests().map((request) => request.keys))).toEqual(Array(3).fill([['c:orders:1']]));
    await app.close();
    expect(clients.map((client) => client.quit.mock.calls.length + client.disconnect.mock.calls.length)).toEqual([0, 0, 0]);
  });

  it('quits the clients after closing the Redlock with `closeClients: true`, `{ client, timeoutMs }` entries included', async () => {
    const clients = [fakeIoredisClient(), fakeIoredisClient(), fakeIoredisClient()];
    const app = await (await Test.createTestingModule({ imports: [RedlockModule.forRoot({ clients: [clients[0]!, { client: clients[1]!, timeoutMs: 500 }, clients[2]!], closeClients: true })] }).compile()).init();
    const redlock = app.get(Redlock);
    await app.close();
    expect(clients.map((client) => client.status)).toEqual(['end', 'end', 'end']);
    await expect(redlock.acquire('orders:1', 1_000)).rejects.toMatchObject({ name: 'RedlockClosedError' });
  });

  it('refuses both nodes and clients, or neither, at the module initialization, before any node is called', async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    const client = fakeIoredisClient();
    await expect(Test.createTestingModule({ imports: [RedlockModule.forRoot({ nodes, clients: [client] } as never)] }).compile()).rejects.toThrow(/got both/);
    await expect(Test.createTestingModule({ imports: [RedlockModule.forRoot({} as never)] }).compile()).rejects.toThrow(/got neither/);
    await expect(Test.createTestingModule({ imports: [RedlockModule.forRoot({ clients: [client, nodes[0]!] as never })] }).compile()).rejects.toThrow(/`clients\[1\]`/);
    expect([...nodes, client.node].every((node) => node.acquireRequests().length === 0)).toBe(true);
  });

  it('gives two scoped modules with the same options two Redlocks', async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    @Module({ imports: [RedlockModule.forRoot({ nodes })], providers: [UsesRedlock], exports: [UsesRedlock] })
    class First {}
    @Injectable()
    class Second extends UsesRedlock {}
    @Module({ imports: [RedlockModule.forRoot({ nodes })], providers: [Second], exports: [Second] })
    class SecondModule {}
    const app = await (await Test.createTestingModule({ imports: [First, SecondModule] }).compile()).init();
    expect(app.get(UsesRedlock).redlock).not.toBe(app.get(Second).redlock);
    await app.close();
  });

  it('rejects bad Redlock options at the module initialization, before any node is called', async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    const compiling = Test.createTestingModule({ imports: [RedlockModule.forRoot({ nodes, redlockOptions: { retryDelay: 10 } as never })] }).compile();
    await expect(compiling).rejects.toThrow(TypeError);
    await expect(Test.createTestingModule({ imports: [RedlockModule.forRoot({ nodes: [] })] }).compile()).rejects.toThrow(/node/);
    expect(nodes.every((node) => node.acquireRequests().length === 0)).toBe(true);
  });

  it('is global with isGlobal: a module that does not import it injects the Redlock', async () => {
    @Module({ providers: [UsesRedlock], exports: [UsesRedlock] })
    class Feature {}
    const app = await (await Test.createTestingModule({ imports: [RedlockModule.forRoot({ nodes: grantingNodes(SYSTEM_CLOCK, 3), isGlobal: true }), Feature] }).compile()).init();
    expect(app.get(UsesRedlock).redlock).toBe(app.get(Redlock));
    await app.close();
  });

  it('is scoped by default: a module that does not import it cannot inject the Redlock', async () => {
    @Module({ providers: [UsesRedlock] })
    class Feature {}
    const compiling = Test.createTestingModule({ imports: [RedlockModule.forRoot({ nodes: grantingNodes(SYSTEM_CLOCK, 3) }), Feature] }).compile();
    await expect(compiling).rejects.toThrow(/UsesRedlock/);
  });
});

describe('RedlockModule.forRootAsync', () => {
  it('builds the nodes with an async factory that injects providers, and closes what it made', async () => {
    const closed: string[] = [];
    @Injectable()
    class Settings {
      readonly nodeCount = 3;
    }
    @Module({ providers: [Settings], exports: [Settings] })
    class SettingsModule {}
    const app = await (
      await Test.createTestingModule({
        imports: [
          RedlockModule.forRootAsync({
            imports: [SettingsModule],
            inject: [Settings],
            useFactory: async (settings: Settings) => ({
              nodes: grantingNodes(SYSTEM_CLOCK, settings.nodeCount),
              redlockOptions: { keyPrefix: 'async:' },
              closeClients: () => closed.push('clients'),
            }),
          }),
        ],
      }).compile()
    ).init();
    expect(app.get(Redlock).quorum).toBe(2);
    await app.close();
    expect(closed).toEqual(['clients']);
  });

  it('takes the clients the factory made, and quits them at shutdown with `closeClients: true`', async () => {
    const clients: ReturnType<typeof fakeIoredisClient>[] = [];
    const app = await (
      await Test.createTestingModule({
        imports: [
          RedlockModule.forRootAsync({
            useFactory: async () => {
              clients.push(fakeIoredisClient(), fakeIoredisClient(), fakeIoredisClient());
              return { clients, closeClients: true };
            },
          }),
        ],
      }).compile()
    ).init();
    await app.get(Redlock).using('orders:1', 1_000, async () => undefined);
    await app.close();
    expect(clients.map((client) => client.status)).toEqual(['end', 'end', 'end']);
  });

  it('refuses a missing factory at once', () => {
    expect(() => RedlockModule.forRootAsync({} as never)).toThrow(TypeError);
  });
});
