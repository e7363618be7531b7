import { describe, expect, it } from '@jest/globals';
import { type AcquireOptions, type Lock, MAX_TTL_MS, Redlock, type RedisAdapter, type RedlockOptions } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNode, grantingNodes } from '../../src/testing/fake-nodes.js';

/** Values as a caller without types could pass them. */
const loose = <T>(value: unknown): T => value as T;

function setup() {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, 3);
  const redlock = new Redlock(nodes, { clock, retryCount: 0 });
  return { clock, nodes, redlock };
}

/** Calls `operation`, checks that it returned a promise instead of throwing, and returns its rejection. */
async function rejectionOf(operation: () => Promise<unknown>): Promise<unknown> {
  let pending: Promise<unknown>;
  expect(() => {
    pending = operation();
  }).not.toThrow();
  return pending!.then(
    () => {
      throw new Error('Expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('bad arguments to acquire() and using()', () => {
  it.each<[string, unknown, ErrorConstructor, string]>([
    ['zero', 0, RangeError, 'Expected `ttlMs` to be a positive integer up to 2147483647, got `0`'],
    ['negative', -5, RangeError, 'Expected `ttlMs` to be a positive integer up to 2147483647, got `-5`'],
    ['NaN', Number.NaN, RangeError, 'Expected `ttlMs` to be a positive integer up to 2147483647, got `NaN`'],
    ['Infinity', Infinity, RangeError, 'Expected `ttlMs` to be a positive integer up to 2147483647, got `Infinity`'],
    ['fractional', 1000.5, RangeError, 'Expected `ttlMs` to be a positive integer up to 2147483647, got `1000.5`'],
    ['too large', MAX_TTL_MS + 1, RangeError, 'Expected `ttlMs` to be a positive integer up to 2147483647, got `2147483648`'],
    ['a string', '1000', TypeError, 'Expected `ttlMs` to be a number, got `"1000"`'],
    ['undefined', undefined, TypeError, 'Expected `ttlMs` to be a number, got `undefined`'],
    ['1, eaten by drift', 1, RangeError, 'Expected `ttlMs` to leave more validity than one node timeout (50 ms), got `1` ms, which leaves 0 ms after the clock drift allowance: the unit is milliseconds: did you mean 1_000 (1 s)?'],
    ['2, eaten by drift', 2, RangeError, 'Expected `ttlMs` to leave more validity than one node timeout (50 ms), got `2` ms, which leaves 0 ms after the clock drift allowance: the unit is milliseconds: did you mean 2_000 (2 s)?'],
  ])('rejects a TTL that is %s, naming it, and sends nothing', async (_, ttlMs, type, message) => {
    const { nodes, redlock } = setup();
    for (const operation of [() => redlock.acquire('r', loose(ttlMs)), () => redlock.using('r', loose(ttlMs), () => 'never')]) {
      const error = await rejectionOf(operation);
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toBe(message);
    }
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it.each<[string, unknown, ErrorConstructor, string]>([
    ['an empty array', [], RangeError, 'Expected `resources` to name at least one resource, got an empty array'],
    ['an empty string', '', RangeError, 'Expected every resource to be a non-empty string, got `""`'],
    ['an array with an empty string', ['a', ''], RangeError, 'Expected every resource to be a non-empty string, got `""`'],
    ['a lone surrogate', 'a\uD800', RangeError, 'Expected every resource to be well-formed Unicode, got `"a\\ud800"` with a lone surrogate'],
    ['an array with a lone surrogate', ['a', '\uDC00b'], RangeError, 'Expected every resource to be well-formed Unicode, got `"\\udc00b"` with a lone surrogate'],
    ['duplicates', ['a', 'b', 'a'], RangeError, 'Expected resources to be distinct, got `"a"` twice'],
    ['a non-string element', ['a', 42], TypeError, 'Expected every resource to be a string, got `42`'],
    ['a number', 42, TypeError, 'Expected `resources` to be a string or an array of strings, got `42`'],
    ['an object', { name: 'a' }, TypeError, 'Expected `resources` to be a string or an array of strings, got `{"name":"a"}`'],
    ['null', null, TypeError, 'Expected `resources` to be a string or an array of strings, got `null`'],
    ['a Set', new Set(['a']), TypeError, 'Expected `resources` to be a string or an array of strings, got `Set {…}`'],
  ])('rejects resources given as %s, and sends nothing', async (_, resources, type, message) => {
    const { nodes, redlock } = setup();
    for (const operation of [() => redlock.acquire(loose(resources), 1000), () => redlock.using(loose(resources), 1000, () => 'never')]) {
      const error = await rejectionOf(operation);
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toBe(message);
    }
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it.each<[string, unknown, ErrorConstructor, string]>([
    ['a negative retryCount', { retryCount: -1 }, RangeError, 'Expected `retryCount` to be a non-negative integer or `Infinity`, got `-1`: to retry until the lock is acquired, `signal` aborts or `waitMs` runs out, write `Infinity`'],
    ['a fractional retryDelayMs', { retryDelayMs: 1.5 }, RangeError, 'Expected `retryDelayMs` to be a non-negative integer up to 2147483647, got `1.5`'],
    ['a string retryJitterMs', { retryJitterMs: '10' }, TypeError, 'Expected `retryJitterMs` to be a number, got `"10"`'],
    ['a signal that is no AbortSignal', { signal: { aborted: false } }, TypeError, 'Expected `signal` to be an AbortSignal, got `{"aborted":false}`'],
    ['an AbortController for a signal', { signal: new AbortController() }, TypeError, 'Expected `signal` to be an AbortSignal, got `AbortController {…}`'],
    ['options that are a number', 5, TypeError, 'Expected `options` to be an object, got `5`'],
    ['options that are null', null, TypeError, 'Expected `options` to be an object, got `null`'],
    ['options that are an array', [], TypeError, 'Expected `options` to be an object, got `[]`'],
  ])('rejects %s, and sends nothing', async (_, options, type, message) => {
    const { nodes, redlock } = setup();
    const operations = [
      () => redlock.acquire('r', 1000, loose<AcquireOptions>(options)),
      () => redlock.using('r', 1000, () => 'never', loose<AcquireOptions>(options)),
    ];
    for (const operation of operations) {
      const error = await rejectionOf(operation);
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toBe(message);
    }
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('rejects a routine that is not a function with a TypeError, before any node call', async () => {
    const { nodes, redlock } = setup();
    const error = await rejectionOf(() => redlock.using('r', 1000, loose('not a function')));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe('Expected `routine` to be a function, got `string`');
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('rejects a fair call on a resource the nodes keep no wait queue for (a `}` outside a hash tag), before any node call', async () => {
    const { nodes, redlock } = setup();
    const message = 'Expected resources a fair lock can queue on, got "jobs}1": its key has a `}` outside a hash tag, so the nodes keep no wait queue for it. Give it a tag (`{...}`) or leave the `}` out';
    await expect(rejectionOf(() => redlock.acquire(['ok', 'jobs}1'], 1000, { fair: true }))).resolves.toEqual(new RangeError(message));
    await expect(rejectionOf(() => redlock.tryAcquire('jobs}1', 1000, { fair: true }))).resolves.toEqual(new RangeError(message));
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
    // A hash tag gives the key a queue; the default takes any key (its waiters wait on timers there).
    const locks = [await redlock.acquire('{jobs}1}', 1000, { fair: true }), await redlock.acquire('jobs}1', 1000)];
    await Promise.all(locks.map((lock) => lock.release()));
  });

  it('rejects a bad TTL given to extend() with the same message, without a node call', async () => {
    const { clock, nodes, redlock } = setup();
    const lock: Lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    const callsBefore = nodes[0]!.calls.length;
    const error = await rejectionOf(() => lock.extend(0));
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe('Expected `ttlMs` to be a positive integer up to 2147483647, got `0`');
    expect(nodes[0]!.calls.length).toBe(callsBefore);
  });

  it('rejects an extension TTL that acquire() would refuse (seconds written as milliseconds), without a node call', async () => {
    const { clock, nodes, redlock } = setup();
    const lock: Lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    const permit = await clock.runUntilSettled(redlock.semaphore('jobs', { limit: 2 }).acquire(10_000));
    const callsBefore = nodes[0]!.calls.length;
    const advice = 'Expected `ttlMs` to leave more validity than one node timeout (50 ms), got `30` ms, which leaves 28 ms after the clock drift allowance: the unit is milliseconds: did you mean 30_000 (30 s)?';
    for (const extend of [() => lock.extend(30), () => permit.extend(30)]) {
      const error = await rejectionOf(extend);
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toBe(advice);
    }
    expect(nodes[0]!.calls.length).toBe(callsBefore);
    expect([lock.state, permit.state]).toEqual(['held', 'held']);
  });
});

describe('bad arguments to the Redlock constructor', () => {
  it.each<[string, unknown, ErrorConstructor, string]>([
    ['no nodes', [], RangeError, 'Expected `nodes` to hold at least one node, got an empty array'],
    ['a single adapter instead of an array', { evalsha() {}, eval() {} }, TypeError, 'Expected `nodes` to be an array of adapters, got `{}`'],
    ['undefined', undefined, TypeError, 'Expected `nodes` to be an array of adapters, got `undefined`'],
    ['a node without evalsha', [{ eval() {} }], TypeError, 'Expected `nodes[0]` to be an adapter with `evalsha` and `eval` methods, or `{ adapter }`, got `{}`'],
    ['a null node', [null], TypeError, 'Expected `nodes[0]` to be an adapter with `evalsha` and `eval` methods, or `{ adapter }`, got `null`'],
  ])('throws at once for %s', (_, nodes, type, message) => {
    expect(() => new Redlock(loose(nodes))).toThrow(type);
    expect(() => new Redlock(loose(nodes))).toThrow(message);
  });

  it("throws at once for a node's bad timeoutMs, naming the node", () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), { adapter: grantingNode(clock), timeoutMs: 0 }];
    expect(() => new Redlock(nodes)).toThrow(RangeError);
    expect(() => new Redlock(nodes)).toThrow('Expected `nodes[1].timeoutMs` to be a positive integer up to 2147483647, got `0`');
    expect(() => new Redlock([{ adapter: grantingNode(clock), timeoutMs: loose('5') }])).toThrow(TypeError);
  });

  it.each<[string, RedlockOptions, ErrorConstructor, string]>([
    ['driftFactor 1', { driftFactor: 1 }, RangeError, 'Expected `driftFactor` to be a number in [0, 1), got `1`'],
    ['a negative driftFactor', { driftFactor: -0.1 }, RangeError, 'Expected `driftFactor` to be a number in [0, 1), got `-0.1`'],
    ['a NaN driftFactor', { driftFactor: Number.NaN }, RangeError, 'Expected `driftFactor` to be a number in [0, 1), got `NaN`'],
    ['a string driftFactor', loose({ driftFactor: '0.01' }), TypeError, 'Expected `driftFactor` to be a number, got `"0.01"`'],
    ['a non-string keyPrefix', loose({ keyPrefix: 7 }), TypeError, 'Expected `keyPrefix` to be a string, got `7`'],
    ['a clock without wallNow', loose({ clock: { now: () => 0, setTimeout() {}, clearTimeout() {} } }), TypeError, 'Expected `clock` to implement now, wallNow, setTimeout and clearTimeout, got `{}`'],
    ['a string clock', loose({ clock: 'system' }), TypeError, 'Expected `clock` to implement now, wallNow, setTimeout and clearTimeout, got `"system"`'],
    ['a zero nodeTimeoutMs', { nodeTimeoutMs: 0 }, RangeError, 'Expected `nodeTimeoutMs` to be a positive integer up to 2147483647, got `0`'],
    ['a fractional nodeTimeoutMs', { nodeTimeoutMs: 2.5 }, RangeError, 'Expected `nodeTimeoutMs` to be a positive integer up to 2147483647, got `2.5`'],
    ['a negative retryCount', { retryCount: -1 }, RangeError, 'Expected `retryCount` to be a non-negative integer or `Infinity`, got `-1`: to retry until the lock is acquired, `signal` aborts or `waitMs` runs out, write `Infinity`'],
    ['options that are a string', loose('fast'), TypeError, 'Expected `options` to be an object, got `"fast"`'],
  ])('throws at once for %s', (_, options, type, message) => {
    const nodes = grantingNodes(new FakeClock(), 3);
    expect(() => new Redlock(nodes, options)).toThrow(type);
    expect(() => new Redlock(nodes, options)).toThrow(message);
  });

  it('accepts the edges of every range', () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    expect(() => new Redlock(nodes, { clock, driftFactor: 0, retryCount: 0, retryDelayMs: 0, retryJitterMs: 0, nodeTimeoutMs: 1, keyPrefix: '' })).not.toThrow();
    expect(() => new Redlock(nodes, { driftFactor: 0.999 })).not.toThrow();
  });
});

describe('nodes that would count one server twice or cannot work', () => {
  /** An adapter that sends nothing: the constructor never calls one. */
  const adapterOf = (client?: object): RedisAdapter => ({
    evalsha: async () => null,
    eval: async () => null,
    ...(client === undefined ? {} : { client }),
  });
  const method = (): void => undefined;

  it('throws a TypeError naming both nodes when two adapters wrap the same client', () => {
    const [c0, c1] = [{}, {}];
    const nodes = [adapterOf(c0), adapterOf(c1), adapterOf(c0)];
    expect(() => new Redlock(nodes)).toThrow(TypeError);
    expect(() => new Redlock(nodes)).toThrow(
      'Expected every node to wrap a client of its own, got the same client at `nodes[0]` and `nodes[2]`, which would count one server twice',
    );
  });

  it('finds the same client behind `{ adapter }` nodes too', () => {
    const client = {};
    const nodes = [adapterOf({}), { adapter: adapterOf(client), timeoutMs: 100 }, { adapter: adapterOf(client) }];
    expect(() => new Redlock(nodes)).toThrow('got the same client at `nodes[1]` and `nodes[2]`');
  });

  it('still throws a RangeError for the same adapter twice, before comparing clients', () => {
    const adapter = adapterOf({});
    expect(() => new Redlock([adapter, adapterOf({}), adapter])).toThrow(RangeError);
    expect(() => new Redlock([adapter, adapterOf({}), adapter])).toThrow('got the same one at `nodes[0]` and `nodes[2]`');
  });

  it('accepts distinct clients, adapters that name no client, and a method named `client` shared by a class', () => {
    class AdapterWithClientMethod implements RedisAdapter {
      evalsha = async (): Promise<unknown> => null;
      eval = async (): Promise<unknown> => null;
      client(): string {
        return 'a method, not the wrapped client';
      }
    }
    expect(() => new Redlock([adapterOf({}), adapterOf({}), adapterOf()])).not.toThrow();
    expect(() => new Redlock([adapterOf(), adapterOf()])).not.toThrow();
    expect(() => new Redlock(loose([new AdapterWithClientMethod(), new AdapterWithClientMethod()]))).not.toThrow();
  });

  it.each<[string, unknown, string]>([
    ['a string', 'redis://a:6379', 'Expected `nodes[1].client` to be the client object the adapter wraps, or absent, got `"redis://a:6379"`'],
    ['null', null, 'Expected `nodes[1].client` to be the client object the adapter wraps, or absent, got `null`'],
  ])('throws a TypeError for a client that is %s', (_, client, message) => {
    const nodes = [adapterOf({}), { evalsha: method, eval: method, client }];
    expect(() => new Redlock(loose(nodes))).toThrow(TypeError);
    expect(() => new Redlock(loose(nodes))).toThrow(message);
  });

  it.each<[string, unknown]>([
    ['true', true],
    ['an object', { channel: 'x' }],
    ['a string', 'subscribe'],
  ])('throws a TypeError for a `subscribe` that is %s instead of a method', (_, subscribe) => {
    const nodes = [adapterOf({}), { adapter: { evalsha: method, eval: method, subscribe } }];
    expect(() => new Redlock(loose(nodes))).toThrow(TypeError);
    expect(() => new Redlock(loose(nodes))).toThrow('Expected `nodes[1].adapter.subscribe` to be a method or absent, got `');
  });

  /** Stand-ins with the members each client really has (ioredis 5/6, node-redis 3/4/5, Valkey GLIDE). */
  class IoredisLike {
    evalsha = method;
    eval = method;
    sendCommand = method;
    send_command = method;
    duplicate = method;
    defineCommand = method;
    client = method;
  }
  const nodeRedisLike = { eval: method, evalSha: method, EVALSHA: method, sendCommand: method, duplicate: method, connect: method };
  const nodeRedis3Like = { evalsha: method, eval: method, send_command: method, duplicate: method };
  const glideLike = { customCommand: method, invokeScript: method, close: method };
  const ADVICE = 'wrap it in an object with `evalsha` and `eval` methods (see "Writing an adapter" in the redlock-core README)';

  it.each<[string, unknown, string]>([
    ['an ioredis client', new IoredisLike(), 'Expected `nodes[0]` to be an adapter, got what looks like an ioredis client: wrap it in one, e.g. `new IoredisAdapter(client)` from redlock-ioredis-adapter'],
    ['a node-redis client', nodeRedisLike, `Expected \`nodes[0]\` to be an adapter, got what looks like a Redis client: ${ADVICE}`],
    ['a node-redis 3 client', nodeRedis3Like, `Expected \`nodes[0]\` to be an adapter, got what looks like a Redis client: ${ADVICE}`],
    ['a Valkey GLIDE client', glideLike, `Expected \`nodes[0]\` to be an adapter, got what looks like a Redis client: ${ADVICE}`],
  ])('throws a TypeError that says to wrap it for %s given as a node', (_, client, message) => {
    expect(() => new Redlock(loose([client]))).toThrow(TypeError);
    expect(() => new Redlock(loose([client]))).toThrow(message);
  });

  it('throws the same advice for a client given as `{ adapter }`', () => {
    expect(() => new Redlock(loose([adapterOf({}), { adapter: new IoredisLike() }]))).toThrow(
      'Expected `nodes[1].adapter` to be an adapter, got what looks like an ioredis client: wrap it in one',
    );
  });

  it('accepts adapters with members of their own, even one of a client\'s signs', () => {
    const nodes = [
      { ...adapterOf({}), subscribe: async () => async () => undefined, name: 'primary' },
      { ...adapterOf({}), duplicate: method },
      { ...adapterOf({}), sendCommand: method },
      { ...adapterOf({}), customCommand: method },
    ];
    expect(() => new Redlock(nodes)).not.toThrow();
  });
});

describe('options a spread would read wrong', () => {
  it('refuses a keyPrefix with a lone surrogate, which Redis would share with other prefixes', () => {
    const clock = new FakeClock();
    expect(() => new Redlock(grantingNodes(clock, 3), { clock, keyPrefix: '\uD800' })).toThrow(RangeError);
    expect(() => new Redlock(grantingNodes(clock, 3), { clock, keyPrefix: 'lock:\uD83D\uDD12:' })).not.toThrow();
  });

  it('refuses options given as a Map or inherited from a prototype, calling no node', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    await expect(redlock.acquire('r', 1000, loose(new Map([['retryCount', 5]])))).rejects.toThrow('Expected `options` to be a plain object, got a Map');
    await expect(redlock.acquire('r', 1000, loose(Object.create({ retryCount: 5 })))).rejects.toThrow(/to be a plain object/);
    expect(() => new Redlock(nodes, loose(new Map()))).toThrow(TypeError);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
    // A plain object without a prototype is fine.
    await expect(clock.runUntilSettled(redlock.acquire('r', 1000, Object.assign(Object.create(null), { retryCount: 0 })))).resolves.toMatchObject({ resources: ['r'] });
  });
});
