import { describe, expect, it, jest } from '@jest/globals';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redlock, SYSTEM_CLOCK } from 'redlock-core';
import { grantingNodes } from 'redlock-core/testing';
import { RedlockModule } from '../../src/index.js';

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

  it('refuses a missing factory at once', () => {
    expect(() => RedlockModule.forRootAsync({} as never)).toThrow(TypeError);
  });
});
