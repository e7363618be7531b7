import { Redlock, type RedisAdapter, type RedlockNode } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/**
 * The per-node timeout of a far node (S4), in milliseconds: its 40 ms round trip on top of the default
 * 50 ms, as the redlock-core README advises for a node in another datacenter.
 */
const FAR_NODE_TIMEOUT_MS = 100;

/**
 * This library, through its public API only: `redlock-core` with `redlock-ioredis-adapter`, set up as its
 * README shows, with a subscriber connection per node so waiters are woken by releases (prompt hand-off).
 */
export const redlockCore: ContenderDefinition = {
  name: 'redlock-core',
  kind: 'ours',
  packageName: 'redlock-core (this repo)',
  async create({ clients, retry, farNodeIndex, connectMore }) {
    // As the adapter's README shows: a subscriber waits on its connection indefinitely, so no retry limit.
    const subscribers = await connectMore({ maxRetriesPerRequest: null });
    const nodes: (RedisAdapter | RedlockNode)[] = clients.map((client, index) => {
      const adapter = new IoredisAdapter(client, { subscriber: subscribers[index] });
      return index === farNodeIndex ? { adapter, timeoutMs: FAR_NODE_TIMEOUT_MS } : adapter;
    });
    const redlock = new Redlock(
      nodes,
      retry === 'tuned'
        ? { retryDelayMs: TUNED_RETRY.retryDelayMs, retryJitterMs: TUNED_RETRY.retryJitterMs, retryCount: TUNED_RETRY.retryCount }
        : {},
    );
    return {
      async acquire(resource) {
        const lock = await redlock.acquire(resource, LOCK_TTL_MS);
        return async () => {
          await lock.release();
        };
      },
      nodeTimeoutsInARow: () => redlock.nodeHealth().map((node) => node.timeoutsInARow),
    };
  },
};
