// Shows what a routine sees when its lock is lost: the signal aborts with a LockLostError, so it can stop
// before doing unsafe work. Run: `pnpm --filter redlock-examples run react-to-lost-lock` (needs no Docker).
import { LockLostError, Redlock } from 'redlock-core';
import { openExampleNodes } from './redis-nodes.js';

const nodes = await openExampleNodes();
try {
  const redlock = new Redlock(nodes.adapters, { keyPrefix: 'lock:' });

  await redlock
    .using('payments:settle', 1_000, async (signal) => {
      // Simulate an operator (or a node restart without persistence) removing the lock keys.
      await Promise.all(nodes.clients.map((client) => client.del('lock:payments:settle').catch(() => 0)));
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 5_000);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason);
        }, { once: true });
      });
      console.log('settled payments: this line must not print');
    })
    .catch((error: unknown) => {
      if (!(error instanceof LockLostError)) throw error;
      console.log(`the routine stopped: ${error.message}`);
    });
} finally {
  await nodes.close();
}
