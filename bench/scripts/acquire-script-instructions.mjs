// Redis instructions per call of the acquire scripts of a queued waiter (a deterministic measure, unlike CPU
// time on a shared machine): one redis-server under valgrind (cachegrind) runs each case, and a short run is
// subtracted from a long one so that start-up cancels out. A lock: a refused acquire (another owner holds
// the key), and a granted one (the key deleted after each). A semaphore of limit 3 with 2 slots taken by
// others: a refused acquire when the third is taken too, else an acquire granted plus its release. Each call
// sends a ticket of one of 7 members, so most refusals find their member queued already. Needs valgrind;
// about 80 s.
// Usage: node bench/scripts/acquire-script-instructions.mjs   (after `pnpm run build`)
import { Redis } from 'ioredis';
import { acquireArgsOf, acquireScript } from '../../packages/redlock-core/dist/scripts/acquire.js';
import { permitAcquireScript } from '../../packages/redlock-core/dist/scripts/permit-acquire.js';
import { permitReleaseScript } from '../../packages/redlock-core/dist/scripts/permit-release.js';
import { startCountedServer } from './counted-redis-server.mjs';

const [SHORT_CALLS, LONG_CALLS] = [500, 2_500];
const CASES = {
  'a refused lock acquire': { setUp: (client) => client.set('lock', 'token-of-another-owner', 'PX', 1e9), call: lockCall(0) },
  'a granted lock acquire (then deleted)': { setUp: async () => undefined, call: lockCall(1) },
  'a refused permit acquire': { setUp: (client) => semaphoreWithOthers(client, 3), call: permitCall(false) },
  'a granted permit acquire plus its release': { setUp: (client) => semaphoreWithOthers(client, 2), call: permitCall(true) },
};
for (const [what, { setUp, call }] of Object.entries(CASES)) {
  const instructions = (await countInstructions(setUp, call, LONG_CALLS)) - (await countInstructions(setUp, call, SHORT_CALLS));
  console.log(`${what}: ${Math.round(instructions / (LONG_CALLS - SHORT_CALLS))} Redis instructions`);
}

/** The ticket of call `index`: one of 7 members, each waiting since a fixed time. */
function ticketOf(index) {
  return `${1_000 + (index % 7)}:member-${index % 7}`;
}

/** A lock acquire of the key `lock` that must reply `expected`; a granted one deletes the key again. */
function lockCall(expected) {
  return async (client, index) => {
    const reply = await client.evalsha(acquireScript.sha1, 1, 'lock', ...acquireArgsOf(`token-${index}`, 10_000, 0, false, ticketOf(index)));
    if (reply !== expected) throw new Error(`Unexpected reply ${JSON.stringify(reply)} to a lock acquire`);
    if (expected === 1) await client.del('lock');
  };
}

/** A semaphore `pool` of limit 3 with `taken` slots held by others for good. */
async function semaphoreWithOthers(client, taken) {
  const expiry = String(Date.now() + 1e9);
  const slots = Array.from({ length: taken }, (_, slot) => [String(slot + 1), `${expiry}:other-${slot + 1}`]).flat();
  await client.hset('pool', 'limit', '3', ...slots);
  await client.pexpire('pool', 1e9);
}

/** A permit acquire of `pool` that must be granted (then released) or refused. */
function permitCall(isGranted) {
  return async (client, index) => {
    const token = `token-${index}`;
    const ticket = ticketOf(index);
    const reply = await client.evalsha(permitAcquireScript.sha1, 1, 'pool', token, '10000', '1', '3', '0', '3', '', '0', ticket);
    if (reply[0] !== (isGranted ? 1 : 0)) throw new Error(`Unexpected reply ${JSON.stringify(reply)} to a permit acquire`);
    if (isGranted) await client.evalsha(permitReleaseScript.sha1, 1, 'pool', token, '', ticket);
  };
}

/** The instructions a fresh node executes in all while it runs `calls` calls after `setUp`. */
async function countInstructions(setUp, call, calls) {
  const server = await startCountedServer();
  const client = new Redis({ host: '127.0.0.1', port: server.port });
  try {
    for (const script of [acquireScript, permitAcquireScript, permitReleaseScript]) await client.script('LOAD', script.source);
    await setUp(client);
    for (let index = 0; index < calls; index += 1) await call(client, index);
  } finally {
    client.disconnect();
    server.child.kill('SIGTERM');
  }
  return server.instructions;
}
