import { afterAll, describe, expect, it } from '@jest/globals';
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis';
import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis-v5';
import { Cluster as ValkeyCluster, Redis as Valkey } from 'iovalkey';
import { IoredisAdapter, type IoredisClient } from '../../src/index.js';

// The type check is the test: `tsc -p tsconfig.test.json` compiles this file against the declarations of
// ioredis 6, ioredis 5 (`ioredis-v5`, an alias) and iovalkey. The clients never connect.
const redises = [new Redis6({ lazyConnect: true }), new Redis5({ lazyConnect: true }), new Valkey({ lazyConnect: true })];
const clusters = [
  new Cluster6([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true }),
  new Cluster5([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true }),
  new ValkeyCluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true }),
];
afterAll(() => {
  for (const client of [...redises, ...clusters]) client.disconnect();
});

describe('IoredisAdapter', () => {
  it('accepts Redis and Cluster clients of ioredis 5, ioredis 6 and iovalkey, and their duplicates as subscribers', () => {
    const [redis6, redis5, valkey] = redises as [Redis6, Redis5, Valkey];
    const [cluster6, cluster5, valkeyCluster] = clusters as [Cluster6, Cluster5, ValkeyCluster];
    const adapters = [
      new IoredisAdapter(redis6),
      new IoredisAdapter(redis5),
      new IoredisAdapter(valkey),
      new IoredisAdapter(cluster6),
      new IoredisAdapter(cluster5),
      new IoredisAdapter(valkeyCluster),
      new IoredisAdapter(redis6, { subscriber: redis5 }),
      new IoredisAdapter(valkey, { subscriber: valkeyCluster }),
    ];
    const clients: readonly IoredisClient[] = adapters.map((adapter) => adapter.client);
    expect(clients).toEqual([redis6, redis5, valkey, cluster6, cluster5, valkeyCluster, redis6, valkey]);
  });

  it('is typed to refuse what is not a client', () => {
    // @ts-expect-error a URL is not a client
    expect(() => new IoredisAdapter('redis://localhost', { subscriber: 'redis://localhost' })).toThrow(TypeError);
  });
});
