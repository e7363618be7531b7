// Shows using(): the lock is extended automatically while a routine longer than the TTL runs, then released.
// Run: `pnpm --filter redlock-examples run auto-extend-with-using` (REDIS_URLS=... to use your own nodes).
import { Redlock } from 'redlock-core';
import { openExampleNodes } from './redis-nodes.js';

const nodes = await openExampleNodes();
try {
  const redlock = new Redlock(nodes.adapters, { keyPrefix: 'lock:' });
  const ttlMs = 1_000;

  const rows = await redlock.using('jobs:import', ttlMs, async (signal, lock) => {
    let imported = 0;
    for (let batch = 0; batch < 6; batch += 1) {
      signal.throwIfAborted(); // stop between batches if the lock can no longer be guaranteed
      await new Promise((resolve) => setTimeout(resolve, 400));
      imported += 100;
      console.log(`batch ${batch + 1}: ${imported} rows, lock valid for ${Math.round(lock.remainingValidityMs)} ms more`);
    }
    return imported;
  });
  console.log(`imported ${rows} rows in about 2.4 s under a lock with a ${ttlMs} ms TTL`);
} finally {
  await nodes.close();
}
