// Instructions the Redis nodes execute per S1 acquire+release (5 nodes, one resource), per contender: a
// deterministic measure of the nodes' user-space work, unlike their CPU time on a shared machine (INFO cpu
// moves by ±10% between rounds here, more than a script's difference). Starts 5 redis-servers of its own
// under valgrind (cachegrind), runs N serial cycles of the contender as the bench builds it over ioredis
// clients, stops the servers and adds up their instruction counts; a short run is subtracted from a long
// one so that start-up cancels out. Redis' own timers run at 1 Hz, so their work is a rounding error.
// `announce-every-node` is no contender but redlock-core with every release announced on all 5 nodes, as
// it was until 2026-11-24: the yardstick for what announcing on fewer nodes saves. `scriptless-quiet-release`
// is redlock-core with its quiet release sent as a plain `DEL` (unsafe: it deletes whatever the key holds):
// the node's work of a scriptless compare-and-delete (`DELEX key IFEQ token`, Redis 8.4 and Valkey 9.2;
// `DELIFEQ`, Valkey 9.0), which Redis 7.0 has not, so what such a release would save can be counted here.
// Usage: node bench/scripts/redis-instructions.mjs [contender name | announce-every-node | scriptless-quiet-release]...   (after
// `pnpm run build`; needs valgrind; about 30 s per name)
import { Redis } from 'ioredis';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { quietReleaseScript, releaseScript } from '../../packages/redlock-core/dist/scripts/release.js';
import { ALL_CONTENDERS } from '../dist/contenders/all-contenders.js';
import { startCountedServer } from './counted-redis-server.mjs';

/** Variants of redlock-core's adapter, by name: each maps the quiet release script's calls onto something else. */
const ADAPTER_VARIANTS = {
  'announce-every-node': (client, adapter) => ({
    evalsha: (sha1, keys, args) => adapter.evalsha(sha1 === quietReleaseScript.sha1 ? releaseScript.sha1 : sha1, keys, args),
    eval: (source, keys, args) => adapter.eval(source === quietReleaseScript.source ? releaseScript.source : source, keys, args),
  }),
  // DEL replies with the number of keys deleted, as the quiet release script does.
  'scriptless-quiet-release': (client, adapter) => ({
    evalsha: (sha1, keys, args) => (sha1 === quietReleaseScript.sha1 ? client.del(...keys) : adapter.evalsha(sha1, keys, args)),
    eval: (source, keys, args) => (source === quietReleaseScript.source ? client.del(...keys) : adapter.eval(source, keys, args)),
  }),
};

const NODE_COUNT = 5;
const [SHORT_CYCLES, LONG_CYCLES] = [2_000, 7_000];
const names = process.argv.length > 2 ? process.argv.slice(2) : ['floor', 'redlock-core', 'redlock@5'];
for (const name of names) {
  const short = await nodeInstructions(name, SHORT_CYCLES);
  const long = await nodeInstructions(name, LONG_CYCLES);
  console.log(`${name}: ${Math.round((long - short) / (LONG_CYCLES - SHORT_CYCLES))} Redis instructions per acquire+release (${NODE_COUNT} nodes)`);
}

/** The instructions `NODE_COUNT` fresh nodes execute in all while `cycles` acquire+release cycles of `name` run. */
async function nodeInstructions(name, cycles) {
  const servers = await Promise.all(Array.from({ length: NODE_COUNT }, () => startCountedServer()));
  const clients = servers.map((server) => new Redis({ host: '127.0.0.1', port: server.port, enableOfflineQueue: false, maxRetriesPerRequest: 1 }));
  try {
    await Promise.all(clients.map((client) => new Promise((resolve) => client.once('ready', resolve))));
    const contender = await contenderOver(name, clients);
    for (let index = 0; index < cycles; index += 1) {
      const release = await contender.acquire('redis-instructions');
      await release();
    }
  } finally {
    for (const client of clients) client.disconnect();
    for (const server of servers) server.child.kill('SIGTERM');
  }
  const counts = await Promise.all(servers.map((server) => server.instructions));
  return counts.reduce((total, count) => total + count, 0);
}

/** The contender `name` as the bench builds it over `clients`, or one of redlock-core's {@link ADAPTER_VARIANTS}. */
async function contenderOver(name, clients) {
  const variant = ADAPTER_VARIANTS[name];
  if (variant !== undefined) {
    const adapters = clients.map((client) => {
      const adapter = new IoredisAdapter(client);
      return { setIfAbsent: (key, value, ttlMs) => adapter.setIfAbsent(key, value, ttlMs), ...variant(client, adapter) };
    });
    const redlock = new Redlock(adapters);
    return { acquire: async (resource) => { const lock = await redlock.acquire(resource, 10_000); return () => lock.release(); } };
  }
  const definition = ALL_CONTENDERS.find((each) => each.name === name);
  if (definition === undefined) throw new Error(`No contender "${name}": ${[...Object.keys(ADAPTER_VARIANTS), ...ALL_CONTENDERS.map((each) => each.name)].join(', ')}`);
  // Its one set of clients is ioredis 6's with the bench's options: a variant on other clients would be measured as the plain one.
  if (definition.client === 'ioredis5' || definition.clientOptions !== undefined) throw new Error(`redis-instructions: "${name}" needs clients of its own (ioredis 5 or other options), not supported here`);
  return definition.create({ clients, retry: 'defaults', farNodeIndex: undefined, connectMore: () => Promise.reject(new Error('redis-instructions: one set of clients only')) });
}
