// S1 loop for one library, for strace -c: node s1sys.mjs <core|redlock5> <cycles> <urls json>
import { connectClients } from '../dist/bench-nodes.js';
const [lib, cyclesArg, urlsJson] = process.argv.slice(2);
const cycles = Number(cyclesArg);
const clients = await connectClients(JSON.parse(urlsJson), {}, [], 5);
let acquire;
if (lib === 'core') {
  const { Redlock } = await import('redlock-core');
  const { IoredisAdapter } = await import('redlock-ioredis-adapter');
  const redlock = new Redlock(clients.map((c) => new IoredisAdapter(c)));
  acquire = async (r) => { const l = await redlock.acquire(r, 10_000); return () => l.release(); };
} else {
  const Redlock = (await import('redlock5')).default;
  const redlock = new Redlock(clients);
  redlock.on('error', () => undefined);
  acquire = async (r) => { const l = await redlock.acquire([r], 10_000); return () => l.release(); };
}
for (let i = 0; i < 2000; i += 1) await (await acquire('warm'))();
const before = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < cycles; i += 1) await (await acquire('s1'))();
const t1 = performance.now();
const cpu = process.cpuUsage(before);
console.log(JSON.stringify({ lib, usPerCycle: ((t1 - t0) * 1000 / cycles).toFixed(1), userUs: (cpu.user / cycles).toFixed(1), sysUs: (cpu.system / cycles).toFixed(1) }));
for (const c of clients) c.disconnect();
