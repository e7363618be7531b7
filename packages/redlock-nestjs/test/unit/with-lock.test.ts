import { describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { LockAcquireError, Redlock, SYSTEM_CLOCK } from 'redlock-core';
import { type FakeNode, grantingNodes, keysOf } from 'redlock-core/testing';
import { LockSignal, RedlockModule, WithLock, WithPermit } from '../../src/index.js';

const ROUTE_METADATA = 'example:route';

@Injectable()
class Orders {
  readonly seen: { orderId: string; signal: AbortSignal | undefined; locked: string[] }[] = [];
  nodes: readonly FakeNode[] = [];

  @WithLock((orderId: string) => `orders:${orderId}`, { ttlMs: 5_000 })
  async charge(orderId: string, @LockSignal() signal?: AbortSignal): Promise<string> {
    this.seen.push({ orderId, signal, locked: this.nodes.flatMap((node) => keysOf(node)) });
    return `charged ${orderId}`;
  }

  @WithLock('orders:all', { ttlMs: 5_000, retryCount: 0 })
  async failing(): Promise<never> {
    throw new Error('the method failed');
  }

  // A decorator applied first (written below) keeps its metadata on the function Nest reads.
  @WithLock('orders:routed', { ttlMs: 5_000 })
  @((target: object, key: string | symbol, descriptor: PropertyDescriptor) => Reflect.defineMetadata(ROUTE_METADATA, '/route', descriptor.value))
  async routed(): Promise<void> {}

  @WithLock((name: string) => name, { ttlMs: 5_000 })
  async byName(name: string): Promise<string> {
    return name;
  }

  @WithLock('orders:in-turn', { ttlMs: 5_000, fair: true })
  async inTurn(): Promise<void> {}

  @WithPermit((region: string) => `exports:${region}`, { limit: 2, ttlMs: 5_000 })
  async exportRegion(region: string, @LockSignal() signal?: AbortSignal): Promise<{ region: string; aborted: boolean | undefined; keys: string[] }> {
    return { region, aborted: signal?.aborted, keys: this.nodes.flatMap((node) => keysOf(node)) };
  }
}

@Injectable()
class NotInModule {
  @WithLock('nowhere', { ttlMs: 1_000 })
  async run(): Promise<void> {}
}

async function appWith(nodes: FakeNode[]): Promise<INestApplicationContext> {
  const moduleRef = await Test.createTestingModule({ imports: [RedlockModule.forRoot({ nodes, redlockOptions: { keyPrefix: 't:' } })], providers: [Orders] }).compile();
  const app = await moduleRef.init();
  app.get(Orders).nodes = nodes;
  return app;
}

describe('@WithLock', () => {
  it('takes a fair lock with `fair: true`: every node is asked by the script, with a waiter\'s lease', async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    const app = await appWith(nodes);
    await app.get(Orders).inTurn();
    for (const node of nodes) {
      const acquire = node.calls.find((call) => call.script === 'acquire');
      expect(acquire?.method).not.toBe('trySet');
      expect(Number(acquire?.args[5])).toBeGreaterThanOrEqual(1_000);
    }
    await app.close();
  });

  it('runs the method under a lock named from its arguments, with this, arguments, result and the signal kept', async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    const app = await appWith(nodes);
    const orders = app.get(Orders);
    await expect(orders.charge('42')).resolves.toBe('charged 42');
    expect(orders.seen).toHaveLength(1);
    expect(orders.seen[0]?.orderId).toBe('42');
    expect(orders.seen[0]?.signal).toBeInstanceOf(AbortSignal);
    expect(orders.seen[0]?.signal?.aborted).toBe(false);
    // Held on every node while the method ran, released after.
    expect(orders.seen[0]?.locked).toEqual(['t:orders:42', 't:orders:42', 't:orders:42']);
    expect(nodes.flatMap((node) => keysOf(node))).toEqual([]);
    expect(Orders.prototype.charge.name).toBe('charge');
    await app.close();
  });

  it("rejects with the method's own error, and releases the lock", async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    const app = await appWith(nodes);
    await expect(app.get(Orders).failing()).rejects.toThrow('the method failed');
    expect(nodes.flatMap((node) => keysOf(node))).toEqual([]);
    await app.close();
  });

  it('does not run the method while another owner holds the lock: LockAcquireError', async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    const app = await appWith(nodes);
    const other = new Redlock(nodes.map((node) => node.connectAnotherClient()), { keyPrefix: 't:' });
    const held = await other.acquire('orders:all', 5_000);
    await expect(app.get(Orders).failing()).rejects.toBeInstanceOf(LockAcquireError);
    await held.release();
    await other.close();
    await app.close();
  });

  it('carries over the metadata of decorators applied before it', async () => {
    expect(Reflect.getMetadata(ROUTE_METADATA, Orders.prototype.routed)).toBe('/route');
  });

  it('rejects with a TypeError naming the method when the instance got no Redlock', async () => {
    await expect(new NotInModule().run()).rejects.toThrow(/@WithLock\(\) on NotInModule\.run: no Redlock was injected/);
  });

  it('rejects a resource function that returns no resource before any node is called', async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    const app = await appWith(nodes);
    await expect(app.get(Orders).byName('')).rejects.toThrow(/resource/);
    await expect(app.get(Orders).byName(42 as never)).rejects.toThrow(TypeError);
    expect(nodes.every((node) => node.calls.length === 0)).toBe(true);
    await app.close();
  });
});

describe('@WithPermit', () => {
  it('runs the method under a semaphore permit named from its arguments, with the signal', async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    const app = await appWith(nodes);
    const result = await app.get(Orders).exportRegion('eu');
    expect(result.region).toBe('eu');
    expect(result.aborted).toBe(false);
    expect(result.keys.every((key) => key.includes('exports:eu'))).toBe(true);
    expect(result.keys.length).toBeGreaterThanOrEqual(3);
    await app.close();
  });
});

describe('bad decorator options throw when the class is defined', () => {
  const define = (decorate: () => unknown): (() => void) => () => {
    class Target {
      async method(): Promise<void> {}
    }
    const descriptor = Object.getOwnPropertyDescriptor(Target.prototype, 'method') as PropertyDescriptor;
    (decorate() as (target: object, key: string, descriptor: PropertyDescriptor) => void)(Target.prototype, 'method', descriptor);
  };

  it.each([
    ['an empty resource', () => WithLock('', { ttlMs: 1_000 }), TypeError, /@WithLock\(\) on Target\.method: expected the resource/],
    ['an empty resource list', () => WithLock([], { ttlMs: 1_000 }), RangeError, /at least one resource/],
    ['a resource that is not a string', () => WithLock(42 as never, { ttlMs: 1_000 }), TypeError, /got `42`/],
    ['a TTL of 0', () => WithLock('r', { ttlMs: 0 }), RangeError, /`ttlMs` to be an integer from 1 to 2147483647, got `0`/],
    ['a fractional TTL', () => WithLock('r', { ttlMs: 1.5 }), RangeError, /`ttlMs`/],
    ['a TTL in a string', () => WithLock('r', { ttlMs: '10s' as never }), TypeError, /`ttlMs` to be a number, got `"10s"`/],
    ['no TTL', () => WithLock('r', {} as never), TypeError, /`ttlMs`/],
    ['a negative waitMs', () => WithLock('r', { ttlMs: 1_000, waitMs: -1 }), RangeError, /`waitMs`/],
    ['an unknown option', () => WithLock('r', { ttlMs: 1_000, ttl: 5 } as never), TypeError, /unknown option `ttl`/],
    ['a per-call signal', () => WithLock('r', { ttlMs: 1_000, signal: new AbortController().signal } as never), TypeError, /unknown option `signal`/],
    ['a permit limit of 0', () => WithPermit('r', { limit: 0, ttlMs: 1_000 }), RangeError, /@WithPermit\(\) on Target\.method: expected `limit`/],
    ['more permits than the limit', () => WithPermit('r', { limit: 2, permits: 3, ttlMs: 1_000 }), RangeError, /`permits` to be an integer from 1 to 2/],
    ['a resource list for a semaphore', () => WithPermit(['a', 'b'] as never, { limit: 2, ttlMs: 1_000 }), TypeError, /resource/],
  ])('%s', (_, decorate, type, message) => {
    expect(define(decorate)).toThrow(type);
    expect(define(decorate)).toThrow(message);
  });

  it('a static method', () => {
    class Target {
      static async method(): Promise<void> {}
    }
    const descriptor = Object.getOwnPropertyDescriptor(Target, 'method') as PropertyDescriptor;
    expect(() => WithLock('r', { ttlMs: 1_000 })(Target, 'method', descriptor)).toThrow(/instance method/);
  });
});
