// live heap per in-flight cycle when node 0 answers 40 ms late (S4-like), in-memory nodes
process.removeAllListeners('warning'); process.on('warning', () => {});
const mode = process.argv[2];
const slow = (v) => new Promise((r) => setTimeout(() => r(v), 40));
const mk = (i) => ({ client: {}, evalsha: () => (i === 0 ? slow(1) : Promise.resolve(1)), eval: () => Promise.resolve(1), setIfAbsent: () => (i === 0 ? slow(null) : Promise.resolve(null)) });
const nodes = Array.from({ length: 5 }, (_, i) => mk(i));
let op;
if (mode === 'core') {
  const { Redlock } = await import('redlock-core');
  const rl = new Redlock(nodes);
  op = async () => { const l = await rl.acquire('r', 10000); await l.release(); };
} else {
  const quorum = (ps) => new Promise((res) => { let y = 0; for (const p of ps) p.then(() => { if (++y === 3) res(); }); });
  op = async () => { const t = 'x' + Math.random(); await quorum(nodes.map((n) => n.setIfAbsent('f', t, 10000))); await quorum(nodes.map((n) => n.evalsha('s', ['f'], [t]))); };
}
const end = performance.now() + 1500;
let n = 0;
while (performance.now() < end) { await op(); n++; if (n % 200 === 0) await new Promise((r) => setImmediate(r)); }
// now ~40 ms worth of far calls are pending
const inFlight = n / 1500 * 40;
global.gc(); const h1 = process.memoryUsage().heapUsed;
await new Promise((r) => setTimeout(r, 100)); global.gc(); const h2 = process.memoryUsage().heapUsed;
console.log(mode, 'cycles/s', Math.round(n / 1.5), 'in flight ~', Math.round(inFlight), 'retained by them', Math.round((h1 - h2) / inFlight), 'B/cycle');
