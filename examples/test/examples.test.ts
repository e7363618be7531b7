import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { writeTestLog } from '../../packages/redlock-core/test/support/test-log.js';

// Runs every example as a user would, from its build (`pnpm run build` makes examples/dist), each on its
// own local redis-server nodes (or on REDLOCK_TEST_NODES when set, passed on as REDIS_URLS), and checks
// that it exits cleanly. What each printed goes to test-results/examples.test.ts.log.

const EXAMPLES_DIR = join(fileURLToPath(new URL('.', import.meta.url)), '..');
/** The module the examples share, which is not an example itself. */
const NOT_EXAMPLES = new Set(['redis-nodes.ts']);
/** The longest an example may run, in milliseconds: the slowest takes about 5 s alone, more on a loaded machine. */
const EXAMPLE_TIMEOUT_MS = 90_000;

const examples = readdirSync(EXAMPLES_DIR)
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && !NOT_EXAMPLES.has(file))
  .map((file) => file.slice(0, -'.ts'.length))
  .sort();

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
}

function runExample(name: string): Promise<Run> {
  const script = join(EXAMPLES_DIR, 'dist', `${name}.js`);
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`pnpm run build\` first`);
  const nodes = process.env['REDLOCK_TEST_NODES'];
  const env = nodes === undefined ? process.env : { ...process.env, REDIS_URLS: nodes };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { cwd: EXAMPLES_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Killed by its own PID when it outlives its bound; it stops the redis-server nodes it started itself.
    const timer = setTimeout(() => child.kill('SIGTERM'), EXAMPLE_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

describe('the examples', () => {
  it('include the OpenTelemetry example', () => {
    expect(examples).toEqual(expect.arrayContaining(['acquire-and-release', 'command-line', 'cron-once-per-slot', 'opentelemetry']));
  });

  // The OpenTelemetry example runs once, in its own test below, which checks what it printed too.
  it.each(examples.filter((name) => name !== 'opentelemetry'))('runs %s to a clean exit', async (name) => {
    const { code, signal, output } = await runExample(name);
    writeTestLog(output);
    expect({ code, signal, output }).toEqual({ code: 0, signal: null, output: expect.any(String) });
  }, EXAMPLE_TIMEOUT_MS + 10_000);

  it('turns the channels into OpenTelemetry spans nested down to the ioredis commands, with no token in them', async () => {
    const { code, output } = await runExample('opentelemetry');
    writeTestLog(output);
    expect(code).toBe(0);
    // The example asserts the span tree itself and exits non-zero otherwise; here, that it printed it.
    expect(output).toContain('OpenTelemetry example: every expected span was seen, none holds a token');
    expect(output).toMatch(/^ {2}redlock acquire .* attempts=[2-9]/m);
    expect(output).toMatch(/^ {4}redlock attempt .*attempt\.number=1 .*outcome=failed/m);
    expect(output).toMatch(/^ {6}redis EVALSHA/m);
    expect(output).toMatch(/^ {2}redlock tryAcquire .*outcome=failed failure\.reason=held-by-another-owner/m);
    expect(output).toMatch(/^ {2}redlock semaphore acquire .*outcome=acquired/m);
    expect(output).toMatch(/redlock\.node\.errors \{"redlock\.node\.index":4,"redlock\.node\.operation":"acquire","error\.type":"[^"]+"\} [1-9]/);
    expect(output).toMatch(/redlock\.hold\.duration \{"redlock\.primitive":"lock","redlock\.hold\.end":"released"\} count=4/);
  }, EXAMPLE_TIMEOUT_MS + 10_000);
});
