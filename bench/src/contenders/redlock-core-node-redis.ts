import { createClient } from 'redis';
import { Redlock, type RedisAdapter, type RedlockNode } from 'redlock-core';
import { NodeRedisAdapter } from 'redlock-node-redis-adapter';
import { closeWith, urlOf } from './client-address.js';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/** How long the clients may take to connect, in milliseconds, before the contender gives up (below the bench's 10 s). */
const CONNECT_TIMEOUT_MS = 5_000;
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
  packageName: 'redlock-core (this repo) + redlock-node-redis-adapter, redis 6.3',
  async create({ clients: ioredisClients, retry, farNodeIndex }) {
    const made = ioredisClients.map((ioredisClient) =>
      createClient({ url: urlOf(ioredisClient), disableOfflineQueue: true }).on('error', () => undefined),
    );
    // A black-holed node (S6-T3) accepts the connection and never answers, so connect() never settles:
    // give up after CONNECT_TIMEOUT_MS, and destroy every client made, or they keep the process alive.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed out'>((resolve) => {
      timer = setTimeout(() => resolve('timed out'), CONNECT_TIMEOUT_MS);
    });
    const connected = await Promise.race([Promise.allSettled(made.map((client) => client.connect())), timedOut]);
    clearTimeout(timer);
    const failure = connected === 'timed out' ? new Error(`not connected within ${CONNECT_TIMEOUT_MS} ms`) : connected.find((result) => result.status === 'rejected')?.reason;
    if (failure !== undefined) {
      for (const client of made) client.destroy();
      throw failure;
    }
    const clients = made;
    const nodes: (RedisAdapter | RedlockNode)[] = clients.map((client, index) => {
      const adapter = new NodeRedisAdapter(client);
      return index === farNodeIndex ? { adapter, timeoutMs: FAR_NODE_TIMEOUT_MS } : adapter;
    });
    const redlock = new Redlock(
      nodes,
      retry === 'tuned'
        ? { retryDelayMs: TUNED_RETRY.retryDelayMs, retryJitterMs: TUNED_RETRY.retryJitterMs, retryCount: TUNED_RETRY.retryCount }
        : {},
    );
    closeWith(ioredisClients, async () => {
      await redlock.close();
      for (const client of clients) client.destroy();
    });
    return {
      async acquire(resource) {
        const lock = await redlock.acquire(resource, LOCK_TTL_MS);
        return async () => {
          await lock.release();
        };
      },
    };
  },
};
