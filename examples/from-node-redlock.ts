// node-redlock code, unchanged but for its import, on redlock-core: `using`, `acquire`/`release`, a wait
// with `retryCount: -1`, and the "error" event. Run: `pnpm --filter redlock-examples run from-node-redlock`
// (REDIS_URLS=... to use your own nodes).
import Redlock, { ResourceLockedError } from 'redlock-node-redlock-compat'; // was: from 'redlock'
import { openExampleNodes } from './redis-nodes.js';

const nodes = await openExampleNodes();
try {
  const redlock = new Redlock(nodes.clients, { retryCount: 3, retryDelay: 100, retryJitter: 50 });
  redlock.on('error', (error) => {
    // A resource another owner holds is the usual reason to vote against: not worth a log line.
    if (error instanceof ResourceLockedError) return;
    console.error(`a node failed: ${error.message}`);
  });

  // using(): the lock is extended while the routine runs, and released when it settles.
  const total = await redlock.using(['accounts:1', 'accounts:2'], 2_000, async (signal) => {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (signal.aborted) throw signal.error;
    return 42;
  });
  console.log(`using() returned ${total}`);

  // acquire() and release(), with an extension between.
  let lock = await redlock.acquire(['reports:daily'], 5_000);
  try {
    lock = await lock.extend(5_000);
    console.log(`extended until ${new Date(lock.expiration).toISOString()}`);
  } finally {
    await lock.release();
  }

  // retryCount: -1 waits until the holder releases.
  const held = await redlock.acquire(['queue:head'], 5_000);
  const waiting = redlock.acquire(['queue:head'], 5_000, { retryCount: -1 });
  setTimeout(() => void held.release(), 300);
  const next = await waiting;
  const votes = await next.attempts[0];
  console.log(`the waiter got the lock once it was released: ${votes?.votesFor.size} of ${votes?.membershipSize} nodes voted for it`);
  await next.release();
} finally {
  await nodes.close();
}
