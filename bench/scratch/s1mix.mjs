// S1 in one process, both libraries alternating in blocks: node s1mix.mjs <urls json> [blocks] [cycles] [only]
import { connectClients } from '../dist/bench-nodes.js';
const [urlsJson, blocksArg = '10', cyclesArg = '2000', only] = process.argv.slice(2);
const urls = JSON.parse(urlsJson);
const libs = {};
if (only !== 'redlock5') {
  const clients = await connectClients(urls, {}, [], 5);
  const { Redlock } = await import('redlock-core');
  const { IoredisAdapter } = await import('redlock-ioredis-adapter');
  const redlock = new Redlock(clients.map((c) => new IoredisAdapter(c)));
  libs.core = async (r) => { const l = await redlock.acquire(r, 10_000); await l.release(); };
}
if (only !== 'core') {
  const clients = await connectClients(urls, {}, [], 5);
  const Redlock = (await import('redlock5')).default;
  const redlock = new Redlock(clients);
  redlock.on('error', () => undefined);
  libs.redlock5 = async (r) => { const l = await redlock.acquire([r], 10_000); await l.release(); };
}
const results = Object.fromEntries(Object.keys(libs).map((k) => [k, []]));
for (const [name, run] of Object.entries(libs)) for (let i = 0; i < 2000; i += 1) await run(`warm-${name}`);
for (let b = 0; b < Number(blocksArg); b += 1) {
  for (const [name, run] of Object.entries(libs)) {
    const before = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < Number(cyclesArg); i += 1) await run(`s1-${name}`);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(before);
    results[name].push({ cpu: (cpu.user + cpu.system) / Number(cyclesArg), wall: (wall * 1000) / Number(cyclesArg) });
  }
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [name, rows] of Object.entries(results)) console.log(name, 'cpu µs', med(rows.map((r) => r.cpu)).toFixed(1), 'wall µs', med(rows.map((r) => r.wall)).toFixed(1));
if (results.core && results.redlock5) console.log('paired cpu ratio core/redlock5', med(results.core.map((r, i) => r.cpu / results.redlock5[i].cpu)).toFixed(3));
process.exit(0);
