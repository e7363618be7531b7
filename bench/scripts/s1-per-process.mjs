// S1 and S4 with every contender in a process of its own, as an application runs one lock library: the
// bench's scenarios run all contenders in one process (rounds interleaved), where each shares the heap,
// the collector and the timers of the others, and their tails with it. Here each run starts a fresh
// process with its own 5 redis-server nodes and two instances of the contender, one over the near nodes
// and one with node 0 behind a proxy adding 20 ms each way, warms both up, then times serial
// acquire+release cycles on the first (S1) and, for a fixed time, on the second (S4), in alternating
// blocks. The proxy runs in a process of its own too, as a network does: in the bench's S4 it runs in
// the contenders' process, and its work on every far command lands in their cycles. Rounds rotate the
// order of the contenders; each figure is compared with the baseline's of the same round (paired ratio, 95%
// interval of its median, bench/src/measure/paired-ratio.ts). Run after `pnpm run build`.
// Usage: node bench/scripts/s1-per-process.mjs [--rounds=8] [--cycles=6000] [--vs=redlock@5] [contender...]
//   Every contender is compared with the baseline on its own ioredis major: `x@io5` with `<vs>@io5`.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const FAR_MS = 3_000;
const WARM_UP_CYCLES = 2_000;
/** S1's cycles and S4's time are each cut into this many blocks, S1's and S4's taking turns. */
const BLOCKS = 6;
/** Lets the far node's answers to the latest S4 cycles arrive (its round trip is 40 ms) before S1 runs on. */
const settleFarAnswers = () => new Promise((resolve) => setTimeout(resolve, 150));

if (process.argv[2] === '--child') await child(process.argv[3], Number(process.argv[4]));
else if (process.argv[2] === '--proxy') await proxy(Number(process.argv[3]));
else await driver();

async function driver() {
  const flags = Object.fromEntries(process.argv.slice(2).filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')));
  const names = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const contenders = names.length > 0 ? names : ['redlock-core', 'redlock@5', 'redlock-core@io5', 'redlock@5@io5'];
  const rounds = Number(flags.rounds ?? 8);
  const cycles = Number(flags.cycles ?? 6_000);
  const baseline = flags.vs ?? 'redlock@5';
  const { pairedRatio, formatPairedRatio } = await import('../dist/measure/paired-ratio.js');
  const samples = new Map(contenders.map((name) => [name, []]));
  const self = fileURLToPath(import.meta.url);
  for (let round = 0; round < rounds; round += 1) {
    // A rotating order, so that no contender always runs first (or right after the same one).
    const order = contenders.map((_, index) => contenders[(index + round) % contenders.length]);
    for (const name of order) {
      const output = execFileSync(process.execPath, [self, '--child', name, String(cycles)], { encoding: 'utf8' });
      const figures = JSON.parse(output.trim().split('\n').at(-1));
      samples.get(name)[round] = figures;
      console.error(`round ${round + 1}/${rounds} ${name}: ${JSON.stringify(figures)}`);
    }
  }
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  };
  console.log(`S1 (${cycles} serial cycles) and S4 (${FAR_MS} ms, node 0 20 ms away each way), in ${BLOCKS} blocks each, taking turns, after ${WARM_UP_CYCLES} cycles of each; each contender in its own process, ${rounds} rounds`);
  console.log('| contender | S1 ops/s | S1 client CPU µs/lock | S1 p50 µs | S1 p99 µs | S4 p50 µs | S4 p50 ÷ own S1 p50 |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const name of contenders) {
    const rows = samples.get(name);
    const s4VsS1 = rows.map((row) => ({ ratio: row.s4P50Us / row.s1P50Us }));
    const cells = ['opsPerS', 'cpuUsPerLock', 's1P50Us', 's1P99Us', 's4P50Us'].map((key) => String(median(rows.map((row) => row[key]))));
    console.log(`| ${name} | ${cells.join(' | ')} | ${median(s4VsS1.map((row) => row.ratio)).toFixed(2)} |`);
  }
  console.log('');
  for (const name of contenders) {
    const other = name.endsWith('@io5') ? `${baseline}@io5` : baseline;
    if (name === other || !samples.has(other)) continue;
    const mine = samples.get(name);
    const theirs = samples.get(other);
    const line = [
      ['S1 ops/s', 'opsPerS'],
      ['client CPU per lock', 'cpuUsPerLock'],
      ['p99', 's1P99Us'],
    ].map(([label, key]) => `${label} ${formatPairedRatio(pairedRatio(mine, theirs, key))}`);
    console.log(`${name} ÷ ${other}: ${line.join('; ')}`);
  }
}

/** One contender in this process: S1 on the near nodes, then S4 with node 0 far; prints its figures as JSON. */
async function child(name, cycles) {
  const { connectClients, NODE_COUNT } = await import('../dist/bench-nodes.js');
  const { startRedisNodes } = await import('local-redis-nodes');
  const { ALL_CONTENDERS } = await import('../dist/contenders/all-contenders.js');
  const definition = ALL_CONTENDERS.find((each) => each.name === name);
  if (definition === undefined) throw new Error(`No contender "${name}": ${ALL_CONTENDERS.map((each) => each.name).join(', ')}`);
  process.removeAllListeners('warning');
  process.on('warning', () => undefined);
  // The nodes alone: the bench's startBenchNodes() would also start its own proxy in this process.
  const nodes = await startRedisNodes({ count: NODE_COUNT });
  const opened = [];
  let farProxy;
  const contenderOver = async (topology) => {
    const major = definition.client === 'ioredis5' ? 5 : 6;
    let urls = nodes.urls;
    if (topology === 'far') {
      farProxy = await startProxyProcess(Number(new URL(urls[0]).port));
      urls = urls.map((url, index) => (index === 0 ? farProxy.url : url));
    }
    const clients = await connectClients(urls, definition.clientOptions ?? {}, [], major);
    opened.push(...clients);
    return definition.create({
      clients,
      retry: 'defaults',
      farNodeIndex: topology === 'far' ? 0 : undefined,
      connectMore: () => Promise.reject(new Error('S1 and S4 open no more clients')),
    });
  };
  try {
    const near = await contenderOver('near');
    const far = await contenderOver('far');
    // Both warmed up alike: a far node's late answers take code paths of their own, which V8 compiles
    // during the first thousands of S4 cycles (a fresh instance of ours read an S4 p50 of 410-490 µs over
    // its first 2,000 cycles and 334-377 µs after, the floor's 349-404 µs then 275-356; bench/RESULTS.md),
    // and a fresh Redlock learns its nodes' round trips.
    for (let index = 0; index < WARM_UP_CYCLES; index += 1) {
      await (await near.acquire('s1'))();
      await (await far.acquire('s4'))();
    }
    await settleFarAnswers();
    // S1 and S4 in alternating blocks, so that the machine's load, which drifts over seconds here, weighs
    // on both alike: S4's p50 is compared with the S1 p50 of the same minutes.
    const latenciesMs = new Float64Array(cycles);
    const farLatenciesMs = [];
    let wallMs = 0;
    let cpuUs = 0;
    let done = 0;
    for (let block = 0; block < BLOCKS; block += 1) {
      const blockEnd = Math.round(((block + 1) * cycles) / BLOCKS);
      const cpuBefore = process.cpuUsage();
      const startedAt = performance.now();
      for (; done < blockEnd; done += 1) {
        const cycleStart = performance.now();
        await (await near.acquire('s1'))();
        latenciesMs[done] = performance.now() - cycleStart;
      }
      wallMs += performance.now() - startedAt;
      const cpu = process.cpuUsage(cpuBefore);
      cpuUs += cpu.user + cpu.system;
      const farUntil = performance.now() + FAR_MS / BLOCKS;
      while (performance.now() < farUntil) {
        const cycleStart = performance.now();
        await (await far.acquire('s4'))();
        farLatenciesMs.push(performance.now() - cycleStart);
      }
      // The far node's answers to the last S4 cycles come 40 ms later: not in the next S1 block's time.
      await settleFarAnswers();
    }
    latenciesMs.sort();
    farLatenciesMs.sort((a, b) => a - b);
    const at = (sorted, share) => Math.round(1_000 * sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]);
    console.log(
      JSON.stringify({
        opsPerS: Math.round((cycles / wallMs) * 1_000),
        cpuUsPerLock: Math.round(cpuUs / cycles),
        s1P50Us: at(latenciesMs, 0.5),
        s1P99Us: at(latenciesMs, 0.99),
        s4P50Us: at(farLatenciesMs, 0.5),
      }),
    );
  } finally {
    for (const client of opened) client.disconnect();
    farProxy?.process.kill();
    await nodes.stop();
  }
}

/** Starts {@link proxy} in a process of its own in front of node port `targetPort`; resolves with its url once it listens. */
async function startProxyProcess(targetPort) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--proxy', String(targetPort)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  return { process: child, url: String(line).trim() };
}

/** The far node's proxy (20 ms each way): prints its url, then forwards until its parent kills it or goes away. */
async function proxy(targetPort) {
  const { startLatencyProxy } = await import('local-redis-nodes');
  const { FAR_NODE_DELAY_MS } = await import('../dist/bench-nodes.js');
  const latencyProxy = await startLatencyProxy({ targetPort, delayMs: FAR_NODE_DELAY_MS });
  console.log(latencyProxy.url);
  // Ends with its parent: a parent that died without killing it closes this pipe.
  process.stdin.resume();
  process.stdin.on('close', () => process.exit(0));
}
