import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { CLOSE_TIMEOUT_MS, Redlock, RedlockClosedError } from 'redlock-core';
import { wakeChannelOf } from '../../../redlock-core/src/scripts/wake-queue.js';
import { IoredisAdapter } from '../../src/index.js';
import { eventually } from '../support/eventually.js';
import { wakeListenersOf } from '../support/handoff.js';
import { itWithFaults, useRedisNodes } from '../support/redis-servers.js';

// redlock.close() on real redis-server nodes: waiters stop at once, subscriptions end, held locks are left
// to their TTL, and a process that closed its Redlock and quit its own clients exits by itself.

const NODE_COUNT = 3;
const ADAPTER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** How long the child process may run in all, in milliseconds, before the test kills it. */
const CHILD_TIMEOUT_MS = 20_000;
/** How long the child may take to exit once it quit its clients, in milliseconds: generous, for a loaded machine. */
const EXIT_AFTER_QUIT_MS = 5_000;

const redis = useRedisNodes(NODE_COUNT);

/** Direct clients to the nodes, for looking at keys and channels; never used for locks. */
let admins: Redis[] = [];
let prefix = '';

beforeAll(() => {
  admins = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: 1 }));
});
beforeEach(() => {
  prefix = `close:${randomUUID()}:`;
});

/**
 * The wake channels of the processes queued for this test's resource `r` that some connection still
 * subscribes to, on every node.
 */
async function subscribedChannels(): Promise<string[]> {
  const listeners = await Promise.all(admins.map((admin) => wakeListenersOf(admin, `${prefix}r`)));
  return listeners.flatMap((byMember) => [...byMember].flatMap(([member, count]) => (count > 0 ? [wakeChannelOf(member)] : [])));
}

describe('redlock.close() on real nodes', () => {
  it('rejects a waiter at once, ends the subscriptions it made, and leaves a held lock to its TTL', async () => {
    const holder = new Redlock(
      redis.urls.map((_, index) => new IoredisAdapter(redis.createClient(index))),
      { keyPrefix: prefix, retryCount: 0 },
    );
    const redlock = new Redlock(
      redis.urls.map((_, index) => {
        const client = redis.createClient(index);
        return new IoredisAdapter(client, { subscriber: redis.createClient(index) });
      }),
      { keyPrefix: prefix, retryCount: 100, retryDelayMs: 5_000 },
    );
    const held = await holder.acquire('r', 30_000);
    const own = await redlock.acquire('own', 30_000, { autoExtend: true });
    const waiting = redlock.acquire('r', 30_000).catch((error: unknown) => error);
    // The waiter found the lock held: it is queued, and subscribed to its wake channel.
    expect(await eventually(subscribedChannels, (channels) => channels.length > 0, 5_000)).not.toEqual([]);
    const closingAt = performance.now();
    const closing = redlock.close();
    const error = await waiting;
    expect(error).toBeInstanceOf(RedlockClosedError);
    // At once: far below its 5 s retry pause, and within one node round trip at most.
    expect(performance.now() - closingAt).toBeLessThan(1_000);
    await closing;
    expect(await subscribedChannels()).toEqual([]);
    // The lock this Redlock held is left to its holder (and then its TTL), not released behind its back.
    expect(own.signal.reason).toBeInstanceOf(RedlockClosedError);
    expect(await Promise.all(admins.map((admin) => admin.get(`${prefix}own`)))).toEqual(Array(NODE_COUNT).fill(own.token));
    await own.release();
    expect(await Promise.all(admins.map((admin) => admin.get(`${prefix}own`)))).toEqual(Array(NODE_COUNT).fill(null));
    await expect(redlock.acquire('other', 1_000)).rejects.toBeInstanceOf(RedlockClosedError);
    await held.release();
    await holder.close();
  });

  itWithFaults('does not wait its whole bound for a node that refuses connections once a quorum confirmed the release', async () => {
    const down = redis.nodes[2]!;
    await down.kill();
    try {
      // Clients that fail a command at once while not connected, as the CLI's do: the release to the killed
      // node fails at once, and is sent again at doubling pauses.
      const clients = redis.urls.map((_, index) => redis.createClient(index, { enableOfflineQueue: false, maxRetriesPerRequest: 0 }));
      await Promise.all(clients.slice(0, 2).map((client) => (client.status === 'ready' ? undefined : once(client, 'ready'))));
      const redlock = new Redlock(
        clients.map((client) => new IoredisAdapter(client)),
        { keyPrefix: prefix, retryCount: 0 },
      );
      const lock = await redlock.acquire('r', 30_000);
      await lock.release();
      const errorsBeforeClose = redlock.stats().nodes[2]!.errors;
      const closingAt = performance.now();
      await redlock.close();
      const closeMs = performance.now() - closingAt;
      // The mechanism: one more try when close() began, then no re-send (before, one every 25 ms to 1 s for
      // the whole bound).
      expect(redlock.stats().nodes[2]!.errors - errorsBeforeClose).toBe(1);
      // Before, close() waited for those re-sends for all of CLOSE_TIMEOUT_MS (2 s); one try that fails at
      // once takes a few ms, so half the bound tells the two apart even on a loaded machine.
      expect(closeMs).toBeLessThan(CLOSE_TIMEOUT_MS / 2);
      expect(await Promise.all(admins.slice(0, 2).map((admin) => admin.get(`${prefix}r`)))).toEqual([null, null]);
    } finally {
      await down.start();
    }
  });
});

/**
 * The child: two Redlocks over ioredis clients it makes, the waiter's adapters with a subscriber the user
 * gives (`client.duplicate()`). A waiter gets the lock by release notification; another waiter is in flight
 * when the Redlock closes; a lock kept extended is still held then. It closes both Redlocks, quits only the
 * clients it made, prints what it saw, and must then exit by itself: no `process.exit()`.
 */
const CHILD_SOURCE = `
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Redis } from 'ioredis';
import { CLOSE_TIMEOUT_MS, DIAGNOSTICS_CHANNELS, Redlock, RedlockClosedError } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';

const urls = JSON.parse(process.env.REDLOCK_CLOSE_URLS);
const keyPrefix = process.env.REDLOCK_CLOSE_PREFIX;
const holderClients = urls.map((url) => new Redis(url));
const clients = urls.map((url) => new Redis(url));
const subscribers = clients.map((client) => client.duplicate());
const holder = new Redlock(holderClients.map((client) => new IoredisAdapter(client)), { keyPrefix, retryCount: 0 });
const redlock = new Redlock(
  clients.map((client, index) => new IoredisAdapter(client, { subscriber: subscribers[index] })),
  { keyPrefix, retryCount: 100, retryDelayMs: 5_000 },
);

// The waiter's attempts, from the core's attempt trace: released only after its first attempt and the look
// it takes once it listens both found the lock held, so that only a wake or its timer can start the next.
const attempts = [];
const attemptEnd = 'tracing:' + DIAGNOSTICS_CHANNELS.attempt + ':asyncEnd';
const onAttemptEnd = (context) => {
  if (context.resources.includes('r') && context.result !== undefined) attempts.push({ outcome: context.result.outcome, isWoken: context.isWoken });
};
const first = await holder.acquire('r', 30_000);
subscribe(attemptEnd, onAttemptEnd);
const waiter = redlock.acquire('r', 30_000);
while (attempts.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
await first.release();
const second = await waiter;
unsubscribe(attemptEnd, onAttemptEnd);
await second.release();

const kept = await redlock.acquire('kept', 30_000, { autoExtend: true });
const blocker = await holder.acquire('blocked', 30_000);
const inFlight = redlock.acquire('blocked', 30_000).then(() => 'acquired', (error) => error.name);
await new Promise((resolve) => setTimeout(resolve, 300));
await redlock.close();
const waiterOutcome = await inFlight;
await blocker.release();
await holder.close();
await Promise.all([...holderClients, ...clients, ...subscribers].map((client) => client.quit()));
console.log(JSON.stringify({
  handOffAttempts: attempts,
  waiterOutcome,
  keptSignal: kept.signal.reason instanceof RedlockClosedError,
  keptToken: kept.token,
  quitAt: Date.now(),
}));
`;

/** Runs the child in the adapter's directory; resolves with its exit code, its output, and when it exited. */
function runChild(): Promise<{ code: number | null; stdout: string; stderr: string; exitedAt: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '--eval', CHILD_SOURCE], {
      cwd: ADAPTER_DIR,
      env: { ...process.env, REDLOCK_CLOSE_URLS: JSON.stringify(redis.urls), REDLOCK_CLOSE_PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // A child that hangs is stopped by its own PID, and the test fails on its exit code.
    const killer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, exitedAt: Date.now() });
    });
  });
}

describe('a process that closed its Redlock and quit its own clients', () => {
  beforeAll(() => {
    for (const dir of [ADAPTER_DIR, join(ADAPTER_DIR, '..', 'redlock-core')]) {
      if (!existsSync(join(dir, 'dist', 'index.js'))) throw new Error(`${dir} is not built: run \`pnpm build\` first`);
    }
  });

  it(
    'exits by itself within a few seconds, with a user-given subscriber per node',
    async () => {
      const { code, stdout, stderr, exitedAt } = await runChild();
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const report = JSON.parse(stdout) as {
        handOffAttempts: { outcome: string; isWoken: boolean }[];
        waiterOutcome: string;
        keptSignal: boolean;
        keptToken: string;
        quitAt: number;
      };
      // The waiter got the lock by the release notification, not at its 5 s retry timer: the attempt after
      // the release asked the node that woke it alone first, which only a woken attempt does (a timed retry asks every node).
      expect(report.handOffAttempts.map(({ outcome }) => outcome === 'acquired')).toEqual([false, false, true]);
      expect(report.handOffAttempts[2]).toEqual({ outcome: 'acquired', isWoken: true });
      expect(report.waiterOutcome).toBe('RedlockClosedError');
      expect(report.keptSignal).toBe(true);
      expect(exitedAt - report.quitAt).toBeLessThan(EXIT_AFTER_QUIT_MS);
      // The lock still held at close was left to its TTL, not released.
      expect(await Promise.all(admins.map((admin) => admin.get(`${prefix}kept`)))).toEqual(Array(NODE_COUNT).fill(report.keptToken));
      expect(await subscribedChannels()).toEqual([]);
    },
    CHILD_TIMEOUT_MS + 5_000,
  );
});
