import Redlock from 'redlock5';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/** node-redlock 5 (`redlock@5.0.0-beta.2`, the latest 5.x): `acquire(resources, duration)`, `lock.release()`. */
export const nodeRedlock5: ContenderDefinition = {
  name: 'redlock@5',
  kind: 'peer',
  packageName: 'redlock 5.0.0-beta.2',
  async create({ clients, retry }) {
    const redlock = new Redlock(
      clients,
      retry === 'tuned'
        ? { retryCount: TUNED_RETRY.retryCount, retryDelay: TUNED_RETRY.retryDelayMs, retryJitter: TUNED_RETRY.retryJitterMs }
        : {},
    );
    // It emits every refusal ("resource locked") as an 'error' event; without a listener, as its README
    // shows, the emit would throw.
    redlock.on('error', () => undefined);
    return {
      async acquire(resource) {
        const lock = await redlock.acquire([resource], LOCK_TTL_MS);
        return async () => {
          await lock.release();
        };
      },
    };
  },
};
