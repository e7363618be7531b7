// Shows Redlock over Valkey GLIDE clients: one client per node, created with release notifications, two workers handing a lock over.
// Run: `pnpm --filter redlock-examples run glide` (REDIS_URLS=... to use your own nodes).
import { GlideClient, Logger } from '@valkey/valkey-glide';
import { ensureRedisServer, startRedisNodes } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { GlideAdapter, GlideReleaseNotifications } from 'redlock-glide-adapter';

const fromEnv = process.env['REDIS_URLS']?.split(',').map((url) => url.trim()).filter(Boolean);
const local = fromEnv?.length ? undefined : await ensureRedisServer({ install: true }).then(() => startRedisNodes({ count: 5 }));
const urls = fromEnv?.length ? fromEnv : (local?.urls ?? []);

// GLIDE logs every error reply at `warn`, including the NOSCRIPT the core answers with EVAL.
Logger.setLoggerConfig('error');
// GLIDE fixes a client's subscriptions when it is created: the release notifications go in its configuration.
// requestTimeout above the core's per-node timeouts (GLIDE's default is 250 ms), so the core decides.
const nodes = await Promise.all(
  urls.map(async (url) => {
    const { hostname: host, port } = new URL(url);
    const notifications = new GlideReleaseNotifications();
    const client = await GlideClient.createClient({
      addresses: [{ host, port: Number(port) }],
      requestTimeout: 2_000,
      pubsubSubscriptions: notifications.pubsubSubscriptions,
    });
    return { client, adapter: new GlideAdapter(client, { notifications }) };
  }),
);
const redlock = new Redlock(
  nodes.map(({ adapter }) => adapter),
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
  await redlock.close();
  for (const { client } of nodes) client.close();
  await local?.stop();
}
