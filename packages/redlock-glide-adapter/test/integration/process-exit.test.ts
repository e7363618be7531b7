import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { useTestNodes } from 'redlock-adapter-test-kit';
import { JEST } from '../support/glide-factory.js';

// Runs the built package in a fresh Node process, the way users do: Jest keeps its own process alive, so
// only a child shows whether the canonical setup lets the process exit once the clients are closed.
const ADAPTER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** How long the child may run, in milliseconds, before it is killed and the test fails. */
const CHILD_TIMEOUT_MS = 25_000;
/** How soon the child must exit after its last line, in milliseconds: "by itself", with room for a loaded machine. */
const EXIT_LIMIT_MS = 3_000;
/** The retry delay of the child's waiter: only a release notification can wake it sooner. */
const RETRY_DELAY_MS = 15_000;

const nodes = useTestNodes(JEST, 1);

beforeAll(() => {
  if (!existsSync(join(ADAPTER_DIR, 'dist', 'index.js'))) throw new Error('redlock-glide-adapter is not built: run `pnpm build` first');
});

/** The canonical setup on one node: two clients with notifications, a hand-off, redlock.close(), client.close(). */
const HAND_OFF_AND_CLOSE = `
import { GlideClient, Logger } from '@valkey/valkey-glide';
import { Redlock } from 'redlock-core';
import { GlideAdapter, GlideReleaseNotifications } from 'redlock-glide-adapter';
Logger.setLoggerConfig('error');
const { REDIS_URL: url, KEY: key } = process.env;
const { hostname: host, port } = new URL(url);
const nodes = await Promise.all([0, 1].map(async () => {
  const notifications = new GlideReleaseNotifications();
  const client = await GlideClient.createClient({ addresses: [{ host, port: Number(port) }], requestTimeout: 2000, pubsubSubscriptions: notifications.pubsubSubscriptions });
  return { client, adapter: new GlideAdapter(client, { notifications }) };
}));
const holder = new Redlock([nodes[0].adapter]);
const waiter = new Redlock([nodes[1].adapter], { retryDelayMs: ${RETRY_DELAY_MS}, retryJitterMs: 0 });
const lock = await holder.acquire(key, 30000);
const waiting = waiter.acquire(key, 30000);
await new Promise((resolve) => setTimeout(resolve, 300));
const releasedAt = performance.now();
await lock.release();
const next = await waiting;
const wokenAfterMs = performance.now() - releasedAt;
await next.release();
await Promise.all([holder.close(), waiter.close()]);
for (const { client } of nodes) client.close();
console.log(JSON.stringify({ wokenAfterMs, state: next.state }));
`;

describe('a process using GlideAdapters in the canonical setup', () => {
  it('exits by itself once it closed its Redlocks and its clients, after a prompt hand-off', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '--eval', HAND_OFF_AND_CLOSE], {
      cwd: ADAPTER_DIR,
      env: { ...process.env, REDIS_URL: nodes.urls[0] as string, KEY: `process-exit-test:${randomUUID()}` },
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
