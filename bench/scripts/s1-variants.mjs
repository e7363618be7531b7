// A/B of S1 and S2 (not part of `pnpm bench`; run after it built): `node --expose-gc bench/scripts/s1-variants.mjs <loops> <seconds> <rounds>`.
// Measures: what plain SET NX for acquire, and no PUBLISH on release, would buy.
import { startBenchNodes, connectClients } from '../dist/bench-nodes.js';
import { floor } from '../dist/contenders/floor.js';
import { nodeRedlock5 } from '../dist/contenders/node-redlock-5.js';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { acquireScript } from '../../packages/redlock-core/dist/scripts/acquire.js';
import { releaseScript } from '../../packages/redlock-core/dist/scripts/release.js';
const loops = +(process.argv[2] ?? 1), seconds = +(process.argv[3] ?? 2), rounds = +(process.argv[4] ?? 3);
const nodes = await startBenchNodes();
const extra = [];
const more = async (o) => { const c = await connectClients(nodes.urls('near'), o); extra.push(...c); return c; };
async function core({ plainSet = false, noPublish = false }) {
  const clients = await more(); const subs = await more({ maxRetriesPerRequest: null });
  const adapters = clients.map((client, i) => {
    const base = new IoredisAdapter(client, { subscriber: subs[i] });
    return { subscribe: base.subscribe, eval: (s, k, a) => base.eval(s, k, a), evalsha(sha, keys, args) {
      if (plainSet && sha === acquireScript.sha1 && args.length === 2) return client.set(keys[0], args[0], 'PX', args[1], 'NX').then((r) => (r === 'OK' ? 1 : 0));
      if (noPublish && sha === releaseScript.sha1) return base.evalsha(sha, keys, [args[0], '']);
      return base.evalsha(sha, keys, args);
    } };
  });
  const redlock = new Redlock(adapters);
  return { async acquire(r) { const lock = await redlock.acquire(r, 10_000); return async () => { await lock.release(); }; } };
}
const plain = async (def) => def.create({ clients: await more(), retry: 'defaults', farNodeIndex: undefined, connectMore: more });
const cs = { floor: await plain(floor), core: await core({}), 'core+SET': await core({ plainSet: true }), 'core+SET-PUB': await core({ plainSet: true, noPublish: true }), r5: await plain(nodeRedlock5) };
async function run(c, ms) {
  let ops = 0; const end = performance.now() + ms; const cpu0 = process.cpuUsage();
  const info0 = await Promise.all(nodes.monitors.map((m) => m.info('cpu')));
  await Promise.all(Array.from({ length: loops }, async (_, i) => { while (performance.now() < end) { const rel = await c.acquire(`r${i}`); await rel(); ops++; } }));
  const cpu = process.cpuUsage(cpu0);
  const info1 = await Promise.all(nodes.monitors.map((m) => m.info('cpu')));
  const used = (s) => [...s.matchAll(/used_cpu_(sys|user):([\d.]+)/g)].reduce((t, m) => t + Number(m[2]), 0);
  const redisUs = info1.reduce((t, s, i) => t + used(s) - used(info0[i]), 0) * 1e6;
  return { opsPerS: ops / (ms / 1000), cpuUs: (cpu.user + cpu.system) / ops, redisUs: redisUs / ops };
}
for (const c of Object.values(cs)) await run(c, 300);
const res = {};
for (let r = 0; r < rounds; r++) for (const [n, c] of Object.entries(cs)) (res[n] ??= []).push(await run(c, seconds * 1000));
const med = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[xs.length >> 1];
const floorOps = med(res.floor, 'opsPerS');
for (const [n, xs] of Object.entries(res)) console.log(n.padEnd(13), 'ops/s', med(xs, 'opsPerS').toFixed(0).padStart(6), `(${(med(xs, 'opsPerS') / floorOps).toFixed(2)}x floor)`, 'client µs/op', med(xs, 'cpuUs').toFixed(0).padStart(4), 'Redis µs/op', med(xs, 'redisUs').toFixed(0).padStart(4));
for (const c of extra) c.disconnect();
await nodes.stop();
