import type { Redis } from 'ioredis';
import { createClient } from 'redis';

/** Opens a node-redis client to `url` as the bench does, with its default modules. */
const openClient = (url: string) => createClient({ url, disableOfflineQueue: true }).on('error', () => undefined);
import { closeWith, urlOf } from './client-address.js';

/** How long the clients may take to connect, in milliseconds, before the contender gives up (below the bench's 10 s). */
const CONNECT_TIMEOUT_MS = 5_000;

/** A node-redis 6 client as the bench opens it. */
export type NodeRedisClient = ReturnType<typeof openClient>;

/**
 * Opens one node-redis 6 client per node, to the same nodes as the bench's ioredis clients and as the
 * node-redis adapter's README advises (`disableOfflineQueue`, an error listener), connected and ready; they
 * are destroyed when the bench closes `ioredisClients`, after `beforeClose` (e.g. a `Redlock`'s `close()`).
 */
export async function connectNodeRedisClients(ioredisClients: readonly Redis[], beforeClose: () => Promise<void> = async () => undefined): Promise<NodeRedisClient[]> {
  const made = ioredisClients.map((ioredisClient) => openClient(urlOf(ioredisClient)));
  // A black-holed node (S6-T3) accepts the connection and never answers, so connect() never settles:
  // give up after CONNECT_TIMEOUT_MS, and destroy every client made, or they keep the process alive.
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed out'>((resolve) => {
    timer = setTimeout(() => resolve('timed out'), CONNECT_TIMEOUT_MS);
  });
  const connected = await Promise.race([Promise.allSettled(made.map((client) => client.connect())), timedOut]);
  clearTimeout(timer);
  const failure = connected === 'timed out' ? new Error(`not connected within ${CONNECT_TIMEOUT_MS} ms`) : connected.find((result) => result.status === 'rejected')?.reason;
  if (failure !== undefined) {
    for (const client of made) client.destroy();
    throw failure;
  }
  closeWith(ioredisClients, async () => {
    await beforeClose();
    for (const client of made) client.destroy();
  });
  return made;
}
