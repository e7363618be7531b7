// Shows fencing tokens: a holder that was paused past its lock's validity writes with an old token, and the
// storage rejects it. Run: `pnpm --filter redlock-examples run fencing-tokens` (REDIS_URLS=... for your nodes).
import { Redlock } from 'redlock-core';
import { openExampleNodes } from './redis-nodes.js';

/** The storage the lock protects. It remembers the highest fencing token it saw and refuses older ones. */
class FencedStore {
  #highestToken = 0;
  readonly rows: string[] = [];

  write(row: string, fencingToken: number): void {
    if (fencingToken < this.#highestToken) {
      throw new Error(`rejected "${row}": fencing token ${fencingToken} is older than ${this.#highestToken}`);
    }
    this.#highestToken = fencingToken;
    this.rows.push(row);
  }
}

const nodes = await openExampleNodes();
try {
  const redlock = new Redlock(nodes.adapters, { keyPrefix: 'lock:' });
  const store = new FencedStore();

  const slow = await redlock.acquire('ledger', 500, { fencing: true });
  console.log(`worker A holds the lock with fencing token ${slow.fencingToken}, then pauses (a long GC, say)`);
  await new Promise((resolve) => setTimeout(resolve, 700)); // longer than the TTL: the lock expires

  const fast = await redlock.acquire('ledger', 500, { fencing: true });
  console.log(`worker B acquires the expired lock with fencing token ${fast.fencingToken} and writes`);
  store.write('B: balance = 90', fast.fencingToken as number);
  await fast.release();

  console.log(`worker A wakes up and writes without looking at its lock (whose state is now "${slow.state}")`);
  try {
    store.write('A: balance = 100', slow.fencingToken as number);
  } catch (error) {
    console.log(`the storage ${(error as Error).message}`);
  }
  console.log(`rows: ${JSON.stringify(store.rows)}`);
} finally {
  await nodes.close();
}
