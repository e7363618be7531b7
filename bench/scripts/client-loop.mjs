// One contender's client-side work per acquire+release on real Redis nodes: N serial cycles of S1 (5 local
// nodes, one resource), built as the bench builds it. Run by client-instructions.sh under valgrind, which
// counts the instructions of this process only (the nodes are other processes, and the kernel is not
// counted): ioredis, Node's streams and the library, the same work every S1 cycle costs the client.
// Usage: node bench/scripts/client-loop.mjs <contender name> <cycles>   (after `pnpm run build`)
import { connectClients, startBenchNodes } from '../dist/bench-nodes.js';
import { ALL_CONTENDERS } from '../dist/contenders/all-contenders.js';

const [name, cycles] = [process.argv[2] ?? 'redlock-core', Number(process.argv[3] ?? 1000)];
const definition = ALL_CONTENDERS.find((each) => each.name === name);
if (definition === undefined) throw new Error(`No contender "${name}": ${ALL_CONTENDERS.map((each) => each.name).join(', ')}`);
process.removeAllListeners('warning');
process.on('warning', () => undefined);
const nodes = await startBenchNodes();
const opened = [];
const clients = await connectClients(nodes.urls('near'));
opened.push(...clients);
const contender = await definition.create({
  clients,
  retry: 'defaults',
  farNodeIndex: undefined,
  connectMore: async (overrides) => {
    const more = await connectClients(nodes.urls('near'), overrides);
    opened.push(...more);
    return more;
  },
});
for (let index = 0; index < cycles; index += 1) {
  const release = await contender.acquire(`client-loop:${name}`);
  await release();
}
for (const client of opened) client.disconnect();
await nodes.stop();
