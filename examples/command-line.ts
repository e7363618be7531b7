// Shows the `redlock` command line: three shell jobs take turns on one resource, `-n` gives up at once
// with 75, and a job whose lock is lost is stopped and reported with 76. Run: `pnpm run build && node examples/dist/command-line.js`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openExampleNodes } from './redis-nodes.js';

/** The built CLI; in a project of your own it is the `redlock` bin of the `redlock-cli` package. */
const REDLOCK = fileURLToPath(new URL('../../packages/redlock-cli/dist/main.js', import.meta.url));
if (!existsSync(REDLOCK)) throw new Error(`${REDLOCK} is missing: run \`pnpm run build\` at the repository root first`);

const nodes = await openExampleNodes(3);
const env = { ...process.env, REDLOCK_NODES: nodes.urls.join(',') };

/** Runs `redlock ...args` with the terminal's stdout and stderr, and resolves with its exit status. */
function redlock(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<number | null> {
  const child = spawn(process.execPath, [REDLOCK, ...args], { stdio: 'inherit', env: { ...env, ...extraEnv } });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Resolves once a quorum of the nodes holds `key`: the lock was acquired (a start takes longer on a busy machine). */
async function untilLocked(key: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const held = await Promise.all(nodes.clients.map((client) => client.exists(key).catch(() => 0)));
    if (held.filter((count) => count === 1).length >= 2) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${key} was not locked within 15 s`);
}

/** Says what happened, and makes the example fail when it is not what the step shows. */
function expectStatus(what: string, status: number | null, expected: number): void {
  console.log(`   ${what} exited ${status}`);
  if (status !== expected) throw new Error(`Expected ${what} to exit ${expected}, got ${status}`);
}

try {
  console.log(`\nredlock over ${nodes.urls.length} nodes: REDLOCK_NODES=${env.REDLOCK_NODES}`);

  console.log('\n1. Three jobs start at once on "reports:nightly"; each runs alone, in turn');
  const job = 'echo "  $JOB starts"; sleep 0.3; echo "  $JOB ends"';
  const statuses = await Promise.all(
    ['job-a', 'job-b', 'job-c'].map((name) => redlock(['--prefix', 'lock:', 'reports:nightly', '-c', job], { JOB: name })),
  );
  console.log(`   exit statuses: ${statuses.join(', ')}`);
  if (statuses.some((status) => status !== 0)) throw new Error('Expected every job to exit 0');

  console.log('\n2. While a job holds the lock, `redlock -n` does not wait: it exits 75');
  // The holder's job runs until the example says it is done: however long `redlock -n` takes to start.
  const done = join(await mkdtemp(join(tmpdir(), 'redlock-example-')), 'done');
  const holder = redlock(['--prefix', 'lock:', 'reports:nightly', '-c', 'while [ ! -e "$DONE" ]; do sleep 0.05; done'], { DONE: done });
  await untilLocked('lock:reports:nightly');
  expectStatus('redlock -n', await redlock(['--prefix', 'lock:', '-n', 'reports:nightly', 'echo', 'never printed']), 75);
  await writeFile(done, '');
  expectStatus('the holder', await holder, 0);
  await rm(dirname(done), { recursive: true });

  console.log('\n3. The lock is lost while a job runs (its keys are deleted): the job is stopped, redlock exits 76');
  const lost = redlock(['--prefix', 'lock:', '--ttl', '2s', 'reports:nightly', '-c', 'echo "  the job starts"; sleep 60']);
  await untilLocked('lock:reports:nightly');
  await Promise.all(nodes.clients.map((client) => client.del('lock:reports:nightly').catch(() => 0)));
  expectStatus('redlock', await lost, 76);
} finally {
  await nodes.close();
}
