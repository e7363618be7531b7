// client CPU per acquire+release for redlock-core only; run from a tree's bench/ dir: node --expose-gc /tmp/corecpu.mjs <seconds> <rounds>
import { startBenchNodes, connectClients } from './dist/bench-nodes.js';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
const seconds = +(process.argv[2] ?? 2), rounds = +(process.argv[3] ?? 3);
const nodes = await startBenchNodes();
const clients = await connectClients(nodes.urls('near'));
const subs = await connectClients(nodes.urls('near'), { maxRetriesPerRequest: null });
const redlock = new Redlock(clients.map((c, i) => new IoredisAdapter(c, { subscriber: subs[i] })));
async function run(ms) {
  let ops = 0; const end = performance.now() + ms; const cpu0 = process.cpuUsage();
  while (performance.now() < end) { const lock = await redlock.acquire('r', 10_000); await lock.release(); ops++; }
  const cpu = process.cpuUsage(cpu0);
  return { ops: ops / (ms / 1000), us: (cpu.user + cpu.system) / ops };
}
await run(500);
const res = [];
for (let r = 0; r < rounds; r++) res.push(await run(seconds * 1000));
res.sort((a, b) => a.us - b.us);
console.log(process.cwd(), 'client µs/op', res.map((r) => r.us.toFixed(1)).join(' '), 'ops/s', res.map((r) => r.ops.toFixed(0)).join(' '));
for (const c of [...clients, ...subs]) c.disconnect();
await nodes.stop();
