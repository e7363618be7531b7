import { createRedlock, IoredisAdapter, type Lock } from 'redlock-universal';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/**
 * `redlock-universal`: one `RedLock` object per key (`createRedlock({ adapters, key, ttl })`), kept for
 * reuse as its README shows; `acquire()` returns a handle for `release(handle)`.
 */
export const redlockUniversal: ContenderDefinition = {
  name: 'redlock-universal',
  kind: 'peer',
  packageName: 'redlock-universal 0.8.5',
  async create({ clients, retry }) {
    const adapters = clients.map((client) => new IoredisAdapter(client));
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
