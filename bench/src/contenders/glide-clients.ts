import { fileURLToPath } from 'node:url';
import { GlideClient, type GlideClientConfiguration, Logger } from '@valkey/valkey-glide';
import type { Redis } from 'ioredis';
import { closeWith, urlOf } from './client-address.js';

/** GLIDE's `requestTimeout`, in milliseconds: above the core's per-node timeouts, as the adapter's README advises. */
const REQUEST_TIMEOUT_MS = 2_000;
/**
 * Where GLIDE's own log goes (`bench/logs/glide.log.<date-hour>`, not committed) rather than the bench's
 * stdout: a client whose creation timed out (S6-T3's black-holed nodes) logs a failed pattern subscription
 * every few seconds for minutes, with no handle to stop it, and would bury the report's tables.
 */
const GLIDE_LOG_FILE = fileURLToPath(new URL('../../logs/glide.log', import.meta.url));

/**
 * Opens one Valkey GLIDE client per node, to the same nodes as the bench's ioredis clients, with
 * `requestTimeout` and what `more(index)` adds (e.g. pub/sub subscriptions); they are closed when the bench
 * closes `ioredisClients`, after `beforeClose` (e.g. a `Redlock`'s `close()`), unless `beforeClose` is
 * `false`: the caller closes them.
 */
export async function connectGlideClients(
  ioredisClients: readonly Redis[],
  more: (index: number) => Partial<GlideClientConfiguration> = () => ({}),
  beforeClose: (() => Promise<void>) | false = async () => undefined,
): Promise<GlideClient[]> {
  // GLIDE logs each error reply at `warn`, the NOSCRIPT the core answers with EVAL included.
  Logger.setLoggerConfig('error', GLIDE_LOG_FILE);
  const settled = await Promise.allSettled(
    ioredisClients.map((ioredisClient, index) => {
      const { hostname: host, port } = new URL(urlOf(ioredisClient));
      return GlideClient.createClient({ addresses: [{ host, port: Number(port) }], requestTimeout: REQUEST_TIMEOUT_MS, ...more(index) });
    }),
  );
  const failure = settled.find((result) => result.status === 'rejected');
  if (failure !== undefined) {
    // A node it cannot reach (S6's black-holed ones): close the clients it made, or they reconnect for ever.
    for (const result of settled) if (result.status === 'fulfilled') result.value.close();
    throw failure.reason;
  }
  const clients = settled.map((result) => (result as PromiseFulfilledResult<GlideClient>).value);
  if (beforeClose === false) return clients;
  closeWith(ioredisClients, async () => {
    await beforeClose();
    for (const client of clients) client.close();
  });
  return clients;
}
