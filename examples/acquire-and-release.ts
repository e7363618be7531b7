// Shows the basic cycle: acquire a lock on two resources, read its validity, extend it, release it.
// Run: `pnpm --filter redlock-examples run acquire-and-release` (REDIS_URLS=... to use your own nodes).
import { Redlock } from 'redlock-core';
import { openExampleNodes } from './redis-nodes.js';

const nodes = await openExampleNodes();
try {
  const redlock = new Redlock(nodes.adapters, { keyPrefix: 'lock:' });

  // Both accounts are locked together, all or nothing, on a quorum of nodes.
  const lock = await redlock.acquire(['accounts:1', 'accounts:2'], 5_000);
  console.log(`acquired ${lock.resources.join(' + ')} on attempt ${lock.attempts}`);
  console.log(`valid for ${Math.round(lock.remainingValidityMs)} ms, until ${new Date(lock.expiresAt).toISOString()}`);

  await lock.extend(10_000);
  console.log(`extended: valid for ${Math.round(lock.remainingValidityMs)} ms`);

  // release() resolves once a quorum confirmed; the other nodes finish in the background.
  const result = await lock.release();
  console.log(`released: confirmed by a quorum (${result.releasedCount} nodes deleted our keys so far), state: ${lock.state}`);
  // Before closing the clients, let every node answer, so none keeps our keys until their TTL.
  const everyNode = await result.settled;
  console.log(`every node answered: ${everyNode.filter((node) => node.status === 'released').length} of ${everyNode.length} deleted our keys`);
} finally {
  await nodes.close();
}
