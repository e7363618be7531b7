import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from '@jest/globals';
import { useRedisNodes } from '../support/redis-servers.js';

// What Node prints for an uncaught LockAcquireError, in a fresh process running the built packages as
// users do: Node's report of an uncaught error ignores custom inspect methods and printed every node error
// of every attempt with its stack and cause (1,316 lines for 11 attempts on 5 nodes, 3 of them down).
const ADAPTER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The most lines the report may take: a screen. */
const MAX_LINES = 40;

const redis = useRedisNodes(2);

beforeAll(() => {
  if (!existsSync(join(ADAPTER_DIR, 'dist', 'index.js'))) throw new Error('redlock-ioredis-adapter is not built: run `pnpm build` first');
});

/** 5 nodes, the last 3 closed loopback ports that refuse at once; one acquisition, not caught. */
const UNCAUGHT_ACQUIRE_ERROR = `
import { Redis } from 'ioredis';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
const urls = [...process.env.REDIS_URLS.split(','), 'redis://127.0.0.1:1', 'redis://127.0.0.1:2', 'redis://127.0.0.1:3'];
const clients = urls.map((url) => new Redis(url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null }));
for (const client of clients) client.on('error', () => undefined);
const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)), { retryCount: 3, retryDelayMs: 20 });
async function chargeOrder() {
  const lock = await redlock.acquire('uncaught-error-output', 10_000);
  return lock;
}
async function main() {
  await chargeOrder();
}
await main();
`;

it('reports an uncaught LockAcquireError with 3 of 5 nodes down in at most 40 lines', async () => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = execFile(process.execPath, ['--input-type=module', '--eval', UNCAUGHT_ACQUIRE_ERROR], { cwd: ADAPTER_DIR, env: { ...process.env, REDIS_URLS: redis.urls.join(',') }, timeout: 15_000 }, (error, stdout, stderr) =>
      resolve({ code: child.exitCode ?? (error === null ? 0 : null), output: `${stdout}${stderr}` }),
    );
  });
  expect(code).toBe(1);
  expect(output).toContain('LockAcquireError: Could not acquire "uncaught-error-output" after 4 attempts: nodes unreachable');
  expect(output.trimEnd().split('\n').length).toBeLessThanOrEqual(MAX_LINES);
  expect(output).toContain('attempts: [Getter]');
  // Its stack starts at the line of the user's call, not inside the library (where Node's report would also
  // print the line of the throw, a long one in the bundle): nothing but the user's frames is left.
  const frames = output.split('\n').filter((line) => /^\s+at /.test(line));
  const lineOf = (code: string): number => UNCAUGHT_ACQUIRE_ERROR.split('\n').findIndex((line) => line.includes(code)) + 1;
  expect(frames).toEqual([
    expect.stringMatching(new RegExp(`^ {4}at async chargeOrder \\(.*\\[eval1\\]:${lineOf('await redlock.acquire')}:\\d+\\)$`)),
    expect.stringMatching(new RegExp(`^ {4}at async main \\(.*\\[eval1\\]:${lineOf('await chargeOrder')}:\\d+\\)$`)),
    expect.stringMatching(new RegExp(`^ {4}at async .*\\[eval1\\]:${lineOf('await main')}:\\d+ \\{$`)),
  ]);
});
