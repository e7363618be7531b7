import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { WAKE_CHANNEL_PREFIX } from '../../../redlock-core/src/scripts/wake-queue.js';
import { ADAPTER_DIR, runChild } from '../support/child-process.js';
import { subscribersOf, WAKE_LISTENERS_LUA } from '../support/handoff.js';
import { itWithFaults, useRedisNodes } from '../support/redis-servers.js';

// These tests run the built packages in fresh Node processes, the way users do (see `runChild`), to see
// what keeps a process alive and what it prints.
/** How soon a child must exit after its last line, in milliseconds: "by itself", with room for a loaded machine. */
const EXIT_LIMIT_MS = 3_000;
/** The retry delay of the child's waiter: only a release notification can wake it sooner. */
const RETRY_DELAY_MS = 15_000;

const redis = useRedisNodes(1);

beforeAll(() => {
  if (!existsSync(join(ADAPTER_DIR, 'dist', 'index.js'))) {
    throw new Error('redlock-ioredis-adapter is not built: run `pnpm build` first');
  }
});

/**
 * Takes a lock with one default adapter, waits for it with another (woken by the release notification),
 * releases, optionally closes both adapters, quits both clients, and prints what it measured.
 */
const HAND_OFF_AND_QUIT = `
import { Redis } from 'ioredis';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
const { REDIS_URL: url, KEY: key, CLOSE_ADAPTERS: closeAdapters } = process.env;
const clients = [new Redis(url, { maxRetriesPerRequest: 0 }), new Redis(url, { maxRetriesPerRequest: 0 })];
for (const client of clients) client.on('error', (error) => console.error('client error: ' + error.message));
const adapters = clients.map((client) => new IoredisAdapter(client));
const holder = new Redlock([adapters[0]]);
const waiter = new Redlock([adapters[1]], { retryDelayMs: ${RETRY_DELAY_MS}, retryJitterMs: 0 });
const lock = await holder.acquire(key, 30000);
const waiting = waiter.acquire(key, 30000);
// Released once the waiter is queued on the node and listens on its wake channel.
const wakeListeners = async () => (await clients[0].eval(${JSON.stringify(WAKE_LISTENERS_LUA)}, 1, key)).filter((_, index) => index % 2 === 1).reduce((sum, count) => sum + count, 0);
while ((await wakeListeners()) < 1) await new Promise((resolve) => setTimeout(resolve, 20));
const releasedAt = performance.now();
await lock.release();
const next = await waiting;
const wokenAfterMs = performance.now() - releasedAt;
await next.release();
if (closeAdapters === 'yes') await Promise.all(adapters.map((adapter) => adapter.close()));
await Promise.all(clients.map((client) => client.quit()));
console.log(JSON.stringify({ wokenAfterMs, state: next.state }));
`;

/**
 * A child that subscribes with a default adapter over a client made with `clientOptions` (source text),
 * says so, waits for `done` on stdin, closes the adapter, then runs `then` (source text).
 */
function subscribeUntilTold(clientOptions: string, then: string): string {
  return `
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
const client = new Redis(process.env.REDIS_URL, ${clientOptions});
client.on('error', () => undefined);
const adapter = new IoredisAdapter(client);
await adapter.subscribe('${WAKE_CHANNEL_PREFIX}' + process.env.KEY, () => undefined);
console.log('subscribed');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === 'done') break;
lines.close();
process.stdin.destroy();
await adapter.close();
${then}
`;
}

/** Subscribes, waits for a line on stdin, then closes the adapter and quits. */
const SUBSCRIBE_UNTIL_TOLD = subscribeUntilTold('{}', "await client.quit();\nconsole.log('quit');");

/**
 * Subscribes, waits for a line on stdin (sent once the node is down), then closes the adapter and
 * disconnects its client, and prints how many timers keep the process alive 100 ms later. Its own client
 * is given a \`disconnectTimeout\` of 0, so that only the adapter's connection counts.
 */
const CLOSE_WHILE_DOWN = subscribeUntilTold(
  '{ disconnectTimeout: 0 }',
  `client.disconnect();
await new Promise((resolve) => setTimeout(resolve, 100));
console.log(JSON.stringify(process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length));`,
);

/**
 * Starts 50 acquisitions that wait for a held lock with one shared signal, aborts it, and prints how they
 * ended, how many listeners the signal had meanwhile and after, and the process warnings (Node prints a
 * \`MaxListenersExceededWarning\` from the eleventh listener on one signal).
 */
const SHARED_SIGNAL = `
import { getEventListeners } from 'node:events';
import { Redis } from 'ioredis';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
const warnings = [];
process.on('warning', (warning) => warnings.push(warning.name));
const client = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 0 });
const redlock = new Redlock([new IoredisAdapter(client)], { retryDelayMs: ${RETRY_DELAY_MS} });
const held = await redlock.acquire(process.env.KEY, 30000, { retryCount: 0 });
const controller = new AbortController();
const reason = new Error('shutting down');
const waiting = Array.from({ length: 50 }, () => redlock.acquire(process.env.KEY, 30000, { signal: controller.signal }).catch((error) => error));
await new Promise((resolve) => setTimeout(resolve, 200));
const listenersWhileWaiting = getEventListeners(controller.signal, 'abort').length;
controller.abort(reason);
const rejectedWithReason = (await Promise.all(waiting)).filter((outcome) => outcome === reason).length;
await held.release();
await redlock.close();
await client.quit();
await new Promise((resolve) => setImmediate(resolve));
console.log(JSON.stringify({ rejectedWithReason, listenersWhileWaiting, listenersAfter: getEventListeners(controller.signal, 'abort').length, warnings }));
`;

describe('a process using the default adapter', () => {
  it.each([
    ['closes its adapters and quits its clients', 'yes'],
    ['only quits its clients', 'no'],
  ])('exits by itself once it %s, after a prompt hand-off', async (_, closeAdapters) => {
    const child = runChild(HAND_OFF_AND_QUIT, { REDIS_URL: redis.urls[0]!, KEY: `process-exit-test:${randomUUID()}`, CLOSE_ADAPTERS: closeAdapters });
    const { code, signal, exitAfterLastLineMs } = await child.exited;
    expect(child.stderr()).toBe('');
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const printed = JSON.parse(await child.nextLine()) as { wokenAfterMs: number; state: string };
    expect(printed.state).toBe('released');
    expect(printed.wokenAfterMs).toBeLessThan(RETRY_DELAY_MS / 3);
    expect(exitAfterLastLineMs).toBeLessThan(EXIT_LIMIT_MS);
  }, 30_000);

  it('prints no MaxListenersExceededWarning when 50 waiting acquisitions share one AbortSignal, and leaves no listener on it', async () => {
    const child = runChild(SHARED_SIGNAL, { REDIS_URL: redis.urls[0]!, KEY: `process-exit-test:${randomUUID()}` });
    const { code } = await child.exited;
    expect(child.stderr()).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(await child.nextLine())).toEqual({ rejectedWithReason: 50, listenersWhileWaiting: 1, listenersAfter: 0, warnings: [] });
  }, 30_000);

  itWithFaults('prints no unhandled error event of its subscriber connection while the node is down', async () => {
    const key = `process-exit-test:${randomUUID()}`;
    const child = runChild(SUBSCRIBE_UNTIL_TOLD, { REDIS_URL: redis.urls[0]!, KEY: key });
    try {
      expect(await child.nextLine()).toBe('subscribed');
      await redis.nodes[0]!.kill();
      // Long enough for several failed reconnection attempts, each an 'error' event on the connection.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await redis.nodes[0]!.start();
      expect(await subscribersOf(redis.createClient(0), WAKE_CHANNEL_PREFIX + key, 1)).toBe(1);
      child.process.stdin!.end('done\n');
      expect(await child.nextLine()).toBe('quit');
      const { code } = await child.exited;
      expect(child.stderr()).not.toContain('Unhandled error event');
      expect(child.stderr()).toBe('');
      expect(code).toBe(0);
    } finally {
      child.process.kill();
    }
  }, 30_000);

  itWithFaults('is not kept alive by its subscriber connection closed while reconnecting to a node that is down', async () => {
    const child = runChild(CLOSE_WHILE_DOWN, { REDIS_URL: redis.urls[0]!, KEY: `process-exit-test:${randomUUID()}` });
    try {
      expect(await child.nextLine()).toBe('subscribed');
      await redis.nodes[0]!.kill();
      // The connection lost, it waits to reconnect (ioredis' first pause is 50 ms, then 100…).
      await new Promise((resolve) => setTimeout(resolve, 100));
      child.process.stdin!.end('done\n');
      // ioredis would have armed a 2 s timer for the socket already closed.
      expect(JSON.parse(await child.nextLine())).toBe(0);
      const { code } = await child.exited;
      expect(child.stderr()).toBe('');
      expect(code).toBe(0);
    } finally {
      child.process.kill();
      await redis.nodes[0]!.start();
    }
  }, 30_000);
});
