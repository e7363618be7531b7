import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { useTestNodes } from 'redlock-adapter-test-kit';
import { WAKE_LISTENERS_LUA } from '../support/handoff.js';
import { JEST } from '../support/node-redis-versions.js';

// These tests run the built package in fresh Node processes, the way users do, to see what keeps a
// process alive: Jest keeps its own process alive, so only a child shows whether a connection is left.
const ADAPTER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** How long one child process may run, in milliseconds, before it is killed and the test fails. */
const CHILD_TIMEOUT_MS = 25_000;
/** How soon a child must exit after its last line, in milliseconds: "by itself", with room for a loaded machine. */
const EXIT_LIMIT_MS = 3_000;
/** The retry delay of the child's waiter: only a release notification can wake it sooner. */
const RETRY_DELAY_MS = 15_000;

const nodes = useTestNodes(JEST, 1);

beforeAll(() => {
  if (!existsSync(join(ADAPTER_DIR, 'dist', 'index.js'))) {
    throw new Error('redlock-node-redis-adapter is not built: run `pnpm build` first');
  }
});

/**
 * The canonical setup: two clients, each with `onError` as its error listener, default adapters; a lock
 * handed over from one Redlock to a waiting one by the release notification (`next`, `wokenAfterMs`).
 */
const handOff = (onError: string): string => `
import { createInterface } from 'node:readline';
import { createClient } from 'redis';
import { Redlock } from 'redlock-core';
import { NodeRedisAdapter } from 'redlock-node-redis-adapter';
const { REDIS_URL: url, KEY: key, CLOSE_REDLOCKS: closeRedlocks } = process.env;
const clients = await Promise.all([0, 1].map(() => {
  const client = createClient({ url, disableOfflineQueue: true });
  client.on('error', ${onError});
  return client.connect();
}));
const holder = new Redlock([new NodeRedisAdapter(clients[0])]);
const waiter = new Redlock([new NodeRedisAdapter(clients[1])], { retryDelayMs: ${RETRY_DELAY_MS}, retryJitterMs: 0 });
const lock = await holder.acquire(key, 30000);
const waiting = waiter.acquire(key, 30000);
// Released once the waiter is queued on the node and listens on its wake channel.
while (Number(await clients[0].sendCommand(['EVAL', ${JSON.stringify(WAKE_LISTENERS_LUA)}, '1', key])) < 1) await new Promise((resolve) => setTimeout(resolve, 20));
const releasedAt = performance.now();
await lock.release();
const next = await waiting;
const wokenAfterMs = performance.now() - releasedAt;
await next.release();
`;

/** The hand-off, then `redlock.close()` (or not) and the clients closed: prints what it measured; the process must then exit by itself. */
const HAND_OFF_AND_CLOSE = `${handOff("(error) => console.error('client error: ' + error.message)")}
if (closeRedlocks === 'yes') await Promise.all([holder.close(), waiter.close()]);
await Promise.all(clients.map((client) => client.close()));
console.log(JSON.stringify({ wokenAfterMs, state: next.state }));
`;

/**
 * The hand-off, then the node goes away (the parent kills it once told `ready`, and says `killed`), and
 * the clients are closed with `quit()` (node-redis 4's usual way), which a node that is gone never
 * answers. The adapters' own subscriber connection, idle since the hand-off, is reconnecting then.
 */
const NODE_GONE_THEN_QUIT = `${handOff('() => undefined')}
console.log('ready');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === 'killed') break;
lines.close();
// Not awaited: a QUIT to a node that is gone is never answered.
for (const client of clients) client.quit().catch(() => undefined);
console.log('quit');
`;

describe('a process whose node went away', () => {
  it('exits by itself once it quits its clients, its subscriber connection reconnecting meanwhile', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '--eval', NODE_GONE_THEN_QUIT], {
      cwd: ADAPTER_DIR,
      env: { ...process.env, REDIS_URL: nodes.urls[0] as string, KEY: `process-exit-test:${randomUUID()}` },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: CHILD_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    let lastOutputAt = performance.now();
    const ready = new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        lastOutputAt = performance.now();
        if (stdout.includes('ready')) resolve();
      });
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<{ code: number | null; signal: string | null; exitAfterLastLineMs: number }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal, exitAfterLastLineMs: performance.now() - lastOutputAt }));
    });
    const node = nodes.nodes[0];
    try {
      await ready;
      await node?.kill();
      child.stdin.write('killed\n');
      const { code, signal, exitAfterLastLineMs } = await exited;
      expect(stderr).toBe('');
      expect(stdout).toBe('ready\nquit\n');
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      // Before, the subscriber connection reconnected until its 60 s idle time ran out.
      expect(exitAfterLastLineMs).toBeLessThan(EXIT_LIMIT_MS);
    } finally {
      child.kill();
      await node?.start();
    }
  }, 30_000);
});

describe('a process using default NodeRedisAdapters', () => {
  it.each([
    ['closes its Redlocks and then its clients', 'yes'],
    ['only closes its clients', 'no'],
  ])('exits by itself once it %s, after a prompt hand-off', async (_, closeRedlocks) => {
    const child = spawn(process.execPath, ['--input-type=module', '--eval', HAND_OFF_AND_CLOSE], {
      cwd: ADAPTER_DIR,
      env: { ...process.env, REDIS_URL: nodes.urls[0] as string, KEY: `process-exit-test:${randomUUID()}`, CLOSE_REDLOCKS: closeRedlocks },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: CHILD_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    let lastOutputAt = performance.now();
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      lastOutputAt = performance.now();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const { code, signal, exitAfterLastLineMs } = await new Promise<{ code: number | null; signal: string | null; exitAfterLastLineMs: number }>((resolve) => {
      child.on('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal, exitAfterLastLineMs: performance.now() - lastOutputAt }));
    });
    expect(stderr).toBe('');
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const printed = JSON.parse(stdout.trim()) as { wokenAfterMs: number; state: string };
    expect(printed.state).toBe('released');
    expect(printed.wokenAfterMs).toBeLessThan(RETRY_DELAY_MS / 3);
    expect(exitAfterLastLineMs).toBeLessThan(EXIT_LIMIT_MS);
  }, 30_000);
});
