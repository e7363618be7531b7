import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from 'ioredis';
import { wakeChannelOf } from '../../../redlock-core/src/scripts/wake-queue.js';
import { IoredisAdapter } from '../../src/index.js';
import { HAND_OFF_RETRY_DELAY_MS, handOff, wakeListenerCountOf, wakeListenersOf } from '../support/handoff.js';
import { canStartCluster, useRedisCluster, useRedisNodes } from '../support/redis-servers.js';

// With an ioredis `keyPrefix`, the scripts run on prefixed keys and name each wait queue after such a key,
// so the queue carries the prefix; the wake channels name a waiting process, not a key, so no prefix
// touches them, neither the client's nor the subscriber's.
const KEY_PREFIX = 'key-prefix-test:app:';

const redis = useRedisNodes(1);

/** A resource of this test file's own. */
const resourceNamed = (name: string): string => `orders:${name}:${randomUUID()}`;

describe('an IoredisAdapter over a client with a keyPrefix', () => {
  it('wakes a waiter by the release notification, queued beside the prefixed key', async () => {
    const resource = resourceNamed('owned');
    const admin = redis.createClient(0);
    const wokenAfterMs = await handOff({
      holder: new IoredisAdapter(redis.createClient(0, { keyPrefix: KEY_PREFIX }), { notifications: false }),
      waiter: new IoredisAdapter(redis.createClient(0, { keyPrefix: KEY_PREFIX })),
      resource,
      subscriberCount: () => wakeListenerCountOf(admin, KEY_PREFIX + resource),
    });
    expect(wokenAfterMs).toBeLessThan(HAND_OFF_RETRY_DELAY_MS);
  });

  it('subscribes a subscriber you gave to the wake channel unprefixed, whatever its own keyPrefix', async () => {
    const resource = resourceNamed('given');
    const admin = redis.createClient(0);
    const subscriber = redis.createClient(0, { keyPrefix: 'key-prefix-test:other:', maxRetriesPerRequest: null });
    const wokenAfterMs = await handOff({
      holder: new IoredisAdapter(redis.createClient(0, { keyPrefix: KEY_PREFIX }), { notifications: false }),
      waiter: new IoredisAdapter(redis.createClient(0, { keyPrefix: KEY_PREFIX }), { subscriber }),
      resource,
      subscriberCount: () => wakeListenerCountOf(admin, KEY_PREFIX + resource),
    });
    expect(wokenAfterMs).toBeLessThan(HAND_OFF_RETRY_DELAY_MS);
  });

  it('queues beside the unprefixed key when the client has no keyPrefix, even if its subscriber has one', async () => {
    const resource = resourceNamed('subscriber-prefix-only');
    const admin = redis.createClient(0);
    const subscriber = redis.createClient(0, { keyPrefix: 'key-prefix-test:other:', maxRetriesPerRequest: null });
    const wokenAfterMs = await handOff({
      holder: new IoredisAdapter(redis.createClient(0), { notifications: false }),
      waiter: new IoredisAdapter(redis.createClient(0), { subscriber }),
      resource,
      subscriberCount: () => wakeListenerCountOf(admin, resource),
    });
    expect(wokenAfterMs).toBeLessThan(HAND_OFF_RETRY_DELAY_MS);
  });
});

(canStartCluster ? describe : describe.skip)('an IoredisAdapter over a Cluster with a keyPrefix', () => {
  const cluster = useRedisCluster(3);
  let holderClient: Cluster;
  let waiterClient: Cluster;

  beforeAll(async () => {
    [holderClient, waiterClient] = [cluster.createClient({ keyPrefix: KEY_PREFIX }), cluster.createClient({ keyPrefix: KEY_PREFIX })];
    // Slot discovery happens on the first command: do it before the tests.
    await Promise.all([holderClient.ping(), waiterClient.ping()]);
  });

  it('wakes a waiter by the release notification, through the cluster client alone', async () => {
    const resource = `{${resourceNamed('cluster')}}:items`;
    const wokenAfterMs = await handOff({
      holder: new IoredisAdapter(holderClient, { notifications: false }),
      waiter: new IoredisAdapter(waiterClient),
      resource,
      // The queue is on the master of the key's slot (the cluster client adds its keyPrefix to the key), but
      // the waiter's subscriber connection may be on any master, and PUBSUB NUMSUB counts the subscribers
      // of the node asked only: ask every master.
      subscriberCount: async () => {
        const channels = [...(await wakeListenersOf(holderClient, resource)).keys()].map(wakeChannelOf);
        if (channels.length === 0) return 0;
        const counts = await Promise.all(
          holderClient.nodes('master').map(async (node) => ((await node.pubsub('NUMSUB', ...channels)) as (string | number)[]).filter((_, index) => index % 2 === 1)),
        );
        return counts.flat().reduce<number>((sum, count) => sum + Number(count), 0);
      },
    });
    expect(wokenAfterMs).toBeLessThan(HAND_OFF_RETRY_DELAY_MS);
  });
});
