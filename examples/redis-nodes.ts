// Where the examples' Redis nodes come from: REDIS_URLS when set, else 5 local redis-server processes
// started here (installed with apt-get when missing and possible), else the docker compose nodes.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ensureRedisServer, type LocalRedisNodes, startRedisNodes } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';

/** The nodes of docker/docker-compose.yml. */
export const DOCKER_URLS = [6381, 6382, 6383, 6384, 6385].map((port) => `redis://127.0.0.1:${port}`);

/** Redis nodes for an example, and how to let go of them. */
export interface ExampleNodes {
  readonly urls: readonly string[];
  /** Present when the example started the nodes itself, so it may kill them. */
  readonly local: LocalRedisNodes | undefined;
  /** One ioredis client per node, set to fail fast while its node is down. */
  readonly clients: readonly Redis[];
  /** One adapter per client, for `new Redlock(...)`; each opens its own subscriber for prompt hand-off. */
  readonly adapters: readonly IoredisAdapter[];
  /**
   * A `Redlock` on connections of its own, as another process would have (`duplicate()` opens new ones to
   * the same nodes), with the key prefix `example:`; {@link close} closes it and quits its clients.
   */
  newRedlock(): Redlock;
  /** Closes the Redlocks of {@link newRedlock} and the {@link adapters}, quits the clients and stops the nodes the example started. */
  close(): Promise<void>;
}

/** Opens the nodes an example runs on: see the comment at the top of this file. */
export async function openExampleNodes(count = 5): Promise<ExampleNodes> {
  const { urls, local } = await findNodes(count);
  // The README's setup: a command for a node that is down fails at the next reconnection attempt (here
  // every 100 ms, as the demo kills and restarts nodes), not after 20 of them.
  const clients = urls.map((url) => new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => 100 }));
  // ioredis reports connection errors as events; the lock reports them per node, so don't print them twice.
  for (const client of clients) client.on('error', () => undefined);
  const redlocks: Redlock[] = [];
  const ownClients: Redis[] = [];
  const adapters = clients.map((client) => new IoredisAdapter(client));
  return {
    urls,
    local,
    clients,
    // Each adapter opens a subscriber connection when first needed (prompt hand-off); `close()` closes it.
    adapters,
    newRedlock() {
      const own = clients.map((client) => client.duplicate());
      ownClients.push(...own);
      const redlock = new Redlock(own.map((client) => new IoredisAdapter(client)), { keyPrefix: 'example:' });
      redlocks.push(redlock);
      return redlock;
    },
    async close() {
      await Promise.all(redlocks.map((redlock) => redlock.close()));
      // A client disconnected while it reconnects to a node that is down never ends, so its adapter would
      // not see it end: close the adapters first, which closes their subscribers.
      await Promise.all(adapters.map((adapter) => adapter.close()));
      await Promise.all(ownClients.map((client) => client.quit()));
      clients.forEach((client) => client.disconnect());
      await local?.stop();
    },
  };
}

async function findNodes(count: number): Promise<{ urls: readonly string[]; local: LocalRedisNodes | undefined }> {
  const fromEnv = process.env['REDIS_URLS']
    ?.split(',')
    .map((url) => url.trim())
    .filter(Boolean);
  if (fromEnv?.length) return { urls: fromEnv, local: undefined };
  try {
    await ensureRedisServer({ install: true, log: (line) => console.log(`  ${line}`) });
    const local = await startRedisNodes({ count });
    return { urls: local.urls, local };
  } catch (error) {
    if (!isDockerEngineRunning()) throw error;
    console.log('  redis-server is not available; starting the docker compose nodes instead');
    const composeFile = fileURLToPath(new URL('../../docker/docker-compose.yml', import.meta.url));
    const up = spawnSync('docker', ['compose', '-f', composeFile, 'up', '-d', '--wait'], { stdio: 'inherit' });
    if (up.status !== 0) throw error;
    return { urls: DOCKER_URLS.slice(0, count), local: undefined };
  }
}

function isDockerEngineRunning(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 }).status === 0;
}
