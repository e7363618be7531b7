// Where S1's client CPU goes, on real nodes: each library in a process of its own, under V8's sampling
// profiler (`--cpu-prof`, every 100 µs), over 5 local redis-server nodes and ioredis 5. Prints the
// sampled time per acquire+release by where it was spent (native socket writes, Node's internals,
// ioredis, the library's own JavaScript, random bytes, the collector) and the library's and ioredis's
// costliest functions. The profiler slows every figure alike: compare the libraries with each other, and a
// build with an earlier one, not with the bench's µs. Run after `pnpm run build`.
// Usage: node bench/scripts/s1-profile.mjs [--cycles=16000] [--top=10] [redlock-core|redlock@5 ...]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIBRARIES = ['redlock-core', 'redlock@5'];
const WARM_UP_CYCLES = 2_000;

if (process.argv[2] === '--child') await child(process.argv[3], Number(process.argv[4]));
else driver();

function driver() {
  const flags = Object.fromEntries(process.argv.slice(2).filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')));
  const names = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const cycles = Number(flags.cycles ?? 16_000);
  const top = Number(flags.top ?? 10);
  for (const name of names.length > 0 ? names : LIBRARIES) {
    if (!LIBRARIES.includes(name)) throw new Error(`Unknown library ${name}: one of ${LIBRARIES.join(', ')}`);
    const directory = mkdtempSync(join(tmpdir(), 's1-profile-'));
    try {
      const self = fileURLToPath(import.meta.url);
      execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${directory}`, '--cpu-prof-interval=100', self, '--child', name, String(cycles)], { stdio: 'inherit' });
      const file = readdirSync(directory).find((entry) => entry.endsWith('.cpuprofile'));
      report(name, JSON.parse(readFileSync(join(directory, file), 'utf8')), cycles + WARM_UP_CYCLES, top);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }
}

/** Where a sampled frame's time goes: the categories printed. */
function categoryOf(frame) {
  const { url, functionName } = frame;
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'collector';
  if (functionName === '(program)') return 'V8 (program)';
  if (['writeUtf8String', 'writeLatin1String', 'writeBuffer', 'writev'].includes(functionName)) return 'socket writes';
  if (functionName === 'randomFillSync') return 'random bytes';
  if (/redlock-core|redlock-ioredis-adapter|\/redlock\/|redlock@5/.test(url)) return 'library';
  if (/ioredis|denque|redis-parser|standard-as-callback|cluster-key-slot/.test(url)) return 'ioredis';
  if (url.startsWith('node:')) return 'node internals';
  return 'other';
}

function report(name, profile, cycles, top) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byCategory = new Map();
  const byFunction = new Map();
  for (let index = 0; index < profile.samples.length; index += 1) {
    const { callFrame } = nodes.get(profile.samples[index]);
    const us = profile.timeDeltas[index] ?? 0;
    const category = categoryOf(callFrame);
    byCategory.set(category, (byCategory.get(category) ?? 0) + us);
    if (category === 'library' || category === 'ioredis') {
      const key = `${category}: ${callFrame.functionName || '(anonymous)'} ${callFrame.url.replace(/.*\//, '')}:${callFrame.lineNumber + 1}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    }
  }
  byCategory.delete('idle');
  const perCycle = (us) => (us / cycles).toFixed(1);
  const busy = [...byCategory.values()].reduce((sum, us) => sum + us, 0);
  console.log(`\n${name}: ${perCycle(busy)} µs sampled per acquire+release (${cycles} cycles, the warm-up's included)`);
  for (const [category, us] of [...byCategory].sort((a, b) => b[1] - a[1])) console.log(`  ${perCycle(us).padStart(7)}  ${category}`);
  console.log('  costliest functions of the library and ioredis:');
  for (const [key, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${perCycle(us).padStart(7)}  ${key}`);
}

async function child(name, cycles) {
  const [{ startRedisNodes }, { default: Redis }] = await Promise.all([import('local-redis-nodes'), import('ioredis5')]);
  const redis = await startRedisNodes({ count: 5 });
  const clients = redis.urls.map((url) => new Redis(url));
  let cycle;
  let close;
  if (name === 'redlock-core') {
    const [{ Redlock }, { IoredisAdapter }] = await Promise.all([import('redlock-core'), import('redlock-ioredis-adapter')]);
    const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)));
    cycle = async () => (await redlock.acquire('s1', 10_000)).release();
    close = () => redlock.close();
  } else {
    const { default: NodeRedlock } = await import('redlock5');
    const redlock = new NodeRedlock(clients, { retryCount: 0 });
    cycle = async () => (await redlock.acquire(['s1'], 10_000)).release();
    close = async () => undefined;
  }
  try {
    for (let index = 0; index < WARM_UP_CYCLES + cycles; index += 1) await cycle();
  } finally {
    await close();
    for (const client of clients) client.disconnect();
    await redis.stop();
  }
}
