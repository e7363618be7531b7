// The hardening issue's three figures on local redis-server nodes (not part of `pnpm bench`; run after `pnpm run build`):
// `node --expose-gc bench/scripts/hardening-figures.mjs [cycles=3000] [repetitions=20]`.
// (a) heap per acquire+release cycle with one node silent; (b) the first acquire and extend after SCRIPT FLUSH on
// nodes 30 ms away; (c) 300 waiters in one process (through many-waiters.mjs).
import { startLatencyProxy, startRedisNodes } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { connectClients } from '../dist/bench-nodes.js';
import { canCollectGarbage, heapUsedAfterGc } from '../dist/measure/heap.js';

const cycles = +(process.argv[2] ?? 3_000);
const repetitions = +(process.argv[3] ?? 20);
const NODE_COUNT = 5;
const TTL_MS = 10_000;
/** Targets from the issue. */
const HEAP_TARGET_BYTES_PER_CYCLE = 1_024;
const FLUSH_FAILURES_TARGET = 0;
/** (b): each node behind a proxy adding this much each way, a 30 ms round trip. */
const ONE_WAY_DELAY_MS = 15;
/** (c): how many waiters contend for one resource in one process. */
const WAITERS = 300;

if (!canCollectGarbage()) {
  console.error('Run with node --expose-gc: figure (a) reads the heap after forced GCs');
  process.exit(1);
}
if (!Number.isSafeInteger(cycles) || cycles < 10 || !Number.isSafeInteger(repetitions) || repetitions < 1) {
  console.error(`Expected [cycles ≥ 10] [repetitions ≥ 1], got ${process.argv.slice(2).join(' ')}`);
  process.exit(1);
}

const verdict = (isMet) => (isMet ? 'met' : 'missed');
const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;
/** Commands a client has sent or queued that have had no reply yet. */
const pendingCommands = (client) => client.commandQueue.length + client.offlineQueue.length;
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** The least-squares slope of y over x, as S5 computes its trend. */
function slopeOf(points) {
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / points.length;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / points.length;
  const covariance = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0);
  const variance = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0);
  return covariance / variance;
}

/**
 * (a) Node 4 paused (SIGSTOP: connected, reads nothing, answers nothing) while one loop runs acquire+release
 * cycles: the heap after forced GCs, read 11 times over `cycles` cycles, and the silent client's pending
 * commands. A warm-up of as many cycles first lets the circuit breaker count the node down and fills
 * one-time caches and JIT feedback: after a warm-up of a tenth as many, those still showed as 50-90 B/cycle.
 */
async function measureHeapWithSilentNode(nodes) {
  const clients = await connectClients(nodes.urls);
  const silent = nodes.nodes[4];
  try {
    const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)), { keyPrefix: 'hardening:a:' });
    const cycle = async () => {
      const lock = await redlock.acquire('cycled', TTL_MS);
      await lock.release();
    };
    await cycle(); // first contact (probe, scripts) while every node answers
    silent.pause();
    for (let done = 0; done < cycles; done += 1) await cycle();
    const pendingBefore = pendingCommands(clients[4]);
    const points = [[0, heapUsedAfterGc()]];
    const started = performance.now();
    for (let segment = 1; segment <= 10; segment += 1) {
      for (let done = 0; done < cycles / 10; done += 1) await cycle();
      points.push([Math.round((segment * cycles) / 10), heapUsedAfterGc()]);
    }
    const elapsedMs = performance.now() - started;
    const pendingAfter = pendingCommands(clients[4]);
    const slope = slopeOf(points);
    const growth = points.at(-1)[1] - points[0][1];
    const health = redlock.nodeHealth()[4];
    console.log(
      `(a) node 4 silent (paused), ${cycles.toLocaleString('en-US')} acquire+release cycles in ${(elapsedMs / 1000).toFixed(1)} s ` +
        `after as many to warm up: heap trend ${slope.toFixed(1)} B/cycle ` +
        `(target < ${HEAP_TARGET_BYTES_PER_CYCLE} B: ${verdict(slope < HEAP_TARGET_BYTES_PER_CYCLE)}); ` +
        `heap after GC ${kb(points[0][1])} → ${kb(points.at(-1)[1])} (${growth >= 0 ? '+' : ''}${(growth / cycles).toFixed(1)} B/cycle end to end); ` +
        `silent client's pending commands ${pendingBefore} → ${pendingAfter}; node 4 ${health.state} after ${health.timeoutsInARow} timeouts in a row`,
    );
  } finally {
    silent.resume();
    for (const client of clients) client.disconnect();
  }
}

/**
 * (b) Every node behind a proxy adding {@link ONE_WAY_DELAY_MS} each way, default options (a 10 s TTL
 * gives a 50 ms node timeout, less than EVALSHA, NOSCRIPT and EVAL's two round trips): `repetitions`
 * times, an acquire, extend and release so that every script is cached and known to be, SCRIPT FLUSH on
 * every node, then acquire (a failure: rejected, or needing a retry); extend once to cache the extend
 * script again (the NOSCRIPT made every script go by EVAL), SCRIPT FLUSH, then extend (a failure: rejected).
 */
async function measureFirstCallsAfterScriptFlush(nodes) {
  const proxies = await Promise.all(nodes.nodes.map((node) => startLatencyProxy({ targetPort: node.port, delayMs: ONE_WAY_DELAY_MS })));
  const clients = await connectClients(proxies.map((proxy) => proxy.url));
  const admins = await connectClients(nodes.urls);
  const flushScripts = () => Promise.all(admins.map((admin) => admin.script('FLUSH')));
  try {
    const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)), { keyPrefix: 'hardening:b:' });
    let acquireFailures = 0;
    let extendFailures = 0;
    const acquireMs = [];
    const extendMs = [];
    for (let repetition = 0; repetition < repetitions; repetition += 1) {
      const warm = await redlock.acquire('warm-up', TTL_MS);
      await warm.extend(TTL_MS);
      await (await warm.release()).settled;
      await flushScripts();
      let started = performance.now();
      const lock = await redlock.acquire(`resource-${repetition}`, TTL_MS).catch(() => undefined);
      acquireMs.push(performance.now() - started);
      if (lock === undefined || lock.attempts !== 1) acquireFailures += 1;
      if (lock === undefined) continue;
      await lock.extend(TTL_MS).catch(() => undefined);
      await flushScripts();
      started = performance.now();
      const extended = await lock.extend(TTL_MS).then(
        () => true,
        () => false,
      );
      extendMs.push(performance.now() - started);
      if (!extended) extendFailures += 1;
      await (await lock.release()).settled;
    }
    const failures = acquireFailures + extendFailures;
    console.log(
      `(b) SCRIPT FLUSH on ${NODE_COUNT} nodes ${2 * ONE_WAY_DELAY_MS} ms away (${ONE_WAY_DELAY_MS} ms each way), default options, TTL ${TTL_MS / 1000} s: ` +
        `first acquire failed or retried ${acquireFailures}/${repetitions}, first extend failed ${extendFailures}/${repetitions} ` +
        `(target ${FLUSH_FAILURES_TARGET}: ${verdict(failures <= FLUSH_FAILURES_TARGET)}); ` +
        `first acquire p50 ${median(acquireMs).toFixed(0)} ms, max ${Math.max(...acquireMs).toFixed(0)} ms; ` +
        `first extend p50 ${median(extendMs).toFixed(0)} ms, max ${Math.max(...extendMs).toFixed(0)} ms`,
    );
  } finally {
    for (const client of [...clients, ...admins]) client.disconnect();
    await Promise.all(proxies.map((proxy) => proxy.close()));
  }
}

/**
 * (c) runs `many-waiters.mjs` (its own nodes, one round of WAITERS waiters holding 2 ms each), the script
 * that measures the local wait queue, and returns what it printed.
 */
async function measureWaitersInOneProcess() {
  const { execFile } = await import('node:child_process');
  const script = new URL('./many-waiters.mjs', import.meta.url);
  const output = await new Promise((resolve, reject) =>
    execFile(process.execPath, [script.pathname, String(WAITERS), '2', '1'], { timeout: 120_000 }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    ),
  );
  return `(c) ${WAITERS} waiters in one process, 2 ms hold (bench/scripts/many-waiters.mjs):\n${output.trimEnd()}`;
}

const nodes = await startRedisNodes({ count: NODE_COUNT });
try {
  console.log(`Hardening figures on ${NODE_COUNT} local redis-server nodes, node ${process.version}`);
  await measureHeapWithSilentNode(nodes);
  await measureFirstCallsAfterScriptFlush(nodes);
  console.log(await measureWaitersInOneProcess());
} finally {
  await nodes.stop();
}
