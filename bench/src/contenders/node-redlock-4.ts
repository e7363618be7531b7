import Redlock from 'redlock4';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/** node-redlock 4 (`redlock@4.2.0`): `lock(resource, ttl)`, `lock.unlock()`, callback-era ioredis calls. */
export const nodeRedlock4: ContenderDefinition = {
  name: 'redlock@4',
  kind: 'peer',
  client: 'ioredis6',
  packageName: 'redlock 4.2.0',
  async create({ clients, retry }) {
    const redlock = new Redlock(
      [...clients],
      retry === 'tuned'
        ? { retryCount: TUNED_RETRY.retryCount, retryDelay: TUNED_RETRY.retryDelayMs, retryJitter: TUNED_RETRY.retryJitterMs }
        : {},
    );
    return {
      async acquire(resource) {
        const lock = await redlock.lock(resource, LOCK_TTL_MS);
        return async () => {
          await lock.unlock();
        };
      },
    };
  },
};
