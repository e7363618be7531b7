// A redis-server whose instructions valgrind counts: what redis-instructions.mjs and
// acquire-script-instructions.mjs measure the nodes' work with.
import { spawn } from 'node:child_process';

/** A redis-server under cachegrind on a free loopback port; `instructions` resolves with its count once it exits. */
export async function startCountedServer() {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const child = spawn(
      'valgrind',
      ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--hz', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const isReady = await new Promise((resolve) => {
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (stdout.includes('Ready to accept')) resolve(true);
      });
      void exited.then(() => resolve(false));
    });
    if (!isReady) continue; // The port was taken: try another.
    const instructions = exited.then(() => Number(/I\s+refs:\s+([\d,]+)/.exec(stderr)?.[1]?.replace(/,/g, '') ?? NaN));
    return { port, child, instructions };
  }
}
