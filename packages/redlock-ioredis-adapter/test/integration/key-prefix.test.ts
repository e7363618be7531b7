import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from 'ioredis';
import { IoredisAdapter } from '../../src/index.js';
import { RELEASE_CHANNEL_PREFIX } from '../../src/release-channel.js';
import { HAND_OFF_RETRY_DELAY_MS, handOff, subscriberCountOf } from '../support/handoff.js';
import { canStartCluster, useRedisCluster, useRedisNodes } from '../support/redis-servers.js';

// With an ioredis `keyPrefix`, the release script runs on prefixed keys and publishes on the channel of the
// prefixed key, while the core asks to subscribe to the channel of the key it knows, unprefixed.
const KEY_PREFIX = 'key-prefix-test:app:';

const redis = useRedisNodes(1);

/** A resource of this test file's own. */
const resourceNamed = (name: string): string => `orders:${name}:${randomUUID()}`;

describe('an IoredisAdapter over a client with a keyPrefix', () => {
  it('wakes a waiter by the release notification, published on the channel of the prefixed key', async () => {
    const resource = resourceNamed('owned');
    const admin = redis.createClient(0);
    const wokenAfterMs = await handOff({
      holder: new IoredisAdapter(redis.createClient(0, { keyPrefix: KEY_PREFIX }), { notifications: false }),
      waiter: new IoredisAdapter(redis.createClient(0, { keyPrefix: KEY_PREFIX })),
      resource,
      subscriberCount: () => subscriberCountOf(admin, RELEASE_CHANNEL_PREFIX + KEY_PREFIX + resource),
    });
    expect(wokenAfterMs).toBeLessThan(HAND_OFF_RETRY_DELAY_MS);
  });

  it('subscribes a subscriber you gave to the channel of the prefixed key, whatever its own keyPrefix', async () => {
    const resource = resourceNamed('given');
    const admin = redis.createClient(0);
    const subscriber = redis.createClient(0, { keyPrefix: 'key-prefix-test:other:', maxRetriesPerRequest: null });
    const wokenAfterMs = await handOff({
      holder: new IoredisAdapter(redis.createClient(0, { keyPrefix: KEY_PREFIX }), { notifications: false }),
      waiter: new IoredisAdapter(redis.createClient(0, { keyPrefix: KEY_PREFIX }), { subscriber }),
      resource,
      subscriberCount: () => subscriberCountOf(admin, RELEASE_CHANNEL_PREFIX + KEY_PREFIX + resource),
    });
    expect(wokenAfterMs).toBeLessThan(HAND_OFF_RETRY_DELAY_MS);
  });

  it('subscribes to the unprefixed channel when the client has no keyPrefix, even if its subscriber has one', async () => {
    const resource = resourceNamed('subscriber-prefix-only');
    const admin = redis.createClient(0);
    const subscriber = redis.createClient(0, { keyPrefix: 'key-prefix-test:other:', maxRetriesPerRequest: null });
    const wokenAfterMs = await handOff({
      holder: new IoredisAdapter(redis.createClient(0), { notifications: false }),
      waiter: new IoredisAdapter(redis.createClient(0), { subscriber }),
      resource,
      subscriberCount: () => subscriberCountOf(admin, RELEASE_CHANNEL_PREFIX + resource),
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
      // PUBSUB NUMSUB counts the subscribers of the node asked only: ask every master.
      subscriberCount: async () => {
        const counts = await Promise.all(
          holderClient.nodes('master').map(async (node) => Number(((await node.pubsub('NUMSUB', RELEASE_CHANNEL_PREFIX + KEY_PREFIX + resource)) as [string, number])[1])),
        );
        return counts.reduce((sum, count) => sum + count, 0);
      },
    });
    expect(wokenAfterMs).toBeLessThan(HAND_OFF_RETRY_DELAY_MS);
  });
});
