// What one uncontended acquire+release costs the core besides instructions (core-instructions.sh): the
// source files whose functions run, the bytes allocated, and the functions that allocate them. Over 5
// in-memory nodes that answer at once (core-cycles.mjs), after 20,000 cycles of warm-up; `lean` runs the
// reference loop, the least a Redlock can do in-process, and `redlock5` node-redlock 5. Run after
// `pnpm run build`.
// Usage: node --expose-gc bench/scripts/core-path.mjs [core|lean|redlock5]
import { Session } from 'node:inspector/promises';
import { allocatedDuring, heapUsedAfterGc } from '../dist/measure/heap.js';
import { cycleOf } from './core-cycles.mjs';

const mode = process.argv[2] ?? 'core';
if (typeof globalThis.gc !== 'function') throw new Error('Run with node --expose-gc');
process.removeAllListeners('warning');
process.on('warning', () => undefined);
const cycle = await cycleOf(mode);
for (let index = 0; index < 20_000; index += 1) await cycle();

const shortUrl = (url) =>
  url
    .replace(/^.*\/packages\/redlock-core\/dist\//, '')
    .replace(/^file:\/\/.*\/redlock@5[^/]*\/node_modules\/redlock\//, 'redlock5/')
    .replace(/^file:\/\/.*\/bench\/scripts\//, 'bench/scripts/');
const session = new Session();
session.connect();

// The files: precise coverage counts calls per function, and each take resets the counts.
await session.post('Profiler.enable');
await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
await cycle();
await session.post('Profiler.takePreciseCoverage');
await cycle();
const { result } = await session.post('Profiler.takePreciseCoverage');
await session.post('Profiler.stopPreciseCoverage');
const files = result
  // The library's files, and for `lean` its reference vote; not this driver's loop.
  .filter((script) => script.url.includes('/redlock-core/dist/') || script.url.includes('/redlock@5') || script.url.endsWith('/bench/scripts/lean-quorum.mjs'))
  .filter((script) => script.functions.some((fn) => fn.functionName !== '' && fn.ranges[0].count > 0))
  .map((script) => shortUrl(script.url))
  .sort();

// The bytes: what 20,000 cycles allocate (heap growth plus what every GC in them freed), after a forced GC.
heapUsedAfterGc();
const measured = 20_000;
const { bytes } = await allocatedDuring(async () => {
  for (let index = 0; index < measured; index += 1) await cycle();
});

// Who allocates: the sampling heap profiler, counting objects collected since.
const sampledCycles = 20_000;
await session.post('HeapProfiler.startSampling', { samplingInterval: 128, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
for (let index = 0; index < sampledCycles; index += 1) await cycle();
const { profile } = await session.post('HeapProfiler.stopSampling');
const byFunction = new Map();
const walk = (node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  if (node.selfSize > 0) {
    const name = `${functionName || '(anonymous)'} ${shortUrl(url) || '(native)'}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize);
  }
  for (const child of node.children) walk(child);
};
walk(profile.head);
session.disconnect();

console.log(`${mode}: ${files.length} files run per acquire+release: ${files.join(', ')}`);
console.log(`${mode}: ${Math.round(bytes / measured)} bytes allocated per acquire+release`);
console.log(`${mode}: bytes per acquire+release by allocating function (sampled, compiled dist lines):`);
for (const [name, size] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
  console.log(`  ${String(Math.round(size / sampledCycles)).padStart(6)}  ${name}`);
}
