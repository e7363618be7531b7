import { Redlock } from '@sesamecare-oss/redlock';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/** `@sesamecare-oss/redlock`, the maintained fork of node-redlock 5: same API, scripts via `defineCommand`. */
export const sesamecareRedlock: ContenderDefinition = {
  name: '@sesamecare-oss/redlock',
  kind: 'peer',
  packageName: '@sesamecare-oss/redlock 1.4.0',
  async create({ clients, retry }) {
    const redlock = new Redlock(
      clients,
      retry === 'tuned'
        ? { retryCount: TUNED_RETRY.retryCount, retryDelay: TUNED_RETRY.retryDelayMs, retryJitter: TUNED_RETRY.retryJitterMs }
        : {},
    );
    // Like node-redlock 5, it emits every refusal as an 'error' event, which needs a listener.
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
