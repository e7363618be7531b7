// Behind a silent node (paused with SIGSTOP: TCP up, never answers): heap growth and the commands pending on
// its client over acquire+release cycles, on 3 local redis-server nodes with ioredis `maxRetriesPerRequest: 1`.
// `node --expose-gc bench/scripts/silent-node.mjs [cycles=3000] [ioredis=6] [unpaused]` after `pnpm run build`.
import { startRedisNodes } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { connectClients } from '../dist/bench-nodes.js';
import { heapUsedAfterGc } from '../dist/measure/heap.js';

const cycles = +(process.argv[2] ?? 3_000);
const major = +(process.argv[3] ?? 6);
const isPaused = process.argv[4] !== 'unpaused';
const SILENT = 2;
const pending = (client) => client.commandQueue.length + client.offlineQueue.length;

const nodes = await startRedisNodes({ count: 3 });
const clients = await connectClients(nodes.urls, { maxRetriesPerRequest: 1 }, [], major);
try {
  const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)), { keyPrefix: 'silent:' });
  const cycle = async () => (await redlock.acquire('cycled', 10_000)).release();
  for (let done = 0; done < cycles; done += 1) await cycle();
  const heapBefore = heapUsedAfterGc();
  if (isPaused) nodes.nodes[SILENT].pause();
  const started = performance.now();
  /** The silent client's pending commands after each tenth of the cycles, and when its first call timed out. */
  const pendingAt = [];
  for (let done = 1; done <= cycles; done += 1) {
    await cycle();
    if (done % (cycles / 10) === 0) pendingAt.push(pending(clients[SILENT]));
  }
  const elapsedMs = performance.now() - started;
  const heapAfter = heapUsedAfterGc();
  const stats = redlock.stats();
  console.log(
    `ioredis ${major}, ${cycles} cycles with node ${SILENT} ${isPaused ? "paused" : "answering"} in ${(elapsedMs / 1000).toFixed(1)} s: heap ` +
      `${((heapAfter - heapBefore) / 1e6).toFixed(2)} MB (${((heapAfter - heapBefore) / cycles).toFixed(0)} B/cycle); ` +
      `pending on the silent client by tenths ${pendingAt.join(' ')}; ` +
      `node stats ${JSON.stringify(stats.nodes?.[SILENT] ?? stats)}; health ${JSON.stringify(redlock.nodeHealth()[SILENT])}`,
  );
  await redlock.close();
} finally {
  nodes.nodes[SILENT].resume();
  for (const client of clients) client.disconnect();
  await nodes.stop();
}
