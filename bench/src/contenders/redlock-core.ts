import { type AcquireOptions, Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/**
 * This library's `create`, every `acquire()` with `acquireOptions` (none: the defaults), through its public
 * API only: `new Redlock(adapters)` with `new IoredisAdapter(client)` per node, as its README shows.
 */
export function redlockCoreCreate(acquireOptions?: AcquireOptions): ContenderDefinition['create'] {
  return async ({ clients, retry, clock }) => {
    const redlock = new Redlock(
      clients.map((client) => new IoredisAdapter(client)),
      {
        ...(retry === 'tuned' ? { retryDelayMs: TUNED_RETRY.retryDelayMs, retryJitterMs: TUNED_RETRY.retryJitterMs, retryCount: TUNED_RETRY.retryCount } : {}),
        ...(clock === undefined ? {} : { clock }),
      },
    );
    return {
      async acquire(resource) {
        const lock = await redlock.acquire(resource, LOCK_TTL_MS, acquireOptions);
        return async () => {
          await lock.release();
        };
      },
      nodeTimeoutsInARow: () => redlock.nodeHealth().map((node) => node.timeoutsInARow),
    };
  };
}

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
  create: redlockCoreCreate(),
};
