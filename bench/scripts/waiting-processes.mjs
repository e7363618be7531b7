// Many processes taking one lock in turn (not part of `pnpm bench`; run after a build):
// `node bench/scripts/waiting-processes.mjs [--processes=32] [--window-ms=5000] [--rounds=3]`.
// Each "process" is a Redlock with clients of its own on 5 local nodes, at the defaults (prompt hand-off on),
// looping acquire, ~1 ms hold, release, as S3 does with 8. Per round it prints acquisitions per second,
// give-ups, client CPU per acquisition, and per acquisition the woken attempts that found the lock taken at
// the lead node (the herd a release wakes; `redlock-core.attempt` channel) and the commands the nodes ran
// (INFO commandstats, scripts' inner commands included).
import diagnosticsChannel from 'node:diagnostics_channel';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { startRedisNodes } from 'local-redis-nodes';
import { connectClients } from '../dist/bench-nodes.js';

const { values } = parseArgs({ options: { processes: { type: 'string', default: '32' }, 'window-ms': { type: 'string', default: '5000' }, rounds: { type: 'string', default: '3' } } });
const processes = Number(values.processes);
const windowMs = Number(values['window-ms']);
const rounds = Number(values.rounds);

let heldAtLead = 0;
diagnosticsChannel.tracingChannel('redlock-core.attempt').subscribe({
  start() {},
  end() {},
  asyncStart() {},
  error() {},
  asyncEnd(context) {
    if (context.result?.outcome === 'held-at-lead') heldAtLead += 1;
  },
});

const nodes = await startRedisNodes({ count: 5 });
const monitors = await connectClients(nodes.urls);
/** Commands the nodes ran so far, all nodes together (INFO and CONFIG aside). */
async function commandCount() {
  const infos = await Promise.all(monitors.map((monitor) => monitor.info('commandstats')));
  let count = 0;
  for (const info of infos) for (const [, command, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (command !== 'info' && !command.startsWith('config')) count += Number(calls);
  return count;
}

try {
  const instances = [];
  for (let index = 0; index < processes; index += 1) {
    const clients = await connectClients(nodes.urls);
    instances.push({ clients, redlock: new Redlock(clients.map((client) => new IoredisAdapter(client))) });
  }
  console.log(`${processes} processes (a Redlock each), one resource, ~1 ms holds, ${windowMs} ms windows, 5 nodes`);
  for (let round = 1; round <= rounds; round += 1) {
    const resource = `waiting-processes:${round}`;
    let acquisitions = 0;
    let giveUps = 0;
    heldAtLead = 0;
    const commandsBefore = await commandCount();
    const cpuBefore = process.cpuUsage();
    const end = performance.now() + windowMs;
    await Promise.all(
      instances.map(async ({ redlock }) => {
        while (performance.now() < end) {
          let lock;
          try {
            lock = await redlock.acquire(resource, 10_000);
          } catch {
            giveUps += 1;
            continue;
          }
          acquisitions += 1;
          await sleep(1);
          await lock.release();
        }
      }),
    );
    const cpu = process.cpuUsage(cpuBefore);
    const commands = (await commandCount()) - commandsBefore;
    console.log(
      `round ${round}: ${Math.round((acquisitions * 1000) / windowMs)} acq/s, ${giveUps} give-ups, ` +
        `${Math.round((cpu.user + cpu.system) / acquisitions)} µs client CPU/acq, ` +
        `${(heldAtLead / acquisitions).toFixed(2)} woken attempts found it taken/acq, ${(commands / acquisitions).toFixed(1)} commands/acq`,
    );
  }
  for (const { redlock, clients } of instances) {
    await redlock.close();
    for (const client of clients) client.disconnect();
  }
} finally {
  for (const monitor of monitors) monitor.disconnect();
  await nodes.stop();
}
