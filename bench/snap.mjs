import v8 from 'node:v8';
import fs from 'node:fs';
process.removeAllListeners('warning'); process.on('warning', () => {});
let lateReplies = 0;
const late = (reply) => new Promise((resolve) => { lateReplies++; setTimeout(() => { lateReplies--; resolve(reply); }, 40); });
const mk = (i) => ({ client: {}, evalsha: () => (i === 0 ? late(1) : Promise.resolve(1)), eval: () => Promise.resolve(1), setIfAbsent: () => (i === 0 ? late(null) : Promise.resolve(null)) });
const nodes = Array.from({ length: 5 }, (_, i) => mk(i));
const { Redlock } = await import('redlock-core');
const rl = new Redlock(nodes);
const end = performance.now() + 1000; let n = 0;
while (performance.now() < end) { const l = await rl.acquire('core', 10000); await l.release(); if (++n % 200 === 0) await new Promise((r) => setImmediate(r)); }
const waiting = lateReplies / 2;
global.gc();
const file = v8.writeHeapSnapshot('/tmp/s4.heapsnapshot');
const snap = JSON.parse(fs.readFileSync(file));
const { node_fields, node_types } = snap.snapshot.meta;
const F = node_fields.length; const typeNames = node_types[0];
const counts = new Map();
for (let i = 0; i < snap.nodes.length; i += F) {
  const type = typeNames[snap.nodes[i]]; const name = snap.strings[snap.nodes[i + 1]]; const size = snap.nodes[i + 3];
  const key = type === 'object' || type === 'closure' ? `${type}:${name}` : type === 'array' ? `array:${name}` : type;
  const c = counts.get(key) ?? [0, 0]; c[0]++; c[1] += size; counts.set(key, c);
}
console.log('waiting', waiting);
[...counts].sort((a, b) => b[1][1] - a[1][1]).slice(0, 45).forEach(([k, [c, s]]) => console.log((c / waiting).toFixed(2).padStart(8), 'objs/cycle', (s / waiting).toFixed(0).padStart(6), 'B/cycle', k));
