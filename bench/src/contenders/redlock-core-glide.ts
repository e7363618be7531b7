import { fileURLToPath } from 'node:url';
import { GlideClient, Logger } from '@valkey/valkey-glide';
import { Redlock, type RedisAdapter, type RedlockNode } from 'redlock-core';
import { GlideAdapter, GlideReleaseNotifications } from 'redlock-glide-adapter';
import { closeWith, urlOf } from './client-address.js';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/** The per-node timeout of a far node (S4), in milliseconds: as the `redlock-core` contender. */
const FAR_NODE_TIMEOUT_MS = 100;
/** GLIDE's `requestTimeout`, in milliseconds: above the core's per-node timeouts, as the adapter's README advises. */
const REQUEST_TIMEOUT_MS = 2_000;
/**
 * The `keyPrefix` of its `Redlock` and notifications. A GLIDE client subscribes to a pattern, so without a
 * prefix of its own it would hear every other contender's releases on the shared nodes (`redlock:released:*`)
 * and spend the bench process's CPU on them while the others are measured.
 */
const KEY_PREFIX = 'glide:';
/**
 * Where GLIDE's own log goes (`bench/logs/glide.log.<date-hour>`, not committed) rather than the bench's
 * stdout: a client whose creation timed out (S6-T3's black-holed nodes) logs a failed pattern subscription
 * every few seconds for minutes, with no handle to stop it, and would bury the report's tables.
 */
const GLIDE_LOG_FILE = fileURLToPath(new URL('../../logs/glide.log', import.meta.url));

/**
 * This library over Valkey GLIDE clients instead of ioredis: `redlock-core` with `redlock-glide-adapter`,
 * set up as its README shows (`requestTimeout`, each client created with release notifications for prompt
 * hand-off). Its clients are its own, to the same nodes as the ioredis clients it is given, and closed
 * when those are.
 */
export const redlockCoreGlide: ContenderDefinition = {
  name: 'redlock-core/glide',
  kind: 'ours',
  packageName: 'redlock-core (this repo) + redlock-glide-adapter, @valkey/valkey-glide 2.5',
  async create({ clients: ioredisClients, retry, farNodeIndex }) {
    // GLIDE logs each error reply at `warn`, the NOSCRIPT the core answers with EVAL included.
    Logger.setLoggerConfig('error', GLIDE_LOG_FILE);
    const settled = await Promise.allSettled(
      ioredisClients.map(async (ioredisClient) => {
        const { hostname: host, port } = new URL(urlOf(ioredisClient));
        const notifications = new GlideReleaseNotifications({ keyPrefix: KEY_PREFIX });
        const client = await GlideClient.createClient({
          addresses: [{ host, port: Number(port) }],
          requestTimeout: REQUEST_TIMEOUT_MS,
          pubsubSubscriptions: notifications.pubsubSubscriptions,
        });
        return { client, adapter: new GlideAdapter(client, { notifications }) };
      }),
    );
    const failure = settled.find((result) => result.status === 'rejected');
    if (failure !== undefined) {
      // A node it cannot reach (S6's black-holed ones): close the clients it made, or they reconnect for ever.
      for (const result of settled) if (result.status === 'fulfilled') result.value.client.close();
      throw failure.reason;
    }
    const nodes = settled.map((result) => (result as PromiseFulfilledResult<{ client: GlideClient; adapter: GlideAdapter }>).value);
    const redlock = new Redlock(
      nodes.map(({ adapter }, index): RedisAdapter | RedlockNode => (index === farNodeIndex ? { adapter, timeoutMs: FAR_NODE_TIMEOUT_MS } : adapter)),
      retry === 'tuned'
        ? { keyPrefix: KEY_PREFIX, retryDelayMs: TUNED_RETRY.retryDelayMs, retryJitterMs: TUNED_RETRY.retryJitterMs, retryCount: TUNED_RETRY.retryCount }
        : { keyPrefix: KEY_PREFIX },
    );
    closeWith(ioredisClients, async () => {
      await redlock.close();
      for (const { client } of nodes) client.close();
    });
    return {
      async acquire(resource) {
        const lock = await redlock.acquire(resource, LOCK_TTL_MS);
        return async () => {
          await lock.release();
        };
      },
    };
  },
};
