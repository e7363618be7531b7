// Shows a fair lock: four workers, each with its own Redlock as separate processes would have, ask for one
// lock while another holds it, one after the other; with `fair: true` they get it in the order they asked,
// whatever their speed, and a newcomer's single try finds it promised to them. Then the same workers in a
// loop, taking it again at once, by default and in turn.
// Run: `pnpm --filter redlock-examples run fair-lock` (REDIS_URLS=... to use your own nodes).
import { setTimeout as delay } from 'node:timers/promises';
import { openExampleNodes } from './redis-nodes.js';

const WORKERS = 4;

const nodes = await openExampleNodes();
try {
  const holder = nodes.newRedlock();
  // Another process would have a Redlock of its own, on connections of its own.
  const workers = Array.from({ length: WORKERS }, () => nodes.newRedlock());
  const held = await holder.acquire('printer', 10_000);
  const order: number[] = [];
  const waiting = workers.map(async (redlock, id) => {
    // Each asks 50 ms after the one before: in turn means in this order.
    await delay(50 * id);
    const lock = await redlock.acquire('printer', 10_000, { fair: true, waitMs: 10_000 });
    order.push(id + 1);
    await delay(20); // the work
    await lock.release();
  });
  await delay(50 * WORKERS + 50);
  const newcomer = await nodes.newRedlock().tryAcquire('printer', 10_000, { fair: true });
  console.log(`while ${WORKERS} wait, a fair single try gets ${newcomer === undefined ? 'nothing' : 'the lock'}`);
  if (newcomer !== undefined) throw new Error('a fair single try took the lock ahead of the waiters');
  await held.release();
  await Promise.all(waiting);
  console.log(`the workers got it in the order they asked: ${order.join(', ')}`);
  if (order.join() !== '1,2,3,4') throw new Error(`out of order: ${order.join(', ')}`);

  // Workers that take the lock again the moment they release it, for 500 ms: by default whoever releases
  // keeps it most of the time; in turn, each gets its share.
  for (const fair of [false, true]) {
    const holds = new Array<number>(WORKERS).fill(0);
    const until = performance.now() + 500;
    await Promise.all(
      workers.map(async (redlock, id) => {
        while (performance.now() < until) {
          const lock = await redlock.acquire('printer', 10_000, { fair, waitMs: 10_000 });
          holds[id] = (holds[id] ?? 0) + 1;
          await delay(2);
          await lock.release();
        }
      }),
    );
    console.log(`${fair ? 'fair:   ' : 'default:'} holds per worker in 500 ms: ${holds.join(', ')}`);
  }
} finally {
  await nodes.close();
}
