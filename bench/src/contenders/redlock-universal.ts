import type { Redis } from 'ioredis';
import { createRedlock, GlideAdapter, IoredisAdapter, type Lock, NodeRedisAdapter, type RedisAdapter } from 'redlock-universal';
import { type ContenderDefinition, LOCK_TTL_MS, type RedisClientName, TUNED_RETRY } from './contender.js';
import { connectGlideClients } from './glide-clients.js';
import { connectNodeRedisClients } from './node-redis-clients.js';

/**
 * `redlock-universal`: one `RedLock` object per key (`createRedlock({ adapters, key, ttl })`), kept for
 * reuse as its README shows; `acquire()` returns a handle for `release(handle)`. It ships adapters for
 * ioredis, node-redis and GLIDE: `redlockUniversalOn` builds it over each.
 */
function redlockUniversalOn(client: RedisClientName, name: string, adaptersFor: (clients: readonly Redis[]) => Promise<RedisAdapter[]>): ContenderDefinition {
  return {
    name,
    kind: 'peer',
    client,
    packageName: `redlock-universal 0.8.5 (${client})`,
    async create({ clients, retry }) {
      const adapters = await adaptersFor(clients);
      const locks = new Map<string, Lock>();
      const lockFor = (key: string): Lock => {
        let lock = locks.get(key);
        if (lock === undefined) {
          lock = createRedlock({
            adapters,
            key,
            ttl: LOCK_TTL_MS,
            ...(retry === 'tuned' ? { retryAttempts: TUNED_RETRY.retryCount, retryDelay: TUNED_RETRY.retryDelayMs } : {}),
          });
          locks.set(key, lock);
        }
        return lock;
      };
      return {
        async acquire(resource) {
          const lock = lockFor(resource);
          const handle = await lock.acquire();
          return async () => {
            await lock.release(handle);
          };
        },
      };
    },
  };
}

/** `redlock-universal` over the bench's ioredis clients. */
export const redlockUniversal = redlockUniversalOn('ioredis6', 'redlock-universal', async (clients) => clients.map((client) => new IoredisAdapter(client)));

/** `redlock-universal` over node-redis 6 clients of its own. */
export const redlockUniversalNodeRedis = redlockUniversalOn('node-redis', 'redlock-universal/node-redis', async (clients) =>
  (await connectNodeRedisClients(clients)).map((client) => new NodeRedisAdapter(client)),
);

/** `redlock-universal` over Valkey GLIDE clients of its own. */
export const redlockUniversalGlide = redlockUniversalOn('glide', 'redlock-universal/glide', async (clients) =>
  (await connectGlideClients(clients)).map((client) => new GlideAdapter(client)),
);
