// One contender's client-side work per acquire+release on real Redis nodes: N serial cycles of S1 (5 local
// nodes, one resource), built as the bench builds it. Run by client-instructions.sh under valgrind, which
// counts the instructions of this process only (the nodes are other processes, and the kernel is not
// counted): ioredis, Node's streams and the library, the same work every S1 cycle costs the client.
// `lean` is no contender but a yardstick: core-loop.mjs's lean loop (the core's token, a quorum of 3, a
// timer, the validity check) sending through the ioredis adapter at its defaults, so that what the core
// adds on real nodes, and what the adapter adds to the floor, can be told apart.
// Usage: node bench/scripts/client-loop.mjs <contender name | lean> <cycles>   (after `pnpm run build`)
import { connectClients, startBenchNodes } from '../dist/bench-nodes.js';
import { ALL_CONTENDERS } from '../dist/contenders/all-contenders.js';
import { pacedClock } from './core-cycles.mjs';

const [name, cycles] = [process.argv[2] ?? 'redlock-core', Number(process.argv[3] ?? 1000)];
const definition = ALL_CONTENDERS.find((each) => each.name === name);
if (definition === undefined && name !== 'lean') {
  throw new Error(`No contender "${name}": lean, ${ALL_CONTENDERS.map((each) => each.name).join(', ')}`);
}
process.removeAllListeners('warning');
process.on('warning', () => undefined);
const nodes = await startBenchNodes();
const opened = [];
// As the bench's pool opens them: ioredis 5 for an `@io5` contender, its own options (`+autopipeline`).
const clientOptions = definition?.clientOptions ?? {};
const major = definition?.client === 'ioredis5' ? 5 : 6;
const clients = await connectClients(nodes.urls('near'), clientOptions, [], major);
opened.push(...clients);
// Our core's clock moves on by S1's pace per cycle (see `pacedClock`): on the real one, under valgrind's
// slowness, every answer was a round-trip sample and a node's timeout could expire, neither of which S1
// sees. Libraries without a clock option ignore it.
const clock = pacedClock();
const contender =
  definition === undefined
    ? await leanOver(clients)
    : await definition.create({
        clients,
        retry: 'defaults',
        farNodeIndex: undefined,
        clock: clock.clock,
        connectMore: async (overrides) => {
          const more = await connectClients(nodes.urls('near'), { ...clientOptions, ...overrides }, [], major);
          opened.push(...more);
          return more;
        },
      });
for (let index = 0; index < cycles; index += 1) {
  clock.advance();
  const release = await contender.acquire(`client-loop:${name}`);
  await release();
}
for (const client of opened) client.disconnect();
await nodes.stop();

/** The lean loop's lock (see core-loop.mjs) over `clients`, each behind an `IoredisAdapter` with its defaults. */
async function leanOver(clients) {
  const { IoredisAdapter } = await import('redlock-ioredis-adapter');
  const { createLockToken } = await import('../../packages/redlock-core/dist/base/token.js');
  const { releaseScript } = await import('../../packages/redlock-core/dist/scripts/release.js');
  const { leanQuorum } = await import('./lean-quorum.mjs');
  await Promise.all(clients.map((client) => client.script('LOAD', releaseScript.source)));
  const adapters = clients.map((client) => new IoredisAdapter(client));
  // A 2 s timeout rather than the core's 50 ms floor: under valgrind a reply takes milliseconds.
  const timeoutMs = 2_000;
  return {
    async acquire(resource) {
      const token = createLockToken();
      const start = performance.now();
      const hasQuorum = await leanQuorum(adapters, (adapter) => adapter.trySet(resource, token, 10_000), (reply) => reply === 'OK', timeoutMs);
      if (!hasQuorum || 10_000 - (performance.now() - start) - 102 <= 0) throw new Error('lean: no quorum');
      return async () => {
        await leanQuorum(adapters, (adapter) => adapter.evalsha(releaseScript.sha1, [resource], [token]), () => true, timeoutMs);
      };
    },
  };
}
