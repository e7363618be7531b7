import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/**
 * This library, through its public API only: `redlock-core` with `redlock-ioredis-adapter`, set up as its
 * README shows: `new IoredisAdapter(client)` and nothing else. Each adapter opens its own subscriber
 * connection at the first wait (prompt hand-off), and each node's timeout follows its measured latency, the
 * far node's (S4) included.
 */
export const redlockCore: ContenderDefinition = {
  name: 'redlock-core',
  kind: 'ours',
  client: 'ioredis6',
  packageName: 'redlock-core (this repo)',
  async create({ clients, retry, clock }) {
    const redlock = new Redlock(
      clients.map((client) => new IoredisAdapter(client)),
      {
        ...(retry === 'tuned' ? { retryDelayMs: TUNED_RETRY.retryDelayMs, retryJitterMs: TUNED_RETRY.retryJitterMs, retryCount: TUNED_RETRY.retryCount } : {}),
        ...(clock === undefined ? {} : { clock }),
      },
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
