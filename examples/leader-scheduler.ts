// Shows a scheduler that runs its jobs on the leader only: three instances campaign, one leads and ticks,
// an observer prints each change, and when the leader stops (here, after a few ticks) the next takes over at once.
// Run: `pnpm --filter redlock-examples run leader-scheduler` (REDIS_URLS=... to use your own nodes).
import { setTimeout as delay } from 'node:timers/promises';
import type { Redlock } from 'redlock-core';
import { openExampleNodes } from './redis-nodes.js';

const INSTANCES = 3;
const TICKS_PER_LEADER = 3;

const nodes = await openExampleNodes();
/** Each instance has a Redlock of its own, as another process would. */
const instanceRedlock = (): Redlock => nodes.newRedlock();
try {
  const controller = new AbortController();
  const terms: number[] = [];
  const observing = (async () => {
    for await (const leader of instanceRedlock().election('scheduler').observe({ signal: controller.signal })) {
      console.log(leader === undefined ? 'observer: nobody leads' : `observer: ${leader.value} leads in term ${leader.term}`);
    }
  })().catch((error: unknown) => {
    if (!controller.signal.aborted) throw error;
  });

  // Each instance leads for a few ticks, then resigns (a deploy, a shutdown), which wakes the next one.
  const instance = async (name: string): Promise<void> => {
    const election = instanceRedlock().election('scheduler', { ttlMs: 5_000 });
    await election.lead(name, async (signal, leadership) => {
      terms.push(leadership.term);
      for (let tick = 1; tick <= TICKS_PER_LEADER && !signal.aborted; tick += 1) {
        leadership.assertLeading(); // right before the work only the leader may do
        console.log(`${name}: tick ${tick} (term ${leadership.term})`);
        await delay(100, undefined, { signal });
      }
    });
  };
  await Promise.all(Array.from({ length: INSTANCES }, (_, index) => instance(`scheduler-${index + 1}`)));
  await delay(50);
  controller.abort();
  await observing;
  console.log(`terms in the order leaders took over: ${terms.join(', ')}`);
  if (terms.some((term, index) => index > 0 && term <= (terms[index - 1] as number))) throw new Error('a term did not grow');
} finally {
  await nodes.close();
}
