import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

// Runs every example as a user would (`node dist/<name>.js`, no argument, no REDIS_URLS): each starts its
// own local redis-server nodes, shows what it shows, stops them and must exit by itself with status 0.
const EXAMPLES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Modules the examples share, which are not examples themselves. */
const SHARED_MODULES = new Set(['redis-nodes.ts']);
/** How long one example may run before it counts as hung, in milliseconds (the slowest takes ~5 s). */
const EXAMPLE_TIMEOUT_MS = 60_000;

const examples = readdirSync(EXAMPLES_DIR)
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && !SHARED_MODULES.has(file))
  .map((file) => file.slice(0, -'.ts'.length))
  .sort();

interface Run {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
}

function runExample(name: string): Promise<Run> {
  const script = join(EXAMPLES_DIR, 'dist', `${name}.js`);
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`pnpm build\` first`);
  const env = { ...process.env };
  delete env['REDIS_URLS'];
  const child = spawn(process.execPath, [script], { cwd: EXAMPLES_DIR, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: EXAMPLE_TIMEOUT_MS });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, output }));
  });
}

describe('every example', () => {
  it('finds the examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['acquire-and-release', 'demo', 'fencing-tokens']));
  });

  it.each(examples)(
    '%s runs on its own local nodes and exits by itself with status 0',
    async (name) => {
      const run = await runExample(name);
      if (run.status !== 0) throw new Error(`examples/${name}.ts exited with ${run.signal ?? run.status}:\n${run.output}`);
      expect(run.output.trim()).not.toBe('');
    },
    EXAMPLE_TIMEOUT_MS + 10_000,
  );
});
