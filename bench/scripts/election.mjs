// Leader election on 5 local nodes, at default options but the election's `ttlMs`: how long leadership takes to
// change hands, and how soon an observer (default `pollMs`, 1 s) sees it.
//   - hand-over: A leads, B campaigns; from A's resign() call to B leading (and, to compare, a plain lock's
//     hand-off: from release() to the waiting acquire() holding it);
//   - observe: from that resign() call, and from a proclaim() call, to an observer yielding the change;
//   - take-over: a leader in a child process is killed (SIGKILL) right after it extended, and a waiting
//     campaigner takes over once the lease ends: bounded by ttlMs + one retry pause (200 ms ± 100 ms of jitter).
// Run after `pnpm run build`. Usage: node bench/scripts/election.mjs [rounds=10] [ttlMs=2000]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedisNodes } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { IoredisAdapter, quitClient } from 'redlock-ioredis-adapter';

const rounds = Number(process.argv[2] ?? 10);
const ttlMs = Number(process.argv[3] ?? 2_000);
const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const nodes = await startRedisNodes({ count: 5 });
const clients = [];
const redlocks = [];
function redlockOver() {
  const adapters = nodes.urls.map((url) => {
    const client = new Redis(url);
    clients.push(client);
    return new IoredisAdapter(client);
  });
  const redlock = new Redlock(adapters);
  redlocks.push(redlock);
  return redlock;
}

// Leads, prints its term each time it extended (the extension channel), until it is killed.
const CHILD = `
import diagnosticsChannel from 'node:diagnostics_channel';
import { Redis } from 'ioredis';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
const redlock = new Redlock(process.env.URLS.split(',').map((url) => new IoredisAdapter(new Redis(url))));
const leadership = await redlock.election(process.env.NAME, { ttlMs: Number(process.env.TTL_MS) }).campaign('child');
console.log('leading ' + leadership.term);
diagnosticsChannel.tracingChannel('redlock-core.extend').subscribe({ asyncEnd: () => console.log('extended') });
`;

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const stats = (values) => `median ${median(values).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms`;
const results = { handOverMs: [], lockHandOffMs: [], observeResignMs: [], observeProclaimMs: [], takeOverMs: [] };

try {
  const [a, b, watcher] = [redlockOver(), redlockOver(), redlockOver()];
  for (let round = 0; round < rounds; round += 1) {
    const name = `election-bench:${process.pid}:${round}`;
    const seen = [];
    const controller = new AbortController();
    const observing = (async () => {
      for await (const leader of watcher.election(name).observe({ signal: controller.signal })) seen.push({ leader, atMs: performance.now() });
    })().catch(() => undefined);
    const seenAfter = async (startMs, test) => {
      for (;;) {
        const found = seen.find((entry) => entry.atMs >= startMs && test(entry.leader));
        if (found !== undefined) return found.atMs - startMs;
        await delay(1);
      }
    };
    const first = await a.election(name, { ttlMs }).campaign('a');
    const campaigning = b.election(name, { ttlMs }).campaign('b');
    await delay(300);
    const proclaimedAt = performance.now();
    await first.proclaim('a2');
    results.observeProclaimMs.push(await seenAfter(proclaimedAt, (leader) => leader?.value === 'a2'));
    const resignedAt = performance.now();
    await first.resign();
    const second = await campaigning;
    results.handOverMs.push(performance.now() - resignedAt);
    results.observeResignMs.push(await seenAfter(resignedAt, (leader) => leader?.value === 'b'));
    await second.resign();
    controller.abort();
    await observing;

    // The same hand-over for a plain lock, as a comparison: release() to the waiter's acquire().
    const held = await a.acquire(`${name}:lock`, ttlMs);
    const waiting = b.acquire(`${name}:lock`, ttlMs, { waitMs: 10_000 });
    await delay(300);
    const releasedAt = performance.now();
    await held.release();
    const next = await waiting;
    results.lockHandOffMs.push(performance.now() - releasedAt);
    await next.release();

    // Take-over after a crash.
    const crashName = `${name}:crash`;
    const child = spawn(process.execPath, ['--input-type=module', '--eval', CHILD], {
      cwd: BENCH_DIR,
      env: { ...process.env, URLS: nodes.urls.join(','), NAME: crashName, TTL_MS: String(ttlMs) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout });
    await once(lines, 'line');
    const taking = a.election(crashName, { ttlMs }).campaign('survivor');
    // Killed right after an extension: the lease then has its whole TTL left, the worst case.
    await once(lines, 'line');
    child.kill('SIGKILL');
    const killedAt = performance.now();
    const survivor = await taking;
    results.takeOverMs.push(performance.now() - killedAt);
    await survivor.resign();
  }
  console.log(`election on 5 local nodes, ${rounds} rounds, ttlMs ${ttlMs}, default retry (200 ± 100 ms) and pollMs (1 s):`);
  console.log(`  hand-over after resign():           ${stats(results.handOverMs)}`);
  console.log(`  a plain lock's hand-off, compared:  ${stats(results.lockHandOffMs)} after release()`);
  console.log(`  observer sees the next leader:      ${stats(results.observeResignMs)} after resign()`);
  console.log(`  observer sees a proclaimed value:   ${stats(results.observeProclaimMs)} after proclaim()`);
  console.log(`  take-over after SIGKILL:            ${stats(results.takeOverMs)} (bound: ttlMs + the longest retry pause, ${ttlMs + 300} ms, + an attempt)`);
} finally {
  await Promise.all(redlocks.map((redlock) => redlock.close()));
  await Promise.all(clients.map((client) => quitClient(client)));
  await nodes.stop();
}
