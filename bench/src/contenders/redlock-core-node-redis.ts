import { Redlock, type RedisAdapter, type RedlockNode } from 'redlock-core';
import { NodeRedisAdapter } from 'redlock-node-redis-adapter';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';
import { connectNodeRedisClients } from './node-redis-clients.js';

/** The per-node timeout of a far node (S4), in milliseconds: as the `redlock-core` contender. */
const FAR_NODE_TIMEOUT_MS = 100;

/**
 * This library over node-redis 6 clients instead of ioredis: `redlock-core` with
 * `redlock-node-redis-adapter`, set up as its README shows (`disableOfflineQueue`, an error listener,
 * the adapter's own subscriber connection for prompt hand-off). Its clients are its own, to the same
 * nodes as the ioredis clients it is given, and closed when those are.
 */
export const redlockCoreNodeRedis: ContenderDefinition = {
  name: 'redlock-core/node-redis',
  kind: 'ours',
  client: 'node-redis',
  packageName: 'redlock-core (this repo) + redlock-node-redis-adapter, redis 6.3',
  async create({ clients: ioredisClients, retry, farNodeIndex }) {
    let redlock: Redlock | undefined;
    const clients = await connectNodeRedisClients(ioredisClients, async () => redlock?.close());
    const nodes: (RedisAdapter | RedlockNode)[] = clients.map((client, index) => {
      const adapter = new NodeRedisAdapter(client);
      return index === farNodeIndex ? { adapter, timeoutMs: FAR_NODE_TIMEOUT_MS } : adapter;
    });
    const ready = new Redlock(
      nodes,
      retry === 'tuned'
        ? { retryDelayMs: TUNED_RETRY.retryDelayMs, retryJitterMs: TUNED_RETRY.retryJitterMs, retryCount: TUNED_RETRY.retryCount }
        : {},
    );
    redlock = ready;
    return {
      async acquire(resource) {
        const lock = await ready.acquire(resource, LOCK_TTL_MS);
        return async () => {
          await lock.release();
        };
      },
    };
  },
};
