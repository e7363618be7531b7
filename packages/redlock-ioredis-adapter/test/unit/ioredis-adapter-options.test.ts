import { afterAll, describe, expect, it } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';
import { IoredisAdapter, type IoredisAdapterOptions } from '../../src/index.js';

// Clients that never connect: the constructor checks its options before any network call.
const client = new Redis({ lazyConnect: true });
const subscriber = new Redis({ lazyConnect: true });
const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
afterAll(() => {
  for (const unused of [client, subscriber, cluster]) unused.disconnect();
});

/** Constructs an adapter over `client` with options the types would refuse. */
const adapterWith = (options: unknown, over: Redis | Cluster = client): IoredisAdapter =>
  new IoredisAdapter(over, options as IoredisAdapterOptions);

describe('IoredisAdapter options', () => {
  it.each([
    [null, 'Expected `options` to be an object, got `null`'],
    ['subscriber', 'Expected `options` to be an object, got `"subscriber"`'],
    [{ notifications: 'yes' }, 'Expected `notifications` to be a boolean, got `"yes"`'],
    [{ notifications: 0 }, 'Expected `notifications` to be a boolean, got `0`'],
    [{ notifications: null }, 'Expected `notifications` to be a boolean, got `null`'],
    [{ subscriber: 'redis://localhost' }, 'Expected `subscriber` to be an ioredis or iovalkey client, got `"redis://localhost"`'],
    [{ subscriber: {} }, 'Expected `subscriber` to be an ioredis or iovalkey client, got `[object Object]`'],
    [{ subscriber: null }, 'Expected `subscriber` to be an ioredis or iovalkey client, got `null`'],
    [{ subscriber, notifications: false }, 'Expected either `subscriber` or `notifications: false`, got both'],
    [{ subscriber: client }, 'Expected `subscriber` to be a client of its own, e.g. `client.duplicate()`, got `client` itself'],
    [{ coalesceWrites: 'no' }, 'Expected `coalesceWrites` to be a boolean, got `"no"`'],
    [{ coalesceWrites: null }, 'Expected `coalesceWrites` to be a boolean, got `null`'],
    [{ coalesceWrite: false }, 'Unknown option `coalesceWrite` in the options of IoredisAdapter: it takes `notifications`, `subscriber`, `coalesceWrites`'],
    [{ enableAutoPipelining: true }, 'Unknown option `enableAutoPipelining` in the options of IoredisAdapter'],
  ])('throws a TypeError for %p', (options, message) => {
    expect(() => adapterWith(options)).toThrow(TypeError);
    expect(() => adapterWith(options)).toThrow(message);
  });

  it('refuses a client whose integer replies are strings (stringNumbers), which no lock script answers with', () => {
    const stringy = new Redis({ lazyConnect: true, stringNumbers: true });
    const stringyCluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, redisOptions: { stringNumbers: true } });
    try {
      for (const over of [stringy, stringyCluster]) expect(() => adapterWith({}, over)).toThrow('Expected an ioredis client without `stringNumbers`');
    } finally {
      stringy.disconnect();
      stringyCluster.disconnect();
    }
  });

  it('tells to leave `subscriber` out for a Cluster given as its own subscriber', () => {
    expect(() => adapterWith({ subscriber: cluster }, cluster)).toThrow(TypeError);
    expect(() => adapterWith({ subscriber: cluster }, cluster)).toThrow('a Cluster subscribes by itself, leave `subscriber` out');
  });

  it('offers `subscribe` by default, with `notifications: true`, and with a subscriber; not with `notifications: false`', () => {
    expect(new IoredisAdapter(client).subscribe).toBeInstanceOf(Function);
    expect(new IoredisAdapter(client, {}).subscribe).toBeInstanceOf(Function);
    expect(new IoredisAdapter(client, { notifications: true }).subscribe).toBeInstanceOf(Function);
    expect(new IoredisAdapter(client, { subscriber }).subscribe).toBeInstanceOf(Function);
    expect(new IoredisAdapter(client, { notifications: true, subscriber }).subscribe).toBeInstanceOf(Function);
    expect(new IoredisAdapter(cluster).subscribe).toBeInstanceOf(Function);
    expect(new IoredisAdapter(client, { notifications: false }).subscribe).toBeUndefined();
    expect('subscribe' in new IoredisAdapter(client, { notifications: false })).toBe(false);
  });

  it('opens no connection when constructed', () => {
    new IoredisAdapter(client);
    expect(client.status).toBe('wait');
  });
});
