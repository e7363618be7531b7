import { RedlockMutex } from 'redis-semaphore';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/**
 * `redis-semaphore`'s `RedlockMutex`: a new mutex per critical section, as its README shows, with its
 * defaults (poll every 10 ms for up to 10 s, refresh every 8 s while held).
 */
export const redisSemaphore: ContenderDefinition = {
  name: 'redis-semaphore',
  kind: 'peer',
  client: 'ioredis6',
  packageName: 'redis-semaphore 5.8.0 (RedlockMutex)',
  async create({ clients, retry }) {
    const options =
      retry === 'tuned'
        ? { lockTimeout: LOCK_TTL_MS, retryInterval: TUNED_RETRY.retryDelayMs, acquireTimeout: TUNED_RETRY.retryDelayMs * TUNED_RETRY.retryCount }
        : { lockTimeout: LOCK_TTL_MS };
    return {
      async acquire(resource) {
        const mutex = new RedlockMutex([...clients], resource, options);
        await mutex.acquire();
        return () => mutex.release();
      },
    };
  },
};
