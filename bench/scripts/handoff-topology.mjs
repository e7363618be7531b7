// Hand-off between two warm clients over a multi-datacenter topology, at default options: client A holds a
// lock, client B waits for it (a 4 s retry delay, so only the release's announcement wakes it in time), and
// A releases. Prints each hand-off (from A's release() call to B's lock), the node that woke B (which its woken
// attempt asks first), and how many times B's attempts found a node that answers 'timeout': with the
// lock held, every node answers, however far. Both clients sit in the datacenter of the 0 ms nodes and are
// warmed up first, so their node timeouts follow the measured round trips, not the first contact's.
// The physical limit of a hand-off is about the quorum-th smallest round trip.
// Run after `pnpm run build`. Usage: node bench/scripts/handoff-topology.mjs [rtts as JSON] [ttlMs] [locks]
//   e.g. node bench/scripts/handoff-topology.mjs '[0,0,25,25,80]' 5000 12
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startRedisTopology } from 'local-redis-nodes';
import { DIAGNOSTICS_CHANNELS, Redlock } from 'redlock-core';
import { IoredisAdapter, quitClient } from 'redlock-ioredis-adapter';

const rttsMs = JSON.parse(process.argv[2] ?? '[0,0,25,25,80]');
const ttlMs = Number(process.argv[3] ?? 5_000);
const lockCount = Number(process.argv[4] ?? 12);
const keyPrefix = `handoff-topology:${process.pid}:`;

const topology = await startRedisTopology({ rttsMs });
const clients = [];
/** A Redlock over the topology's proxied nodes, as an application in the client's datacenter makes one. */
function redlockOver() {
  const adapters = topology.urls.map((url) => {
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    const subscriber = client.duplicate({ maxRetriesPerRequest: null });
    clients.push(client, subscriber);
    return new IoredisAdapter(client, { subscriber });
  });
  return new Redlock(adapters, { keyPrefix });
}

/** B's ended attempts on `resource`, from the core's attempt trace. */
function recordAttempts(resource) {
  const attempts = [];
  const channel = `tracing:${DIAGNOSTICS_CHANNELS.attempt}:asyncEnd`;
  const onEnd = (context) => {
    if (context.resources.includes(resource) && context.result !== undefined) attempts.push(context);
  };
  subscribe(channel, onEnd);
  return { attempts, stop: () => unsubscribe(channel, onEnd) };
}

const a = redlockOver();
const b = redlockOver();
const handOffsMs = [];
let answeringTimeouts = 0;
try {
  for (let cycle = 0; cycle < 20; cycle += 1) {
    await (await a.acquire('warm-up', ttlMs)).release();
    await (await b.acquire('warm-up', ttlMs)).release();
  }
  console.log(`B's node timeouts for a ${ttlMs} ms TTL: ${b.nodeHealth().map((node) => `${node.nodeIndex}: rtt ${node.rttMs?.toFixed(1)} ms`).join(', ')}`);
  for (let index = 0; index < lockCount; index += 1) {
    const resource = `r${index}`;
    const held = await a.acquire(resource, ttlMs);
    const recording = recordAttempts(resource);
    const waiting = b.acquire(resource, ttlMs, { retryDelayMs: 4_000, retryJitterMs: 0 });
    // Its first attempt and the look once it listens, both finding the lock held.
    while (recording.attempts.length < 2) await delay(5);
    await delay(100);
    const releasedAt = performance.now();
    await held.release();
    const lock = await waiting;
    const handOffMs = performance.now() - releasedAt;
    handOffsMs.push(handOffMs);
    const lead = recording.attempts.at(-1)?.result?.nodes.find((node) => node.status !== 'not-asked' && recording.attempts.at(-1)?.isWoken)?.nodeIndex;
    const timeouts = recording.attempts.flatMap((attempt) => attempt.result.nodes.filter((node) => node.status === 'timeout'));
    answeringTimeouts += timeouts.length;
    console.log(`${resource}: hand-off ${handOffMs.toFixed(0)} ms, B woken by node ${lead ?? '?'} (${rttsMs[lead] ?? '?'} ms), ${recording.attempts.length} attempts, ${timeouts.length} node timeouts`);
    recording.stop();
    await lock.release();
  }
} finally {
  await Promise.allSettled([a.close(), b.close()]);
  await Promise.allSettled(clients.map((client) => quitClient(client)));
  await topology.stop();
}
const sorted = handOffsMs.map((ms) => Math.round(ms)).sort((x, y) => x - y);
const quorumth = [...rttsMs].sort((x, y) => x - y)[Math.floor(rttsMs.length / 2)];
console.log(`hand-offs over nodes ${rttsMs.join(', ')} ms (physical limit about ${quorumth} ms), TTL ${ttlMs} ms: ${sorted.join(' ')} ms; median ${sorted[Math.floor(sorted.length / 2)]} ms; answering nodes timed out ${answeringTimeouts} times`);
