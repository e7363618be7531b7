// S1 and S4 with every contender in a process of its own, as an application runs one lock library: the
// bench's scenarios run all contenders in one process (rounds interleaved), where each shares the heap,
// the collector and the timers of the others, and their tails with it. Here one set of 5 redis-server
// nodes serves a process per contender, all started at once; each makes its contender twice, over the
// near nodes and with node 0 behind a proxy adding 20 ms each way, and warms both up. Then the processes
// take turns, one at a time, in short blocks: a block of serial S1 cycles each, then a window of S4 each,
// the order reversed (or rotated) from one block to the next. A slow spell of this shared machine lasts
// seconds, so it weighs on both sides of a block's pair alike: each figure is compared with the
// baseline's of the same block (paired ratio, 95% interval of its median, bench/src/measure/paired-ratio.ts),
// where whole processes one after the other (this script until 2026-12-01) read ratios whose intervals
// spanned 0.8-1.3. The proxy runs in a process of its own, as a network does. Run after `pnpm run build`.
// Usage: node bench/scripts/s1-per-process.mjs [--blocks=30] [--cycles=800] [--s4-ms=400] [--vs=redlock@5] [contender...]
//   `--cycles` S1 cycles per block, `--s4-ms` S4's window per block. Every contender is compared with the
//   baseline on its own ioredis major: `x@io5` with `<vs>@io5`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const WARM_UP_CYCLES = 2_000;
/** Lets the far node's answers to the latest S4 cycles arrive (its round trip is 40 ms) before S1 runs on. */
const settleFarAnswers = () => new Promise((resolve) => setTimeout(resolve, 150));

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4], process.argv[5]);
else if (process.argv[2] === '--proxy') await proxy(Number(process.argv[3]));
else await driver();

async function driver() {
  const flags = Object.fromEntries(process.argv.slice(2).filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')));
  const names = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const contenders = names.length > 0 ? names : ['redlock-core', 'redlock@5', 'redlock-core@io5', 'redlock@5@io5'];
  const blocks = Number(flags.blocks ?? 30);
  const cycles = Number(flags.cycles ?? 800);
  const s4Ms = Number(flags['s4-ms'] ?? 400);
  const baseline = flags.vs ?? 'redlock@5';
  const { pairedRatio, formatPairedRatio } = await import('../dist/measure/paired-ratio.js');
  const { NODE_COUNT } = await import('../dist/bench-nodes.js');
  const { startRedisNodes } = await import('local-redis-nodes');
  const nodes = await startRedisNodes({ count: NODE_COUNT });
  const farProxy = await startProxyProcess(Number(new URL(nodes.urls[0]).port));
  const processes = [];
  try {
    for (const name of contenders) processes.push(await startContender(name, nodes.urls, farProxy.url));
    const samples = contenders.map(() => []);
    for (let block = 0; block < blocks; block += 1) {
      // Reversed every other block (for two contenders: A B, B A, …), rotated for more.
      const order = contenders.map((_, index) => (block % 2 === 0 ? index : contenders.length - 1 - index)).map((index) => (index + Math.floor(block / 2)) % contenders.length);
      for (const index of order) samples[index][block] = await processes[index].ask(`s1 ${cycles}`);
      for (const index of order) await processes[index].ask(`s4 ${s4Ms}`);
      await settleFarAnswers();
    }
    const totals = [];
    for (const each of processes) totals.push(await each.ask('end'));
    const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    console.log(`S1 (${cycles} serial cycles a block) and S4 (${s4Ms} ms a block, node 0 20 ms away each way), ${blocks} blocks, taking turns, after ${WARM_UP_CYCLES} cycles of each; each contender in its own process, on the same 5 nodes`);
    console.log('| contender | S1 ops/s | S1 client CPU µs/lock | S1 p50 µs | S1 p99 µs | S4 p50 µs | S4 p50 ÷ own S1 p50 |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    contenders.forEach((name, index) => {
      const { s1P50Us, s1P99Us, s4P50Us } = totals[index];
      const cells = [median(samples[index].map((row) => row.opsPerS)), median(samples[index].map((row) => row.cpuUsPerLock)), s1P50Us, s1P99Us, s4P50Us];
      console.log(`| ${name} | ${cells.map((cell) => Math.round(cell)).join(' | ')} | ${(s4P50Us / s1P50Us).toFixed(2)} |`);
    });
    console.log('');
    contenders.forEach((name, index) => {
      const other = contenders.indexOf(name.endsWith('@io5') ? `${baseline}@io5` : baseline);
      if (other === -1 || other === index) return;
      const line = [
        ['S1 ops/s', 'opsPerS'],
        ['client CPU per lock', 'cpuUsPerLock'],
        ['block p99', 'p99Us'],
      ].map(([label, key]) => `${label} ${formatPairedRatio(pairedRatio(samples[index], samples[other], key))}`);
      console.log(`${name} ÷ ${contenders[other]}: ${line.join('; ')} (rounds: blocks)`);
    });
  } finally {
    for (const each of processes) each.process.kill();
    farProxy.process.kill();
    await nodes.stop();
  }
}

/** One contender's process: resolves once it is warm, with `ask(command)`, which resolves with the JSON line it answers. */
async function startContender(name, urls, farUrl) {
  const process_ = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', name, JSON.stringify(urls), farUrl], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: process_.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`${name}'s process ended before it answered`);
    return JSON.parse(value);
  };
  await next();
  return {
    process: process_,
    ask: (command) => {
      process_.stdin.write(`${command}\n`);
      return next();
    },
  };
}

/** One contender in this process, on the nodes at `urlsJson`: warms up, prints `{}`, then runs what its parent asks, a line each. */
async function child(name, urlsJson, farUrl) {
  const { connectClients } = await import('../dist/bench-nodes.js');
  const { ALL_CONTENDERS } = await import('../dist/contenders/all-contenders.js');
  const definition = ALL_CONTENDERS.find((each) => each.name === name);
  if (definition === undefined) throw new Error(`No contender "${name}": ${ALL_CONTENDERS.map((each) => each.name).join(', ')}`);
  process.removeAllListeners('warning');
  process.on('warning', () => undefined);
  const nearUrls = JSON.parse(urlsJson);
  const opened = [];
  const contenderOver = async (urls, farNodeIndex) => {
    const clients = await connectClients(urls, definition.clientOptions ?? {}, [], definition.client === 'ioredis5' ? 5 : 6);
    opened.push(...clients);
    return definition.create({ clients, retry: 'defaults', farNodeIndex, connectMore: () => Promise.reject(new Error('S1 and S4 open no more clients')) });
  };
  // Keys of this process's own: every contender shares the nodes.
  const s1Key = `s1:${name}`;
  const s4Key = `s4:${name}`;
  const near = await contenderOver(nearUrls, undefined);
  const far = await contenderOver(nearUrls.map((url, index) => (index === 0 ? farUrl : url)), 0);
  // Both warmed up alike: a far node's late answers take code paths of their own, which V8 compiles
  // during the first thousands of S4 cycles, and a fresh Redlock learns its nodes' round trips.
  for (let index = 0; index < WARM_UP_CYCLES; index += 1) {
    await (await near.acquire(s1Key))();
    await (await far.acquire(s4Key))();
  }
  await settleFarAnswers();
  const latenciesMs = [];
  const farLatenciesMs = [];
  console.log('{}');
  for await (const line of createInterface({ input: process.stdin })) {
    const [command, amount] = line.split(' ');
    if (command === 's1') {
      const cycles = Number(amount);
      const blockMs = new Float64Array(cycles);
      const cpuBefore = process.cpuUsage();
      const startedAt = performance.now();
      for (let done = 0; done < cycles; done += 1) {
        const cycleStart = performance.now();
        await (await near.acquire(s1Key))();
        blockMs[done] = performance.now() - cycleStart;
      }
      const wallMs = performance.now() - startedAt;
      const cpu = process.cpuUsage(cpuBefore);
      latenciesMs.push(...blockMs);
      blockMs.sort();
      console.log(JSON.stringify({ opsPerS: (cycles / wallMs) * 1_000, cpuUsPerLock: (cpu.user + cpu.system) / cycles, p99Us: 1_000 * blockMs[Math.floor(0.99 * cycles)] }));
    } else if (command === 's4') {
      const until = performance.now() + Number(amount);
      while (performance.now() < until) {
        const cycleStart = performance.now();
        await (await far.acquire(s4Key))();
        farLatenciesMs.push(performance.now() - cycleStart);
      }
      console.log('{}');
    } else {
      latenciesMs.sort((a, b) => a - b);
      farLatenciesMs.sort((a, b) => a - b);
      const at = (sorted, share) => Math.round(1_000 * sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]);
      console.log(JSON.stringify({ s1P50Us: at(latenciesMs, 0.5), s1P99Us: at(latenciesMs, 0.99), s4P50Us: at(farLatenciesMs, 0.5) }));
      break;
    }
  }
  for (const client of opened) client.disconnect();
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
