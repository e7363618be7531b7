// Type test, checked by `tsc -p tsconfig.test.json` and never run: the clients of every supported node-redis
// major, single and cluster, RESP2 and RESP3, with and without a type mapping, fit NodeRedisAdapter as
// they are, under strict TypeScript.
import { createClient, createCluster, RESP_TYPES } from 'redis';
import { createClient as createClient4, createCluster as createCluster4 } from 'redis4';
import { createClient as createClient5, createCluster as createCluster5 } from 'redis5';
import { NodeRedisAdapter } from '../../src/index.js';

export function everyClientFits(): NodeRedisAdapter[] {
  const v4 = createClient4({ url: 'redis://127.0.0.1:6379' });
  const v4Cluster = createCluster4({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] });

  const v5 = createClient5();
  const v5Resp3 = createClient5({ RESP: 3 });
  const v5Cluster = createCluster5({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }], RESP: 3 });

  const v6 = createClient();
  const v6Resp3Mapped = createClient({ RESP: 3, commandOptions: { typeMapping: { [RESP_TYPES.MAP]: Map } } });
  const v6Cluster = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] });

  return [
    new NodeRedisAdapter(v4, { subscriber: v4.duplicate() }),
    new NodeRedisAdapter(v4Cluster, { subscriber: v4Cluster.duplicate() }),
    new NodeRedisAdapter(v5, { subscriber: v5.duplicate() }),
    new NodeRedisAdapter(v5Resp3, { subscriber: v5Resp3.duplicate() }),
    new NodeRedisAdapter(v5Cluster),
    new NodeRedisAdapter(v6, { subscriber: v6.duplicate() }),
    new NodeRedisAdapter(v6Resp3Mapped),
    new NodeRedisAdapter(v6Cluster, { subscriber: v6Cluster.duplicate() }),
  ];
}

export function nonClientsDoNotFit(): void {
  // @ts-expect-error: an object without sendCommand is no node-redis client.
  new NodeRedisAdapter({ get: async () => null });
  // @ts-expect-error: a subscriber needs subscribe and unsubscribe.
  new NodeRedisAdapter(createClient(), { subscriber: { subscribe: async () => undefined } });
}
