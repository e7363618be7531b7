// Bytes allocated per S1 cycle (one acquire+release loop on one resource, 5 local nodes),
// contender by contender as the bench builds them, on ioredis 6 and 5: issue 32's "allocation per S1 cycle at
// most node-redlock 5's". Not part of `pnpm bench`; run after `pnpm run build`:
// `node --expose-gc bench/scripts/s1-allocation.mjs [contender...]` (default: redlock-core, redlock@5 and the
// coalescing floor, each on both clients), about a minute. Allocated = heap growth over a sample plus what each
// GC in it freed (`v8.GCProfiler`), after a forced GC, so garbage of earlier samples is not counted. Samples
// interleave the contenders in a fresh random order each round; each figure is the median of the rounds.
import { startBenchNodes } from '../dist/bench-nodes.js';
import { ContenderPool } from '../dist/contender-pool.js';
import { ALL_CONTENDERS } from '../dist/contenders/all-contenders.js';
import { allocatedDuring, canCollectGarbage, heapUsedAfterGc } from '../dist/measure/heap.js';

const ROUNDS = 9;
const CYCLES_PER_SAMPLE = 2_000;
const WARM_UP_CYCLES = 4_000;
const names = process.argv.slice(2).length > 0
  ? process.argv.slice(2)
  : ['redlock-core', 'redlock@5', 'floor-coalesced', 'redlock-core@io5', 'redlock@5@io5', 'floor-coalesced@io5'];

if (!canCollectGarbage()) {
  console.error('Run with node --expose-gc: each sample starts after a forced GC');
  process.exit(1);
}
const definitions = names.map((name) => {
  const definition = ALL_CONTENDERS.find((candidate) => candidate.name === name);
  if (definition === undefined) throw new Error(`No contender ${name}; the bench's are: ${ALL_CONTENDERS.map((each) => each.name).join(', ')}`);
  return definition;
});

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
const shuffled = (items) => items.map((item) => [Math.random(), item]).sort(([a], [b]) => a - b).map(([, item]) => item);

/** `cycles` serial acquire+release cycles on one resource, as S1 runs them. */
async function loop(contender, cycles) {
  for (let index = 0; index < cycles; index += 1) {
    const release = await contender.acquire('s1-allocation');
    await release();
  }
}

/** One sample: bytes allocated per cycle. (Its CPU is not reported: the profiler's own work at each GC weighs on it.) */
async function sample(contender) {
  heapUsedAfterGc();
  const { bytes } = await allocatedDuring(() => loop(contender, CYCLES_PER_SAMPLE));
  return bytes / CYCLES_PER_SAMPLE;
}

const nodes = await startBenchNodes();
const pool = new ContenderPool(nodes);
try {
  const contenders = new Map();
  for (const definition of definitions) {
    const contender = await pool.get(definition, 'near', 'defaults');
    await loop(contender, WARM_UP_CYCLES);
    contenders.set(definition.name, contender);
  }
  const samples = new Map(names.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const name of shuffled(names)) samples.get(name).push(await sample(contenders.get(name)));
  }
  console.log(`S1 allocation, ${ROUNDS} rounds of ${CYCLES_PER_SAMPLE} cycles per contender, all nodes near`);
  console.log('| contender | KB allocated per cycle (median, min-max) |');
  console.log('| --- | ---: |');
  for (const name of names) {
    const kilobytes = samples.get(name).map((bytes) => bytes / 1024);
    console.log(`| ${name} | ${median(kilobytes).toFixed(1)} (${Math.min(...kilobytes).toFixed(1)}-${Math.max(...kilobytes).toFixed(1)}) |`);
  }
} finally {
  await pool.close();
  await nodes.stop();
}
