import type { Redis } from 'ioredis';
import Redlock from 'redlock5';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/** node-redlock 5's API as the bench uses it, which its forks share. */
interface NodeRedlock5Api {
  on(event: 'error', listener: () => void): unknown;
  acquire(resources: string[], durationMs: number): Promise<{ release(): Promise<unknown> }>;
}

/** node-redlock 5's retry settings, by its own option names. */
interface NodeRedlock5Retry {
  readonly retryCount?: number;
  readonly retryDelay?: number;
  readonly retryJitter?: number;
}

/**
 * A contender for node-redlock 5 or a fork with the same API: `acquire([resource], duration)`,
 * `lock.release()`, defaults untouched unless tuned.
 */
export function nodeRedlock5Style(
  meta: Pick<ContenderDefinition, 'name' | 'packageName'>,
  construct: (clients: readonly Redis[], retry: NodeRedlock5Retry) => NodeRedlock5Api,
): ContenderDefinition {
  return {
    ...meta,
    kind: 'peer',
    client: 'ioredis6',
    async create({ clients, retry }) {
      const redlock = construct(
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
}

/** node-redlock 5 (`redlock@5.0.0-beta.2`, the latest 5.x). */
export const nodeRedlock5 = nodeRedlock5Style(
  { name: 'redlock@5', packageName: 'redlock 5.0.0-beta.2' },
  (clients, retry) => new Redlock([...clients], retry),
);
