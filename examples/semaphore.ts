// Shows a counting semaphore: six workers, each with its own Redlock as separate processes would have,
// share an API that allows three calls at once; no more than three run together, and each waits its turn.
// Run: `pnpm --filter redlock-examples run semaphore` (REDIS_URLS=... to use your own nodes).
import { setTimeout as delay } from 'node:timers/promises';
import { PermitError, type Redlock } from 'redlock-core';
import { openExampleNodes } from './redis-nodes.js';

const LIMIT = 3;
const WORKERS = 6;
const CALLS_PER_WORKER = 3;

const nodes = await openExampleNodes();
const redlocks: Redlock[] = [];
try {
  let running = 0;
  let mostAtOnce = 0;
  const worker = async (id: number): Promise<void> => {
    // Another process would have a Redlock of its own, on connections of its own.
    const redlock = nodes.newRedlock();
    redlocks.push(redlock);
    const partnerApi = redlock.semaphore('partner-api', { limit: LIMIT });
    for (let call = 1; call <= CALLS_PER_WORKER; call += 1) {
      // Waits while three permits are held; a release wakes a waiter at once.
      const permit = await partnerApi.acquire(10_000, { waitMs: 30_000 });
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      console.log(`worker ${id}: call ${call} (${running} running, permit valid for ${Math.round(permit.remainingValidityMs)} ms)`);
      await delay(50 + Math.random() * 50); // the API call
      running -= 1;
      await permit.release();
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, id) => worker(id + 1)));
  console.log(`${WORKERS * CALLS_PER_WORKER} calls made, at most ${mostAtOnce} at once (limit ${LIMIT})`);
  if (mostAtOnce > LIMIT) throw new Error(`the limit was overrun: ${mostAtOnce} at once`);

  // Every client of a resource must agree on its limit: another limit is refused while permits are held.
  const held = await redlocks[0]!.semaphore('partner-api', { limit: LIMIT }).acquire(10_000);
  const mistaken = await redlocks[1]!.semaphore('partner-api', { limit: 5 }).acquire(10_000).catch((error: unknown) => error);
  if (!(mistaken instanceof PermitError) || mistaken.reason !== 'limit-mismatch') throw new Error(`expected a limit mismatch, got ${String(mistaken)}`);
  console.log(`a semaphore of limit 5 on the same resource: ${mistaken.message}`);
  await held.release();
} finally {
  await nodes.close();
}
