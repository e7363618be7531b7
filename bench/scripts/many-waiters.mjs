// Many waiters of one Redlock on one resource (not part of `pnpm bench`; run after a build):
// `node bench/scripts/many-waiters.mjs [waiters=300] [holdMs=2] [rounds=3]`.
// Measures: give-ups, overlaps (a shared counter, incremented on entry and decremented on exit), time per
// critical section (total time / waiters), and scripts the nodes ran per hand-off, on 5 local nodes with
// default options and prompt hand-off on (a subscriber per node).
import { Redlock, LockAcquireError } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { startRedisNodes } from 'local-redis-nodes';
import { connectClients } from '../dist/bench-nodes.js';

const waiters = Number(process.argv[2] ?? 300);
const holdMs = Number(process.argv[3] ?? 2);
const rounds = Number(process.argv[4] ?? 3);

const nodes = await startRedisNodes({ count: 5 });
const clients = await connectClients(nodes.urls);
const subscribers = await connectClients(nodes.urls, { maxRetriesPerRequest: null });
const monitors = await connectClients(nodes.urls);
const redlock = new Redlock(clients.map((client, index) => new IoredisAdapter(client, { subscriber: subscribers[index] })));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** EVALSHA + EVAL calls on every node together, from INFO commandstats. */
async function scriptCalls() {
  const infos = await Promise.all(monitors.map((monitor) => monitor.info('commandstats')));
  return infos.reduce((total, info) => total + [...info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0), 0);
}

async function round(index) {
  const resource = `many-waiters:${index}`;
  let inside = 0;
  let overlaps = 0;
  let giveUps = 0;
  let otherErrors = 0;
  const callsBefore = await scriptCalls();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: waiters }, async () => {
      let lock;
      try {
        lock = await redlock.acquire(resource, 10_000);
      } catch (error) {
        if (error instanceof LockAcquireError) giveUps += 1;
        else otherErrors += 1;
        return;
      }
      inside += 1;
      if (inside > 1) overlaps += 1;
      await sleep(holdMs);
      inside -= 1;
      await lock.release();
    }),
  );
  const totalMs = performance.now() - start;
  const scripts = (await scriptCalls()) - callsBefore;
  const acquired = waiters - giveUps - otherErrors;
  return { totalMs, giveUps, overlaps, otherErrors, msPerSection: totalMs / waiters, scriptsPerSection: scripts / Math.max(1, acquired) };
}

try {
  await round('warm-up');
  for (let index = 0; index < rounds; index += 1) {
    const result = await round(index);
    console.log(
      `${waiters} waiters, hold ${holdMs} ms: ${result.totalMs.toFixed(0)} ms in total, ` +
        `${result.msPerSection.toFixed(2)} ms per critical section, ${result.scriptsPerSection.toFixed(1)} scripts per section ` +
        `(every node together), ${result.giveUps} gave up, ${result.overlaps} overlaps, ${result.otherErrors} other errors`,
    );
  }
} finally {
  for (const client of [...clients, ...subscribers, ...monitors]) client.disconnect();
  await nodes.stop();
}
