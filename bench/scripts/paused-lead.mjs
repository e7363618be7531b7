// Hand-off with a node paused (SIGSTOP: connected, never answers), at default options, for a lock, a
// one-permit semaphore and a write lock: client A holds, client B waits, A releases; the hand-off is from
// A's release() call to B's hold. 5 local nodes; node 0 is paused for the whole run, after both clients met
// it. Waiters listen on every node, so no node is special: node 0 stands for any (it was the lead node,
// where waiters listened and asked first, before issue 57). Each client has its own connections and subscriber, as a process would.
// Run after `pnpm run build`. Usage: node bench/scripts/paused-lead.mjs [rounds=10] [pause=1]
//   pause=0 runs the same with every node answering, the baseline.
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startRedisNodes } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { IoredisAdapter, quitClient } from 'redlock-ioredis-adapter';

const rounds = Number(process.argv[2] ?? 10);
const isPaused = process.argv[3] !== '0';
const PAUSED = 0;
const TTL_MS = 10_000;
const keyPrefix = `paused-lead:${process.pid}:`;
const resource = 'jobs';

const nodes = await startRedisNodes({ count: 5 });
const clients = [];
function redlockOver() {
  const adapters = nodes.urls.map((url) => {
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    const subscriber = client.duplicate({ maxRetriesPerRequest: null });
    for (const each of [client, subscriber]) each.on('error', () => undefined);
    clients.push(client, subscriber);
    return new IoredisAdapter(client, { subscriber });
  });
  return new Redlock(adapters, { keyPrefix });
}

const KINDS = {
  lock: (redlock) => redlock.acquire(resource, TTL_MS),
  semaphore: (redlock) => redlock.semaphore(resource, { limit: 1 }).acquire(TTL_MS),
  'write lock': (redlock) => redlock.readWriteLock(resource).acquireWrite(TTL_MS),
};

const a = redlockOver();
const b = redlockOver();
try {
  // Both clients meet every node (first contact, scripts) before node 0 stops answering.
  for (const take of Object.values(KINDS)) {
    await (await take(a)).release();
    await (await take(b)).release();
  }
  if (isPaused) nodes.nodes[PAUSED].pause();
  for (const [kind, take] of Object.entries(KINDS)) {
    const handOffsMs = [];
    for (let round = 0; round < rounds; round += 1) {
      const held = await take(a);
      const waiting = take(b);
      // B's first attempt, its subscriptions and its look, all finding the resource taken; then a while.
      await delay(300 + 50 * Math.random());
      const releasedAt = performance.now();
      await held.release();
      const hold = await waiting;
      handOffsMs.push(performance.now() - releasedAt);
      await hold.release();
      await delay(20);
    }
    const sorted = handOffsMs.map((ms) => Math.round(ms)).sort((x, y) => x - y);
    console.log(`${kind}: hand-offs ${sorted.join(' ')} ms; median ${sorted[sorted.length >> 1]} ms, max ${sorted.at(-1)} ms (node ${PAUSED} ${isPaused ? 'paused' : 'answering'}; B sees it ${b.nodeHealth()[PAUSED]?.state})`);
  }
} finally {
  if (isPaused) nodes.nodes[PAUSED].resume();
  await Promise.allSettled([a.close(), b.close()]);
  await Promise.allSettled(clients.map((client) => quitClient(client)));
  await nodes.stop();
}
