// Redis instructions per call of the permit scripts (a deterministic measure, unlike CPU time on a shared
// machine): one redis-server under valgrind (cachegrind) runs a semaphore of limit 3 with 2 slots taken by
// others; a refused acquire when the third is taken too, else an acquire granted plus its release. A short
// run is subtracted from a long one so that start-up cancels out. Needs valgrind; about 40 s.
// Usage: node bench/scripts/permit-script-instructions.mjs   (after `pnpm run build`)
import { Redis } from 'ioredis';
import { permitAcquireScript } from '../../packages/redlock-core/dist/scripts/permit-acquire.js';
import { permitReleaseScript } from '../../packages/redlock-core/dist/scripts/permit-release.js';
import { startCountedServer } from './counted-redis-server.mjs';

const [SHORT_CALLS, LONG_CALLS] = [500, 2_500];
for (const mode of ['refused', 'granted']) {
  const instructions = (await countInstructions(mode, LONG_CALLS)) - (await countInstructions(mode, SHORT_CALLS));
  const what = mode === 'refused' ? 'a refused acquire' : 'an acquire granted plus its release';
  console.log(`${what}: ${Math.round(instructions / (LONG_CALLS - SHORT_CALLS))} Redis instructions`);
}

/** The instructions a fresh node executes in all while it runs `calls` acquires (`mode`) of a queued waiter. */
async function countInstructions(mode, calls) {
  const server = await startCountedServer();
  const client = new Redis({ host: '127.0.0.1', port: server.port });
  try {
    const expiry = String(Date.now() + 1e9);
    await client.hset('pool', 'limit', '3', '1', `${expiry}:other-1`, '2', `${expiry}:other-2`, ...(mode === 'refused' ? ['3', `${expiry}:other-3`] : []));
    await client.pexpire('pool', 1e9);
    for (const script of [permitAcquireScript, permitReleaseScript]) await client.script('LOAD', script.source);
    for (let index = 0; index < calls; index += 1) {
      const token = `token-${index}`;
      const ticket = `${Date.now()}:member-${index % 7}`;
      const reply = await client.evalsha(permitAcquireScript.sha1, 1, 'pool', token, '10000', '1', '3', '0', '3', '', '0', ticket);
      if (reply[0] !== (mode === 'refused' ? 0 : 1)) throw new Error(`Unexpected reply ${JSON.stringify(reply)} to a ${mode} acquire`);
      if (mode === 'granted') await client.evalsha(permitReleaseScript.sha1, 1, 'pool', token, '', ticket);
    }
  } finally {
    client.disconnect();
    server.child.kill('SIGTERM');
  }
  return server.instructions;
}
