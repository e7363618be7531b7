// Many processes taking one lock in turn (not part of `pnpm bench`; run after a build):
// `node bench/scripts/waiting-processes.mjs [--processes=32] [--window-ms=5000] [--rounds=3] [--tuned] [--semaphore=<limit>]
//  [--wake-pattern] [--commands] [--fair]`.
// Each "process" is a Redlock with clients of its own on 5 local nodes, at the defaults (prompt hand-off on),
// looping acquire, ~1 ms hold, release, as S3 does with 8 (`--processes=8`); `--tuned` runs S3 tuned's
// loop instead: 50 ms retries, a 10 ms pause after each release. Per round it prints acquisitions per second,
// give-ups, client CPU per acquisition, the commands the nodes ran (INFO commandstats, scripts' inner
// commands included) and the commands the clients sent, and per acquisition the attempts by how they went
// (`redlock-core.attempt` channel): `woken` ones asked the node that woke them first, and stopped there when
// it was taken (`taken-where-woken`); `full` ones asked every node at once (first tries, timed retries).
// `--semaphore=3` loops on a semaphore of that limit instead (`semaphore.mjs`'s workload with `--processes=8`);
// its attempts are not traced, so only the commands tell where its client CPU goes.
// `--wake-pattern`: a child process holds `PSUBSCRIBE redlock:wake:*` on every node for the whole run, as a
// GLIDE client with release notifications (or a monitoring tool) does; its CPU is its own, not counted here.
// `--fair`: the lock with `{ fair: true }` (not with `--semaphore`).
// `--commands`: per acquisition, the commands the clients sent by name (scripts by their name; the adapters'
// own subscriber connections' as `subscriber <name>`) and the wake messages those received.
import diagnosticsChannel from 'node:diagnostics_channel';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { startRedisNodes } from 'local-redis-nodes';
import { connectClients } from '../dist/bench-nodes.js';
import { createRequire } from 'node:module';
import { KNOWN_SCRIPTS } from '../../packages/redlock-core/dist/testing/fake-adapter.js';

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '32' },
    'window-ms': { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    tuned: { type: 'boolean', default: false },
    semaphore: { type: 'string' },
    'wake-pattern': { type: 'boolean', default: false },
    commands: { type: 'boolean', default: false },
    fair: { type: 'boolean', default: false },
  },
});
const processes = Number(values.processes);
const windowMs = Number(values['window-ms']);
const rounds = Number(values.rounds);
const pauseMs = values.tuned ? 10 : 0;
const options = values.tuned ? { retryDelayMs: 50, retryJitterMs: 0, retryCount: 200 } : {};
const limit = values.semaphore === undefined ? undefined : Number(values.semaphore);
/** One acquisition of the round's resource by `redlock`: a lock, or a permit of the semaphore. */
const take = (redlock, resource) =>
  limit === undefined ? redlock.acquire(resource, 10_000, values.fair ? { fair: true } : undefined) : redlock.semaphore(resource, { limit }).acquire(10_000);

/** Attempts of the current round by how they went, e.g. `woken taken-where-woken`. */
let attempts = new Map();
diagnosticsChannel.tracingChannel('redlock-core.attempt').subscribe({
  start() {},
  end() {},
  asyncStart() {},
  error() {},
  asyncEnd(context) {
    const key = `${context.isWoken ? 'woken' : 'full'} ${context.result?.outcome ?? 'error'}`;
    attempts.set(key, (attempts.get(key) ?? 0) + 1);
  },
});

/** With `--commands`: how many of each command the clients sent and messages they received, this round. */
const commandCounts = new Map();
if (values.commands) countCommands();

/**
 * Counts every command the adapters' ioredis clients send, their own subscriber connections' too, and every
 * message those receive, in `commandCounts`, by wrapping ioredis' `sendCommand` and `emit` for this process.
 */
function countCommands() {
  const { Redis } = createRequire(new URL('../../packages/redlock-ioredis-adapter/package.json', import.meta.url))('ioredis');
  const scriptNames = new Map(KNOWN_SCRIPTS.map((script) => [script.sha1, script.name]));
  const count = (name) => commandCounts.set(name, (commandCounts.get(name) ?? 0) + 1);
  const { sendCommand, emit } = Redis.prototype;
  Redis.prototype.sendCommand = function (command, ...rest) {
    const name = command.name === 'evalsha' ? (scriptNames.get(String(command.args[0])) ?? 'evalsha') : command.name;
    count(String(this.options.connectionName ?? '').endsWith('redlock-subscriber') ? `subscriber ${name}` : name);
    return sendCommand.call(this, command, ...rest);
  };
  Redis.prototype.emit = function (event, ...rest) {
    if (event === 'messageBuffer') count('wake message received');
    return emit.call(this, event, ...rest);
  };
}

const nodes = await startRedisNodes({ count: 5 });
const monitors = await connectClients(nodes.urls);
/** Commands the nodes ran so far, all nodes together (INFO and CONFIG aside). */
async function commandCount() {
  const infos = await Promise.all(monitors.map((monitor) => monitor.info('commandstats')));
  let count = 0;
  for (const info of infos) for (const [, command, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (command !== 'info' && !command.startsWith('config')) count += Number(calls);
  return count;
}
/** A child process subscribed to every wake channel by pattern on every node; resolves once it is. */
async function holdWakePattern(urls) {
  const code = `import { Redis } from 'ioredis';
    const clients = ${JSON.stringify(urls)}.map((url) => new Redis(url));
    await Promise.all(clients.map((client) => client.psubscribe('redlock:wake:*')));
    process.stdout.write('subscribed\\n');
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: new URL('..', import.meta.url), stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  if (!String(line).includes('subscribed')) throw new Error(`The pattern subscriber said ${line}`);
  return () => child.stdin.end();
}

const stopPattern = values['wake-pattern'] ? await holdWakePattern(nodes.urls) : undefined;
try {
  const instances = [];
  for (let index = 0; index < processes; index += 1) {
    const clients = await connectClients(nodes.urls);
    instances.push({ clients, redlock: new Redlock(clients.map((client) => new IoredisAdapter(client)), options) });
  }
  // The commands the clients send, counted where each client sends them.
  let sent = 0;
  for (const { clients } of instances) {
    for (const client of clients) {
      const sendCommand = client.sendCommand.bind(client);
      client.sendCommand = (...args) => {
        sent += 1;
        return sendCommand(...args);
      };
    }
  }
  const loop = values.tuned ? 'S3 tuned: 50 ms retries, a 10 ms pause after each release' : 'the defaults';
  const what = limit === undefined ? 'one lock' : `a semaphore of limit ${limit}`;
  const pattern = stopPattern === undefined ? '' : ', a pattern subscriber to every wake channel on each node';
  console.log(`${processes} processes (a Redlock each), ${what}, ~1 ms holds, ${loop}, ${windowMs} ms windows, 5 nodes${pattern}`);
  for (let round = 1; round <= rounds; round += 1) {
    const resource = `waiting-processes:${round}`;
    let acquisitions = 0;
    let giveUps = 0;
    attempts = new Map();
    commandCounts.clear();
    const sentBefore = sent;
    const commandsBefore = await commandCount();
    const cpuBefore = process.cpuUsage();
    const end = performance.now() + windowMs;
    await Promise.all(
      instances.map(async ({ redlock }) => {
        while (performance.now() < end) {
          let lock;
          try {
            lock = await take(redlock, resource);
          } catch {
            giveUps += 1;
            continue;
          }
          acquisitions += 1;
          await sleep(1);
          await lock.release();
          if (pauseMs > 0) await sleep(pauseMs);
        }
      }),
    );
    const cpu = process.cpuUsage(cpuBefore);
    const clientCommands = sent - sentBefore;
    const commands = (await commandCount()) - commandsBefore;
    const perAcquisition = (count) => (count / acquisitions).toFixed(2);
    console.log(
      `round ${round}: ${Math.round((acquisitions * 1000) / windowMs)} acq/s, ${giveUps} give-ups, ` +
        `${Math.round((cpu.user + cpu.system) / acquisitions)} µs client CPU/acq, ` +
        `${perAcquisition(clientCommands)} client commands/acq, ${(commands / acquisitions).toFixed(1)} node commands/acq`,
    );
    const byOutcome = [...attempts].sort(([a], [b]) => a.localeCompare(b)).map(([key, count]) => `${key} ${perAcquisition(count)}`);
    console.log(`  attempts/acq: ${byOutcome.join(', ')}`);
    if (values.commands) {
      const counts = [...commandCounts].sort(([, a], [, b]) => b - a).map(([name, count]) => `${name} ${perAcquisition(count)}`);
      console.log(`  commands/acq: ${counts.join(', ')}`);
    }
  }
  for (const { redlock, clients } of instances) {
    await redlock.close();
    for (const client of clients) client.disconnect();
  }
} finally {
  stopPattern?.();
  for (const monitor of monitors) monitor.disconnect();
  await nodes.stop();
}
