import { Redlock, type RedisAdapter, type RedlockNode } from 'redlock-core';
import type { GlideClient } from '@valkey/valkey-glide';
import { GlideAdapter, GlideReleaseNotifications } from 'redlock-glide-adapter';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';
import { closeWith } from './client-address.js';
import { connectGlideClients } from './glide-clients.js';

/** The per-node timeout of a far node (S4), in milliseconds: as the `redlock-core` contender. */
const FAR_NODE_TIMEOUT_MS = 100;
/** The `keyPrefix` of its `Redlock`, so that its keys never meet the other contenders' on the shared nodes. */
const KEY_PREFIX = 'glide:';

/**
 * This library over Valkey GLIDE clients instead of ioredis: `redlock-core` with `redlock-glide-adapter`,
 * set up as its README shows (`requestTimeout`, each client created with release notifications for prompt
 * hand-off). Its clients are its own, to the same nodes as the ioredis clients it is given. They are open
 * during its own samples only (`suspend`, `resume`): a client before GLIDE 2.3 hears every wake on its node
 * through its pattern, at the other contenders' cost. They are closed when the ioredis clients are.
 */
export const redlockCoreGlide: ContenderDefinition = {
  name: 'redlock-core/glide',
  kind: 'ours',
  client: 'glide',
  packageName: 'redlock-core (this repo) + redlock-glide-adapter, @valkey/valkey-glide 2.5',
  async create({ clients: ioredisClients, retry, farNodeIndex }) {
    const open = async (): Promise<{ readonly redlock: Redlock; readonly clients: readonly GlideClient[] }> => {
      const notifications = ioredisClients.map(() => new GlideReleaseNotifications());
      const clients = await connectGlideClients(ioredisClients, (index) => ({ pubsubSubscriptions: notifications[index]?.pubsubSubscriptions }), false);
      const redlock = new Redlock(
        clients.map((client, index): RedisAdapter | RedlockNode => {
          const adapter = new GlideAdapter(client, { notifications: notifications[index] });
          return index === farNodeIndex ? { adapter, timeoutMs: FAR_NODE_TIMEOUT_MS } : adapter;
        }),
        retry === 'tuned'
          ? { keyPrefix: KEY_PREFIX, retryDelayMs: TUNED_RETRY.retryDelayMs, retryJitterMs: TUNED_RETRY.retryJitterMs, retryCount: TUNED_RETRY.retryCount }
          : { keyPrefix: KEY_PREFIX },
      );
      return { redlock, clients };
    };
    let opened: Promise<{ readonly redlock: Redlock; readonly clients: readonly GlideClient[] }> | undefined = open();
    const suspend = async (): Promise<void> => {
      const closing = opened;
      opened = undefined;
      const { redlock, clients } = (await closing) ?? { redlock: undefined, clients: [] };
      await redlock?.close();
      for (const client of clients) client.close();
    };
    await opened;
    closeWith(ioredisClients, suspend);
    return {
      async acquire(resource) {
        const { redlock } = await (opened ??= open());
        const lock = await redlock.acquire(resource, LOCK_TTL_MS);
        return async () => {
          await lock.release();
        };
      },
      suspend,
      async resume() {
        await (opened ??= open());
      },
    };
  },
};
