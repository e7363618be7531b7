import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { beforeAll, describe, expect } from '@jest/globals';
import { ADAPTER_DIR, CHILD_TIMEOUT_MS, runChild } from '../support/child-process.js';
import { WAKE_LISTENERS_LUA } from '../support/handoff.js';
import { itWithFaults, useRedisNodes } from '../support/redis-servers.js';

/** How soon the child must exit after its last line, in milliseconds: its subscriber's retry delays, and room for a loaded machine. */
const EXIT_LIMIT_MS = 10_000;
/** The node the test stops while the child waits for a lock on all three. */
const DOWN_NODE = 2;

const redis = useRedisNodes(3);

beforeAll(() => {
  for (const dir of [ADAPTER_DIR, join(ADAPTER_DIR, '..', 'redlock-core')]) {
    if (!existsSync(join(dir, 'dist', 'index.js'))) throw new Error(`${dir} is not built: run \`pnpm build\` first`);
  }
});

/**
 * The child: holds a lock on three nodes with ioredis clients of its own (`IOREDIS` names the module), and,
 * once told that a node is down, starts a waiter, which subscribes on every node: on the node that is down,
 * its SUBSCRIBE waits for the subscriber to reconnect. It then disconnects its clients without closing its
 * Redlocks, aborts the waiter, prints how the waiter ended and the state of the down node's client, and
 * must then exit by itself: no `process.exit()`.
 */
const DISCONNECT_WHILE_DOWN = `
import { createInterface } from 'node:readline';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
const { Redis } = await import(process.env.IOREDIS);
const urls = JSON.parse(process.env.REDIS_URLS);
const key = process.env.KEY;
const clients = urls.map((url) => new Redis(url));
for (const client of clients) client.on('error', () => undefined);
const holder = new Redlock(clients.map((client) => new IoredisAdapter(client)), { retryCount: 0 });
const waiter = new Redlock(clients.map((client) => new IoredisAdapter(client)), { retryDelayMs: 15000 });
await holder.acquire(key, 30000);
console.log('locked');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === 'down') break;
lines.close();
process.stdin.destroy();
const controller = new AbortController();
const waiting = waiter.acquire(key, 30000, { signal: controller.signal }).then(() => 'acquired', (error) => error.message);
// Subscribed on the first node: the SUBSCRIBE on the node that is down is in flight.
const wakeListeners = async () => (await clients[0].eval(${JSON.stringify(WAKE_LISTENERS_LUA)}, 1, key)).filter((_, index) => index % 2 === 1).reduce((sum, count) => sum + count, 0);
while ((await wakeListeners()) < 1) await new Promise((resolve) => setTimeout(resolve, 20));
for (const client of clients) client.disconnect();
controller.abort(new Error('shutting down'));
console.log(JSON.stringify({ waiter: await waiting, downClientStatus: clients[${DOWN_NODE}].status }));
`;

describe('a process that disconnects its ioredis clients while a node is down, without redlock.close()', () => {
  itWithFaults.each([['ioredis'], ['ioredis-v5']])(
    'exits by itself though a waiter subscribed on that node (%s)',
    async (ioredis) => {
      const child = runChild(DISCONNECT_WHILE_DOWN, { IOREDIS: ioredis, REDIS_URLS: JSON.stringify(redis.urls), KEY: `disconnect-while-reconnecting-test:${randomUUID()}` });
      try {
        expect(await child.nextLine()).toBe('locked');
        await redis.nodes[DOWN_NODE]!.kill();
        // The child's client and subscriber lose the node and wait to reconnect (ioredis' pauses: 50 ms, 100…).
        await delay(300);
        child.process.stdin!.end('down\n');
        // ioredis emits no 'end' for a client disconnected while reconnecting: it stays 'reconnecting'.
        expect(JSON.parse(await child.nextLine())).toEqual({ waiter: 'shutting down', downClientStatus: 'reconnecting' });
        const { code, signal, exitAfterLastLineMs } = await child.exited;
        expect(child.stderr()).toBe('');
        expect({ code, signal }).toEqual({ code: 0, signal: null });
        expect(exitAfterLastLineMs).toBeLessThan(EXIT_LIMIT_MS);
      } finally {
        child.process.kill();
        await redis.nodes[DOWN_NODE]!.start();
      }
    },
    CHILD_TIMEOUT_MS + 10_000,
  );
});
