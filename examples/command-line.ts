// Shows the `redlock` command line: three shell jobs take turns on one resource, `-n` gives up at once
// with 75, and a job whose lock is lost is stopped and reported with 76. Run: `pnpm run build && node examples/dist/command-line.js`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
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

try {
  console.log(`\nredlock over ${nodes.urls.length} nodes: REDLOCK_NODES=${env.REDLOCK_NODES}`);

  console.log('\n1. Three jobs start at once on "reports:nightly"; each runs alone, in turn');
  const job = 'echo "  $JOB starts"; sleep 0.3; echo "  $JOB ends"';
  const statuses = await Promise.all(
    ['job-a', 'job-b', 'job-c'].map((name) => redlock(['--prefix', 'lock:', 'reports:nightly', '-c', job], { JOB: name })),
  );
  console.log(`   exit statuses: ${statuses.join(', ')}`);

  console.log('\n2. While a job holds the lock, `redlock -n` does not wait: it exits 75');
  const holder = redlock(['--prefix', 'lock:', 'reports:nightly', 'sleep', '1']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  console.log(`   redlock -n exited ${await redlock(['--prefix', 'lock:', '-n', 'reports:nightly', 'echo', 'never printed'])}`);
  console.log(`   the holder exited ${await holder}`);

  console.log('\n3. The lock is lost while a job runs (its keys are deleted): the job is stopped, redlock exits 76');
  // `exec`, so that the SIGTERM reaches the job itself: it goes to the command only, and a shell that
  // dies would leave its `sleep` running (and holding our stdout) for a minute.
  const lost = redlock(['--prefix', 'lock:', '--ttl', '2s', 'reports:nightly', '-c', 'echo "  the job starts"; exec sleep 60']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  await Promise.all(nodes.clients.map((client) => client.del('lock:reports:nightly').catch(() => 0)));
  console.log(`   redlock exited ${await lost}`);
} finally {
  await nodes.close();
}
