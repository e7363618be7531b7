// How cost grows (issue 33, item 4; not part of `pnpm bench`; run after `pnpm run build`):
// `node --expose-gc bench/scripts/scaling.mjs [--quick]`, about 3 minutes on 2 cores (`--quick`: about 30 s).
// Measures redlock-core over the ioredis adapter, as a user sets it up (`new IoredisAdapter(client)`), on local
// redis-server nodes, along four axes, one at a time: nodes (3, 5, 7, 9), resources per lock (1, 10, 100, 1000),
// locks held at once (1, 1k, 100k) and waiters on one resource (1, 100, 1000). Each row: ops/s, client CPU per
// lock (`process.cpuUsage()`, user + system), the nodes' CPU per lock (`INFO cpu`), bytes allocated per lock
// (heap growth plus what each GC in the window freed, from `v8.GCProfiler`) and, where locks or waiters are
// kept, bytes retained per held lock or queued waiter (heap after forced GCs). Prints a Markdown table and
// writes the JSON to bench/results/<date>-scaling.json.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startRedisNodes } from 'local-redis-nodes';
import { LockAcquireError, Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { connectClients } from '../dist/bench-nodes.js';
import { allocatedDuring, canCollectGarbage, heapUsedAfterGc } from '../dist/measure/heap.js';
import { takeUsageSnapshot, usageBetween } from '../dist/measure/usage-snapshot.js';

const isQuick = process.argv.includes('--quick');
const NODE_COUNTS = [3, 5, 7, 9];
const RESOURCE_COUNTS = [1, 10, 100, 1_000];
const HELD_COUNTS = isQuick ? [1, 1_000, 10_000] : [1, 1_000, 100_000];
const WAITER_COUNTS = [1, 100, 1_000];
/** The node count of every axis but the first. */
const BASE_NODE_COUNT = 5;
/** The bench's TTL (bench/src/contenders/contender.ts), in milliseconds, for locks released at once. */
const TTL_MS = 10_000;
/** The TTL of locks held while 100k others are taken, in milliseconds: long enough for the whole row. */
const HELD_TTL_MS = 60_000;
/** Serial axes: samples per row, interleaved with the other rows of the axis in a fresh order each round. */
const ROUNDS = isQuick ? 2 : 7;
const SAMPLE_MS = isQuick ? 300 : 1_000;
/** Held locks: acquisitions and releases in flight at once, as S2's 64 loops. */
const HELD_CONCURRENCY = 64;
/** Held locks: repetitions per row, timed and again untimed, so the small rows are not one reading. */
const HELD_REPETITIONS = { 1: isQuick ? 51 : 201, 1_000: isQuick ? 3 : 5, 100_000: 1, 10_000: 1 };
/**
 * The fewest locks or waiters whose retained heap is reported: a heap reading after forced GCs wanders by
 * several KB between repetitions (for one held lock, 10th to 90th percentile of 201: -6.6 to +6.2 KB in one
 * run, -3.4 to +7.4 KB in another), which divided by 100 or more stays under ~70 B; below that the figure is
 * noise and goes to the JSON only.
 */
const MIN_COUNT_FOR_RETAINED = 100;
/** Waiters: each holds the lock this long (a 1 ms timer, as S3), then releases it. */
const HOLD_MS = 1;
/** Waiters: a sample runs groups of waiters until it has at least this many acquisitions. */
const WAITER_SAMPLE_ACQUISITIONS = isQuick ? 200 : 1_000;
const WAITER_ROUNDS = isQuick ? 1 : 5;

if (!canCollectGarbage()) {
  console.error('Run with node --expose-gc: the retained heap is read after forced GCs');
  process.exit(1);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
const shuffled = (items) => items.map((item) => [Math.random(), item]).sort(([a], [b]) => a - b).map(([, item]) => item);

/**
 * Runs `task(index)` for indexes 0 to count − 1, at most `concurrency` at once. After a failure it starts no
 * more tasks but waits for those under way (so a caller's cleanup sees every lock taken), then rethrows.
 */
async function forEachBounded(count, concurrency, task) {
  let next = 0;
  let failure;
  const worker = async () => {
    while (next < count && failure === undefined) {
      try {
        await task(next++);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(count, concurrency) }, worker));
  if (failure !== undefined) throw failure.error;
}

/**
 * Runs `work` (resolving with the operations it completed) and returns what each operation cost. Bytes
 * allocated = heap growth over the window + what every GC in it freed, so a GC in the middle does not hide
 * what was allocated before it; the garbage of earlier work is collected before the window, so no GC in it
 * frees what the window did not allocate.
 */
async function measured(monitors, work) {
  heapUsedAfterGc();
  const start = await takeUsageSnapshot(monitors, false);
  const startMs = performance.now();
  const { value: ops, bytes } = await allocatedDuring(work);
  const elapsedMs = performance.now() - startMs;
  const usage = usageBetween(start, await takeUsageSnapshot(monitors, true));
  return {
    ops,
    elapsedMs,
    opsPerSec: ops / (elapsedMs / 1000),
    clientCpuUsPerOp: usage.clientCpuUs / ops,
    redisCpuUsPerOp: usage.redisCpuUs / ops,
    redisCallsPerOp: usage.redisCalls / ops,
    allocatedBytesPerOp: bytes / ops,
  };
}

/** The median of each figure over samples. */
function medians(samples) {
  return Object.fromEntries(Object.keys(samples[0]).map((key) => [key, median(samples.map((sample) => sample[key]))]));
}

/** A Redlock over fresh clients of the given nodes, as the README shows; `close()` closes it and them. */
async function openRedlock(urls, keyPrefix) {
  const clients = await connectClients(urls);
  const monitors = await connectClients(urls);
  const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)), { keyPrefix });
  return {
    redlock,
    monitors,
    async close() {
      await redlock.close();
      for (const client of [...clients, ...monitors]) client.disconnect();
    },
  };
}

/** Keys left on the nodes, summed: 0 once every lock taken was released. */
async function keysLeft(monitors) {
  const sizes = await Promise.all(monitors.map((monitor) => monitor.dbsize()));
  return sizes.reduce((sum, size) => sum + size, 0);
}

/** One acquire+release loop for `SAMPLE_MS` on `resources`. */
function serialLoop(redlock, resources) {
  return async () => {
    let ops = 0;
    const endMs = performance.now() + SAMPLE_MS;
    while (performance.now() < endMs) {
      const lock = await redlock.acquire(resources, TTL_MS);
      await lock.release();
      ops += 1;
    }
    return ops;
  };
}

/** Rows of a serial axis: one untimed warm-up sample each, then `ROUNDS` rounds in a fresh order. */
async function serialAxis(axis, setups) {
  for (const setup of setups) await serialLoop(setup.redlock, setup.resources)();
  const samples = new Map(setups.map((setup) => [setup, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const setup of shuffled(setups)) samples.get(setup).push(await measured(setup.monitors, serialLoop(setup.redlock, setup.resources)));
  }
  return setups.map((setup) => ({ axis, value: setup.value, ...medians(samples.get(setup)), samples: samples.get(setup) }));
}

/** Nodes: one resource, 3 to 9 nodes (the first n of one fleet of 9). */
async function nodesAxis(fleet) {
  const setups = [];
  try {
    for (const count of NODE_COUNTS) {
      setups.push({ value: count, resources: 'scaling:nodes', ...(await openRedlock(fleet.urls.slice(0, count), `n${count}:`)) });
    }
    return await serialAxis('nodes', setups);
  } finally {
    for (const setup of setups) await setup.close();
  }
}

/** Resources per lock: one lock on 1 to 1000 resources, 5 nodes. */
async function resourcesAxis(fleet) {
  const setup = await openRedlock(fleet.urls.slice(0, BASE_NODE_COUNT), 'r:');
  try {
    const setups = RESOURCE_COUNTS.map((count) => ({
      ...setup,
      value: count,
      resources: Array.from({ length: count }, (_, index) => `scaling:resources:${count}:${index}`),
    }));
    return await serialAxis('resources per lock', setups);
  } finally {
    await setup.close();
  }
}

/**
 * Held locks, one repetition: acquires `count` distinct resources (at most {@link HELD_CONCURRENCY} at once),
 * holds them all, then releases them all; the release runs even when an acquire failed. With `readsHeap`,
 * returns the heap growth while holding them (heap after forced GCs), else the time the acquisitions took.
 */
async function holdOnce(redlock, count, label, readsHeap) {
  const locks = [];
  const heapBefore = readsHeap ? heapUsedAfterGc() : 0;
  const startMs = performance.now();
  try {
    await forEachBounded(count, HELD_CONCURRENCY, async (index) => {
      locks.push(await redlock.acquire(`scaling:held:${count}:${label}:${index}`, HELD_TTL_MS));
    });
    return readsHeap ? heapUsedAfterGc() - heapBefore : performance.now() - startMs;
  } finally {
    await forEachBounded(locks.length, HELD_CONCURRENCY, (index) => locks[index].release());
  }
}

/**
 * Held locks: per row, one measured window over its repetitions (the figures are per acquire+release),
 * then as many repetitions again, untimed, that read the heap while holding: a forced GC in the timed
 * window would leave its concurrent sweeping in the client's CPU. The retained heap is the median over
 * those of (heap while holding − heap before) ÷ count.
 */
async function heldAxis(fleet) {
  const setup = await openRedlock(fleet.urls.slice(0, BASE_NODE_COUNT), 'h:');
  try {
    await holdOnce(setup.redlock, 1_000, 'warm-up', false);
    const rows = [];
    for (const count of HELD_COUNTS) {
      const acquireOpsPerSec = [];
      const figures = await measured(setup.monitors, async () => {
        for (let repetition = 0; repetition < HELD_REPETITIONS[count]; repetition += 1) {
          acquireOpsPerSec.push(count / ((await holdOnce(setup.redlock, count, `timed-${repetition}`, false)) / 1000));
        }
        return count * HELD_REPETITIONS[count];
      });
      const retainedBytesPerLock = [];
      for (let repetition = 0; repetition < HELD_REPETITIONS[count]; repetition += 1) {
        retainedBytesPerLock.push((await holdOnce(setup.redlock, count, `heap-${repetition}`, true)) / count);
      }
      rows.push({
        axis: 'locks held',
        value: count,
        ...figures,
        retainedBytesPerLock: count >= MIN_COUNT_FOR_RETAINED ? median(retainedBytesPerLock) : undefined,
        acquireOpsPerSec: median(acquireOpsPerSec),
        keysLeftAfterRelease: await keysLeft(setup.monitors),
        repetitions: { acquireOpsPerSec, retainedBytesPerLock },
      });
    }
    return rows;
  } finally {
    await setup.close();
  }
}

/** `count` concurrent acquire() calls on one resource, each holding it {@link HOLD_MS} then releasing it. */
async function waiterGroup(redlock, resource, count, tally) {
  await Promise.all(
    Array.from({ length: count }, async () => {
      let lock;
      try {
        lock = await redlock.acquire(resource, TTL_MS);
      } catch (error) {
        if (!(error instanceof LockAcquireError)) throw error;
        tally.giveUps += 1;
        return;
      }
      tally.acquisitions += 1;
      try {
        await sleep(HOLD_MS);
      } finally {
        await lock.release();
      }
    }),
  );
}

/** Groups of `count` waiters until {@link WAITER_SAMPLE_ACQUISITIONS} calls or more; counts into `tally`. */
function waiterSample(redlock, count, label, tally) {
  return async () => {
    const acquiredBefore = tally.acquisitions;
    const callsBefore = tally.acquisitions + tally.giveUps;
    for (let group = 0; tally.acquisitions + tally.giveUps - callsBefore < WAITER_SAMPLE_ACQUISITIONS; group += 1) {
      await waiterGroup(redlock, `scaling:waiters:${count}:${label}:${group}`, count, tally);
    }
    return tally.acquisitions - acquiredBefore;
  };
}

/**
 * The heap each queued waiter keeps: with the lock held by one call, `count` more calls are made and left
 * queued for 50 ms (well inside the head's first 100-300 ms retry pause), then the heap is read after forced
 * GCs; the holder then releases and the waiters drain (untimed).
 */
async function retainedPerWaiter(redlock, count) {
  const resource = `scaling:queued:${count}`;
  const holder = await redlock.acquire(resource, TTL_MS);
  let group;
  try {
    const heapBefore = heapUsedAfterGc();
    group = waiterGroup(redlock, resource, count, { acquisitions: 0, giveUps: 0 });
    await sleep(50);
    return (heapUsedAfterGc() - heapBefore) / count;
  } finally {
    await holder.release();
    await group;
  }
}

async function waitersAxis(fleet) {
  const setup = await openRedlock(fleet.urls.slice(0, BASE_NODE_COUNT), 'w:');
  try {
    for (const count of WAITER_COUNTS) await waiterSample(setup.redlock, count, 'warm-up', { acquisitions: 0, giveUps: 0 })();
    const tally = { acquisitions: 0, giveUps: 0 };
    const samples = new Map(WAITER_COUNTS.map((count) => [count, []]));
    for (let round = 0; round < WAITER_ROUNDS; round += 1) {
      for (const count of shuffled(WAITER_COUNTS)) samples.get(count).push(await measured(setup.monitors, waiterSample(setup.redlock, count, round, tally)));
    }
    const rows = [];
    for (const count of WAITER_COUNTS) {
      const retained = [];
      for (let repetition = 0; repetition < 3; repetition += 1) retained.push(await retainedPerWaiter(setup.redlock, count));
      rows.push({
        axis: 'waiters on one resource',
        value: count,
        ...medians(samples.get(count)),
        retainedBytesPerLock: count >= MIN_COUNT_FOR_RETAINED ? median(retained) : undefined,
        retainedRepetitions: retained,
        samples: samples.get(count),
      });
    }
    return { rows, giveUps: tally.giveUps, keysLeft: await keysLeft(setup.monitors) };
  } finally {
    await setup.close();
  }
}

/** The commit measured, `+changes` when the packages' sources differ from it (as bench/src/main.ts). */
function describeCommit() {
  try {
    const packagesDir = fileURLToPath(new URL('../../packages/', import.meta.url));
    const git = (...args) => execFileSync('git', ['-C', packagesDir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--', '*/src') === '' ? commit : `${commit}+changes`;
  } catch {
    return 'unknown';
  }
}

const UNITS = {
  nodes: 'acquire+release',
  'resources per lock': 'acquire+release',
  'locks held': `acquire+release (${HELD_CONCURRENCY} at once; all held, then all released)`,
  'waiters on one resource': `acquisition (${HOLD_MS} ms hold, release)`,
};

function formatTable(rows) {
  const number = (value, digits = 0) => (value === undefined ? '-' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
  const lines = [
    '| axis | n | per | ops/s | client CPU µs/lock | Redis CPU µs/lock | Redis cmds/lock | allocated KB/lock | retained B/lock |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.axis} | ${number(row.value)} | ${UNITS[row.axis]} | ${number(row.opsPerSec)} | ${number(row.clientCpuUsPerOp)} | ${number(row.redisCpuUsPerOp)} | ` +
        `${number(row.redisCallsPerOp, 1)} | ${number(row.allocatedBytesPerOp / 1024, 1)} | ${number(row.retainedBytesPerLock)} |`,
    );
  }
  return lines.join('\n');
}

const startedAt = new Date();
const commit = describeCommit();
const [loadBefore = 0] = loadavg();
const log = (line) => void process.stderr.write(`${line}\n`);
if (loadBefore > 0.5) log(`Warning: load average ${loadBefore.toFixed(2)} before the run; other processes will skew the figures`);
const fleet = await startRedisNodes({ count: Math.max(...NODE_COUNTS) });
const rows = [];
let waiters;
try {
  for (const [name, axis] of [['nodes', nodesAxis], ['resources per lock', resourcesAxis], ['locks held', heldAxis]]) {
    const axisStart = performance.now();
    rows.push(...(await axis(fleet)));
    log(`${name}: done in ${((performance.now() - axisStart) / 1000).toFixed(0)} s`);
  }
  const axisStart = performance.now();
  waiters = await waitersAxis(fleet);
  rows.push(...waiters.rows);
  log(`waiters: done in ${((performance.now() - axisStart) / 1000).toFixed(0)} s`);
} finally {
  await fleet.stop();
}

const report = {
  date: startedAt.toISOString(),
  command: ['node --expose-gc bench/scripts/scaling.mjs', ...process.argv.slice(2)].join(' '),
  commit,
  wallSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    os: `${platform()} ${release()}`,
    node: process.version,
    loadBefore: Math.round(loadBefore * 100) / 100,
    loadAfter: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  },
  settings: { TTL_MS, HELD_TTL_MS, ROUNDS, SAMPLE_MS, HELD_CONCURRENCY, HELD_REPETITIONS, HOLD_MS, WAITER_SAMPLE_ACQUISITIONS, WAITER_ROUNDS },
  waiterGiveUps: waiters.giveUps,
  keysLeftAfterWaiters: waiters.keysLeft,
  rows,
};
console.log(formatTable(rows));
const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
const path = fileURLToPath(new URL(`../results/${stamp}-scaling${isQuick ? '-quick' : ''}.json`, import.meta.url));
await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
log(`\nload ${report.machine.loadBefore} before, ${report.machine.loadAfter} after; ${report.wallSeconds} s; JSON report: ${path}`);
