// With 3 of 5 nodes refusing connections (nothing listens on their ports), how long a `using()` at the
// defaults takes to give up, beside node-redlock 5's `using()` with the same ioredis clients and options
// (the README's `maxRetriesPerRequest: 0, disconnectTimeout: 100`), and what `nodeHealth()` and the
// node errors say meanwhile.
// `node bench/scripts/majority-refused.mjs [rounds=3] [ioredis=6]` after `pnpm run build`.
import net from 'node:net';
import { startRedisNodes } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import NodeRedlock from 'redlock5';
import { Redis as Redis6 } from 'ioredis';
import { Redis as Redis5 } from 'ioredis5';

const rounds = +(process.argv[2] ?? 3);
const Redis = +(process.argv[3] ?? 6) === 5 ? Redis5 : Redis6;
const CLIENT_OPTIONS = { maxRetriesPerRequest: 0, disconnectTimeout: 100 };

/** A loopback port nothing listens on: bound once, then closed. */
async function refusingPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const nodes = await startRedisNodes({ count: 2 });
const urls = [...nodes.urls, ...(await Promise.all([refusingPort(), refusingPort(), refusingPort()])).map((port) => `redis://127.0.0.1:${port}`)];
const connect = () => urls.map((url) => new Redis(url, CLIENT_OPTIONS).on('error', () => {}));
const causes = (error) => {
  const chain = [];
  for (let at = error; at !== undefined && chain.length < 6; at = at.cause) chain.push(at.code ?? at.name);
  return chain.join(' <- ');
};

/** Milliseconds until `run()` rejects, and its error. */
async function timeToGiveUp(run) {
  const started = performance.now();
  try {
    await run();
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

try {
  for (let round = 1; round <= rounds; round += 1) {
    {
      const clients = connect();
      const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)), { keyPrefix: 'refused:' });
      const { ms, error } = await timeToGiveUp(() => redlock.using('job', 2_000, async () => {}));
      const health = redlock.nodeHealth().map((node) => node.state).join(' ');
      const attempts = error?.attempts ?? [];
      const statuses = (attempt) => attempt.nodes.slice(2).map((node) => node.status).join(',');
      const firstError = error?.nodeErrors?.find((each) => each.nodeIndex >= 2);
      console.log(
        `redlock-core: gave up after ${(ms / 1000).toFixed(2)} s (${error?.name}, ${error?.attemptCount} attempts ` +
          `taking ${attempts.map((attempt) => Math.round(attempt.elapsedMs)).join(' ')} ms; refusing nodes' outcomes ` +
          `${attempts.map(statuses).join(' ')}); nodeHealth ${health}; a refusing node's error ${firstError ? `"${firstError.message}" ${causes(firstError)}` : '(none listed)'}`,
      );
      await redlock.close();
      for (const client of clients) client.disconnect();
    }
    {
      const clients = connect();
      const redlock = new NodeRedlock(clients);
      redlock.on('error', () => {});
      const { ms, error } = await timeToGiveUp(() => redlock.using(['job'], 2_000, async () => {}));
      console.log(`node-redlock 5: gave up after ${(ms / 1000).toFixed(2)} s (${error?.name})`);
      for (const client of clients) client.disconnect();
    }
  }
} finally {
  await nodes.stop();
}
