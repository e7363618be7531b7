import type { Redis } from 'ioredis';

/**
 * The `redis://host:port` URL an ioredis client of the bench connects to (a node, or the far node's
 * proxy), so a contender over another client library can open its own client to the same place.
 */
export function urlOf(client: Redis): string {
  const { host = '127.0.0.1', port = 6379 } = client.options;
  return `redis://${host}:${port}`;
}

/**
 * Runs `close` once when the bench closes the contender's ioredis clients (the pool disconnects them at
 * the end of the run): a contender over another client library closes its own clients then, so the
 * process can exit.
 */
export function closeWith(clients: readonly Redis[], close: () => Promise<void>): void {
  clients[0]?.once('end', () => void close().catch(() => undefined));
}
