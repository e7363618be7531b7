// Redis CPU per acquire+release on 5 local nodes, by release script: the nodes' own CPU time (INFO cpu,
// user + system) over N serial cycles of a plain SET NX PX on every node followed by the release script on
// every node, in interleaved rounds, medians. The floor's compare-and-delete is the yardstick; `prefix
// argument` is the release script as it was until 2026-11-24, given the channel prefix with every call.
// Usage: node bench/scripts/release-script-cpu.mjs [cycles per round] [rounds]   (after `pnpm run build`)
import { connectClients, startBenchNodes } from '../dist/bench-nodes.js';
import { quietReleaseScript, RELEASE_CHANNEL_PREFIX, releaseScript } from '../../packages/redlock-core/dist/scripts/release.js';

const [cycles, rounds] = [Number(process.argv[2] ?? 15_000), Number(process.argv[3] ?? 5)];
const PREFIX_ARGUMENT_SOURCE = `local token, channelPrefix = ARGV[1], ARGV[2] or ''
local deleted = 0
for i = 1, #KEYS do
  if redis.pcall('GET', KEYS[i]) == token then
    deleted = deleted + redis.call('DEL', KEYS[i])
  end
  if channelPrefix ~= '' then
    redis.call('PUBLISH', channelPrefix .. KEYS[i], '1')
  end
end
return deleted`;
/** Each variant: its source and the arguments after the token. */
const variants = {
  'floor compare-and-delete': [`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, []],
  'prefix argument, announcing': [PREFIX_ARGUMENT_SOURCE, [RELEASE_CHANNEL_PREFIX]],
  'release (announcing)': [releaseScript.source, []],
  'prefix argument, quiet': [PREFIX_ARGUMENT_SOURCE, ['']],
  'quiet release': [quietReleaseScript.source, []],
};
const nodes = await startBenchNodes();
const clients = await connectClients(nodes.urls('near'));
const shas = {};
for (const [name, [source]] of Object.entries(variants)) {
  for (const client of clients) shas[name] = await client.script('LOAD', source);
}
const redisCpuSeconds = async () => {
  let total = 0;
  for (const client of clients) {
    const info = await client.info('cpu');
    total += Number(/used_cpu_user:([\d.]+)/.exec(info)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)[1]);
  }
  return total;
};
let counter = 0;
const cycleOf = (name) => async () => {
  const token = `release-script-cpu:${(counter += 1)}`;
  await Promise.all(clients.map((client) => client.set('release-script-cpu', token, 'PX', 10_000, 'NX')));
  await Promise.all(clients.map((client) => client.evalsha(shas[name], 1, 'release-script-cpu', token, ...variants[name][1])));
};
const perCycle = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
for (let round = 0; round < rounds; round += 1) {
  for (const name of Object.keys(variants)) {
    const cycle = cycleOf(name);
    for (let index = 0; index < 1_000; index += 1) await cycle();
    const before = await redisCpuSeconds();
    for (let index = 0; index < cycles; index += 1) await cycle();
    perCycle[name].push(((await redisCpuSeconds()) - before) * 1e6 / cycles);
  }
}
for (const [name, values] of Object.entries(perCycle)) {
  const sorted = [...values].sort((a, b) => a - b);
  console.log(`${name.padEnd(28)} Redis CPU µs per cycle: median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} (${sorted.map((value) => value.toFixed(1)).join(', ')})`);
}
for (const client of clients) client.disconnect();
await nodes.stop();
