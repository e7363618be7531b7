// Shows Redlock over node-redis clients, set up as the adapter's README shows: two workers handing a lock over.
// Run: `pnpm --filter redlock-examples run node-redis` (REDIS_URLS=... to use your own nodes).
import { ensureRedisServer, startRedisNodes } from 'local-redis-nodes';
import { createClient } from 'redis';
import { Redlock } from 'redlock-core';
import { NodeRedisAdapter } from 'redlock-node-redis-adapter';

const fromEnv = process.env['REDIS_URLS']?.split(',').map((url) => url.trim()).filter(Boolean);
const local = fromEnv?.length ? undefined : await ensureRedisServer({ install: true }).then(() => startRedisNodes({ count: 5 }));
const urls = fromEnv?.length ? fromEnv : (local?.urls ?? []);

// Fail fast on a down node; node-redis throws connection errors that have no listener.
const clients = await Promise.all(urls.map((url) => createClient({ url, disableOfflineQueue: true }).on('error', () => undefined).connect()));
// Each adapter opens its own subscriber connection at the first wait, so a waiter takes the lock the moment
// it frees.
const redlock = new Redlock(
  clients.map((client) => new NodeRedisAdapter(client)),
  { keyPrefix: 'lock:' },
);
try {
  const startedAt = performance.now();
  const worker = (name: string): Promise<void> =>
    redlock.using('reports:daily', 5_000, async () => {
      console.log(`${name} holds the lock at ${Math.round(performance.now() - startedAt)} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    });
  // The second worker waits, and is woken by the first one's release rather than by its retry timer.
  await Promise.all([worker('worker A'), worker('worker B')]);
} finally {
  // Close what the adapters opened, then the clients.
  await redlock.close();
  await Promise.all(clients.map((client) => client.close()));
  await local?.stop();
}
