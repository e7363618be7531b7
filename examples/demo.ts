// Shows workers contending for one resource over 5 Redis nodes, the quorum holding after a node dies, and
// a clean failure once a majority is gone. Run: `npm run demo` (starts and stops its own redis-server nodes).
import { LockAcquireError, Redlock } from 'redlock-core';
import { openExampleNodes } from './redis-nodes.js';

const RESOURCE = 'reports:nightly';
const KEY_PREFIX = 'lock:';
const TTL_MS = 2_000;
const WORKERS = 4;

const nodes = await openExampleNodes(5);
const redlock = new Redlock(nodes.adapters, { keyPrefix: KEY_PREFIX, retryDelayMs: 40, retryJitterMs: 20, retryCount: 50 });
let holders = 0;
let overlaps = 0;
let criticalSections = 0;
let onFirstHold: () => void = () => undefined;
const firstHold = new Promise<void>((resolve) => {
  onFirstHold = resolve;
});

try {
  console.log(`\nRedlock demo: ${nodes.urls.length} independent Redis nodes (${nodes.urls.join(' ')}), quorum ${redlock.quorum}`);

  console.log(`\n1. ${WORKERS} workers take turns on "${RESOURCE}"; an impatient one tries without waiting`);
  await Promise.all([...workers(2), impatientTry()]);

  if (nodes.local) {
    console.log('\n2. Node 2 is killed (SIGKILL): 4 of 5 nodes remain, still a quorum');
    await nodes.local.nodes[2]?.kill();
    await Promise.all(workers(2));

    console.log('\n3. Nodes 3 and 4 are killed too: 2 of 5 remain, below the quorum of 3');
    await Promise.all([nodes.local.nodes[3]?.kill(), nodes.local.nodes[4]?.kill()]);
    try {
      await redlock.acquire(RESOURCE, TTL_MS, { retryCount: 1 });
      console.log('   acquired without a quorum: this must never happen');
      process.exitCode = 1;
    } catch (error) {
      if (!(error instanceof LockAcquireError)) throw error;
      console.log(`   refused as it must be: ${error.message}`);
      const leftovers = await keysOnLiveNodes();
      console.log(`   lock keys left on the surviving nodes after the failed attempts: ${leftovers}`);
    }
  } else {
    console.log('\n(The nodes come from REDIS_URLS, so the demo does not kill any of them.)');
  }

  console.log(`\n${criticalSections} critical sections ran, ${overlaps} overlapped.`);
  if (overlaps > 0) process.exitCode = 1;
} finally {
  await redlock.close();
  await nodes.close();
}

function workers(rounds: number): Promise<void>[] {
  return Array.from({ length: WORKERS }, async (_, worker) => {
    for (let round = 0; round < rounds; round += 1) {
      const waitStart = performance.now();
      const lock = await redlock.acquire(RESOURCE, TTL_MS);
      const waitedMs = performance.now() - waitStart;
      holders += 1;
      if (holders > 1) overlaps += 1;
      criticalSections += 1;
      onFirstHold();
      console.log(
        `   worker ${worker} holds it  waited ${waitedMs.toFixed(0).padStart(3)} ms  attempts ${String(lock.attempts).padStart(2)}  ` +
          `validity ${Math.round(lock.remainingValidityMs)} ms  nodes ${await nodeMap(lock.token)}`,
      );
      await delay(60); // the work the lock protects
      holders -= 1;
      await lock.release();
      await delay(10);
    }
  });
}

async function impatientTry(): Promise<void> {
  await firstHold; // try while a worker holds the lock
  try {
    const lock = await redlock.acquire(RESOURCE, TTL_MS, { retryCount: 0 });
    console.log('   impatient worker: got it at once');
    await lock.release();
  } catch (error) {
    if (!(error instanceof LockAcquireError)) throw error;
    console.log(`   impatient worker: ${error.message}`);
  }
}

/** One mark per node: ■ holds our token, · does not, ✕ is unreachable. */
async function nodeMap(token: string): Promise<string> {
  const marks = await Promise.all(
    nodes.clients.map((client) =>
      client.get(KEY_PREFIX + RESOURCE).then(
        (value) => (value === token ? '■' : '·'),
        () => '✕',
      ),
    ),
  );
  return marks.join(' ');
}

async function keysOnLiveNodes(): Promise<number> {
  const counts = await Promise.all(
    nodes.clients.map((client) => client.keys(`${KEY_PREFIX}*`).then((keys) => keys.length, () => 0)),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
