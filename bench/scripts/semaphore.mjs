// A counting semaphore under contention (issue 34, item 6): 8 workers, each with clients of its own as
// separate processes would have, share a semaphore of limit 3 on 5 local nodes; each takes a permit, holds
// it about 1 ms (a 1 ms timer), releases it and asks again, for a window. Every library runs at its
// documented defaults: redlock-core's `semaphore().acquire()`, redis-semaphore's `RedlockSemaphore` and
// `RedlockMultiSemaphore` (1 permit of 3); redlock-core also as its README configures a pool whose workers
// take a permit again at once (no release notifications, 50 timed retries); and the floor: our permit
// scripts driven by the least client code (every node at once, a quorum of nodes that gave the same slot
// wins, else free what was taken and retry in 10 ms, redis-semaphore's default). Each contender's workers
// are made once and warmed up (3 s each), then the contenders take turns in short windows (500 ms), the
// order rotating every round: a slow spell of this shared machine lasts seconds, so it falls on both sides
// of a round's ratio. Each figure is the median over the rounds, and each contender's CPU and acq/s are
// divided by the floor's and by redis-semaphore's of the same round (95% interval of the median ratio).
// Until 2026-12-01 every window made its workers and clients afresh, 2-3 s each, over 5-6 rounds.
// Run after `pnpm run build` (the interval comes from the bench's build).
// Usage: node bench/scripts/semaphore.mjs [--rounds=20] [--window-ms=500] [--warm-up-ms=3000] [--workers=8] [--limit=3]
//
// Figures, over the acquisitions that resolved within the window:
// - acq/s: acquisitions per second;
// - give-ups: rejected acquire() calls (the library ran out of retries or time);
// - idle permits: the time-average of permits free while at least one worker waits (0 is a perfect hand-off);
// - most at once: the most workers holding a permit at the same time, by this process's clock (above the
//   limit is an overcommit);
// - client CPU µs/acq: process.cpuUsage() over the window divided by the acquisitions (the nodes run in
//   processes of their own).
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startRedisNodes } from 'local-redis-nodes';
import { RedlockMultiSemaphore, RedlockSemaphore } from 'redis-semaphore';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { permitAcquireScript } from '../../packages/redlock-core/dist/scripts/permit-acquire.js';
import { permitReleaseScript } from '../../packages/redlock-core/dist/scripts/permit-release.js';

const flags = Object.fromEntries(process.argv.slice(2).filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')));
const ROUNDS = Number(flags.rounds ?? 20);
const WINDOW_MS = Number(flags['window-ms'] ?? 500);
const WORKERS = Number(flags.workers ?? 8);
const LIMIT = Number(flags.limit ?? 3);
const TTL_MS = 10_000;
const WARM_UP_MS = Number(flags['warm-up-ms'] ?? 3_000);
const FLOOR = 'floor: our scripts, least client code';
const PEER = 'redis-semaphore RedlockSemaphore';
/** Each contender's workers, made once and kept for every window. */
const pools = new Map();

/**
 * redlock-core's semaphore at `key` for one worker on its own clients, its adapters given `adapterOptions`
 * and its `Redlock` the `options`.
 */
const coreSemaphore = (key, adapterOptions, options) => (clients) => {
  const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client, adapterOptions)), options);
  const semaphore = redlock.semaphore(key, { limit: LIMIT });
  return {
    acquire: async () => {
      const permit = await semaphore.acquire(TTL_MS);
      return () => permit.release();
    },
    close: () => redlock.close(),
  };
};

let floorTokens = 0;

/** The floor: one worker's permit scripts on its own clients, with the least client code around them. */
const floorSemaphore = (clients) => {
  const key = 'bench:semaphore-floor';
  const release = (token) => Promise.all(clients.map((client) => client.evalsha(permitReleaseScript.sha1, 1, key, token, '', '')));
  return {
    acquire: async () => {
      for (;;) {
        const token = `floor-${(floorTokens += 1)}`;
        const firstSlot = String(1 + Math.floor(Math.random() * LIMIT));
        const args = [token, String(TTL_MS), '1', String(LIMIT), '0', firstSlot, '', '0', ''];
        const replies = await Promise.all(clients.map((client) => client.evalsha(permitAcquireScript.sha1, 1, key, ...args)));
        const slots = replies.filter((reply) => reply[0] === 1).map((reply) => reply[2]);
        if (slots.some((slot) => slots.filter((each) => each === slot).length > clients.length / 2)) return () => release(token);
        if (slots.length > 0) await release(token);
        await delay(10);
      }
    },
    close: async () => undefined,
  };
};

/** Each contender makes, for one worker on its own clients, a function that takes a permit and returns its release. */
const CONTENDERS = {
  'floor: our scripts, least client code': floorSemaphore,
  'redlock-core': coreSemaphore('bench:semaphore', {}, {}),
  // The core README's configuration for a pool whose workers take a permit again at once: no wake-ups,
  // and timed retries for about 10 s, as long as redis-semaphore waits by default.
  'redlock-core, notifications: false, retryCount: 50': coreSemaphore('bench:semaphore-polling', { notifications: false }, { retryCount: 50 }),
  'redis-semaphore RedlockSemaphore': (clients) => ({
    acquire: async () => {
      const semaphore = new RedlockSemaphore(clients, 'bench:rs-semaphore', LIMIT, { lockTimeout: TTL_MS });
      await semaphore.acquire();
      return () => semaphore.release();
    },
    close: async () => undefined,
  }),
  'redis-semaphore RedlockMultiSemaphore': (clients) => ({
    acquire: async () => {
      const semaphore = new RedlockMultiSemaphore(clients, 'bench:rs-multi', LIMIT, 1, { lockTimeout: TTL_MS });
      await semaphore.acquire();
      return () => semaphore.release();
    },
    close: async () => undefined,
  }),
};

const nodes = await startRedisNodes({ count: 5, persistence: false });
try {
  for (const url of nodes.urls) {
    const client = new Redis(url);
    await Promise.all([permitAcquireScript, permitReleaseScript].map((script) => client.script('LOAD', script.source)));
    client.disconnect();
  }
  const names = Object.keys(CONTENDERS);
  for (const name of names) pools.set(name, await startWorkers(CONTENDERS[name]));
  // Every contender warmed up before the first measured window: V8 compiles each one's code, and each
  // learns its nodes, as a long-running pool has.
  for (const name of names) await runWindow(pools.get(name), WARM_UP_MS);
  const samples = new Map(names.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = names.map((_, index) => names[(index + round) % names.length]);
    for (const name of order) {
      const figures = await runWindow(pools.get(name), WINDOW_MS);
      samples.get(name).push(figures);
      console.error(`round ${round + 1}/${ROUNDS} ${name}: ${JSON.stringify(figures)}`);
    }
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(`${WORKERS} workers, a semaphore of ${LIMIT} on 5 nodes, ~1 ms holds, ${WINDOW_MS} ms windows taking turns, ${ROUNDS} rounds after ${WARM_UP_MS} ms of each (medians; give-ups summed)`);
  console.log('| library | acq/s | give-ups | idle permits while waited for | most at once | client CPU µs/acq |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const name of names) {
    const rows = samples.get(name);
    const cell = (key, digits = 0) => median(rows.map((row) => row[key])).toFixed(digits);
    const giveUps = rows.reduce((sum, row) => sum + row.giveUps, 0);
    const most = Math.max(...rows.map((row) => row.mostAtOnce));
    console.log(`| ${name} | ${cell('acqPerS')} | ${giveUps} | ${cell('idlePermits', 2)} | ${most} | ${cell('cpuUsPerAcq')} |`);
  }
  const { pairedRatio, formatPairedRatio } = await import('../dist/measure/paired-ratio.js');
  for (const baseline of [FLOOR, PEER]) {
    console.log(`\n÷ ${baseline} in the same round (median of the rounds' ratios, 95% interval):`);
    for (const name of names) {
      if (name === baseline) continue;
      const ratio = (key) => formatPairedRatio(pairedRatio(samples.get(name), samples.get(baseline), key));
      console.log(`- ${name}: client CPU ${ratio('cpuUsPerAcq')}; acq/s ${ratio('acqPerS')}`);
    }
  }
} finally {
  for (const workers of pools.values()) await closeWorkers(workers);
  await nodes.stop();
}

/** One contender's workers, each on clients of its own, connected: they run in {@link runWindow}s. */
async function startWorkers(makeContender) {
  const workers = Array.from({ length: WORKERS }, () => {
    const clients = nodes.urls.map((url) => new Redis(url, { maxRetriesPerRequest: 0 }));
    return { clients, contender: makeContender(clients) };
  });
  await Promise.all(workers.flatMap(({ clients }) => clients.map((client) => client.ping())));
  return workers;
}

async function closeWorkers(workers) {
  await Promise.all(workers.map(({ contender }) => contender.close()));
  await Promise.all(workers.flatMap(({ clients }) => clients.map((client) => client.quit())));
}

/** One window of one contender's workers, each taking, holding and releasing permits in a loop: the figures of the header. */
async function runWindow(workers, windowMs) {
  let holding = 0;
  let waiting = 0;
  let mostAtOnce = 0;
  let acquisitions = 0;
  let giveUps = 0;
  let idleIntegral = 0;
  let lastChange = performance.now();
  /** Accumulates the free permits over the time since the last change, while someone waited. */
  const change = (holdingDelta, waitingDelta) => {
    const now = performance.now();
    if (waiting > 0) idleIntegral += Math.max(0, LIMIT - holding) * (now - lastChange);
    lastChange = now;
    holding += holdingDelta;
    waiting += waitingDelta;
    mostAtOnce = Math.max(mostAtOnce, holding);
  };
  const startedAt = performance.now();
  const endsAt = startedAt + windowMs;
  const cpuStart = process.cpuUsage();
  await Promise.all(
    workers.map(async ({ contender }) => {
      while (performance.now() < endsAt) {
        change(0, 1);
        let release;
        try {
          release = await contender.acquire();
        } catch {
          change(0, -1);
          giveUps += 1;
          continue;
        }
        change(1, -1);
        if (performance.now() < endsAt) acquisitions += 1;
        await delay(1);
        change(-1, 0);
        await release().catch(() => undefined);
      }
    }),
  );
  const cpu = process.cpuUsage(cpuStart);
  const elapsedMs = Math.max(windowMs, performance.now() - startedAt);
  // A pause between contenders, as between two of the earlier design's windows.
  await delay(50);
  return {
    acqPerS: (acquisitions * 1000) / windowMs,
    giveUps,
    idlePermits: idleIntegral / elapsedMs,
    mostAtOnce,
    cpuUsPerAcq: (cpu.user + cpu.system) / Math.max(1, acquisitions),
  };
}
