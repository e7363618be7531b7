// What V8's compiler costs a contended process, window by window from its start (issue 76: S3's first round
// and the semaphore's early windows read high). One contender runs in a child process under V8's
// `--trace-opt --trace-deopt-verbose`: 8 workers, each with its own clients and `Redlock` as separate processes
// would have, take a semaphore of 3 (`semaphore`), a lock (`lock`), or node-redlock 5's lock at its defaults
// (`redlock5`), hold it about 1 ms and ask again. The child prints a line at the end of each window; this
// script sums what V8 printed before it: the time TurboFan took to compile (its three phases, "took a, b, c
// ms"; most of it on a background thread, which `process.cpuUsage()` counts), how many compilations, and the
// deoptimizations, those in redlock-core's files apart. Beside them, the window's acquisitions a second and
// client CPU per acquisition, and the compile time per acquisition, the share of that CPU; then the functions
// compiled after the first window, longest first (`--top=N`, 15 by default): what warms late. The traces cost
// some CPU of their own: compare runs of this script, not its CPU with the bench's.
// Usage: node bench/scripts/compile-time.mjs [--contender=semaphore|lock|redlock5] [--windows=8] [--window-ms=2000] [--top=15]
// (after `pnpm run build`; about windows × window-ms plus 2 s). Needs `stdbuf` (coreutils), so that V8's lines
// and the child's reach this script in the order they were written.
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const flags = Object.fromEntries(process.argv.slice(2).filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')));
const CONTENDER = flags.contender ?? 'semaphore';
const WINDOWS = Number(flags.windows ?? 8);
const WINDOW_MS = Number(flags['window-ms'] ?? 2_000);
const WORKERS = 8;
const TTL_MS = 10_000;
const TOP = Number(flags.top ?? 15);
const MARK = 'compile-time window';

if (process.argv.includes('--child')) await runChild();
else await runParent();

/** Runs the contender and prints `MARK <window> <acquisitions> <client CPU µs>` after each window. */
async function runChild() {
  const { Redis } = await import('ioredis');
  const { startRedisNodes } = await import('local-redis-nodes');
  const nodes = await startRedisNodes({ count: 5, persistence: false });
  const workers = await Promise.all(Array.from({ length: WORKERS }, () => workerOf(nodes.urls.map((url) => new Redis(url)))));
  let acquisitions = 0;
  let isStopping = false;
  const loop = async (worker) => {
    while (!isStopping) {
      const release = await worker.acquire();
      acquisitions += 1;
      await delay(1);
      await release();
    }
  };
  const loops = workers.map(loop);
  for (let window = 0; window < WINDOWS; window += 1) {
    const [cpu, counted] = [process.cpuUsage(), acquisitions];
    await delay(WINDOW_MS);
    const { user, system } = process.cpuUsage(cpu);
    // Straight to the descriptor, as V8 writes its lines (line-buffered through `stdbuf`).
    writeSync(1, `${MARK} ${window} ${acquisitions - counted} ${user + system}\n`);
  }
  isStopping = true;
  await Promise.all(loops);
  await Promise.all(workers.map((worker) => worker.close()));
  await nodes.stop();
}

/** One worker of the contender, on its own clients: `acquire()` resolves with the release. */
async function workerOf(clients) {
  const close = async () => clients.forEach((client) => client.disconnect());
  if (CONTENDER === 'redlock5') {
    const { default: NodeRedlock } = await import('redlock5');
    const redlock = new NodeRedlock(clients);
    const acquire = async () => {
      const lock = await acquireRetrying(() => redlock.acquire(['bench:compile-time'], TTL_MS));
      return () => lock.release().catch(() => undefined);
    };
    return { acquire, close };
  }
  const { Redlock } = await import('redlock-core');
  const { IoredisAdapter } = await import('redlock-ioredis-adapter');
  const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)));
  const closeAll = async () => {
    await redlock.close();
    await close();
  };
  if (CONTENDER === 'lock') {
    const acquire = async () => {
      const lock = await acquireRetrying(() => redlock.acquire('bench:compile-time', TTL_MS));
      return () => lock.release();
    };
    return { acquire, close: closeAll };
  }
  if (CONTENDER !== 'semaphore') throw new Error(`Unknown --contender=${CONTENDER}: semaphore, lock or redlock5`);
  const semaphore = redlock.semaphore('bench:compile-time', { limit: 3 });
  const acquire = async () => {
    const permit = await acquireRetrying(() => semaphore.acquire(TTL_MS));
    return () => permit.release();
  };
  return { acquire, close: closeAll };
}

/** Asks again when a call gives up (a lock at its defaults may, under this contention): the loop goes on. */
async function acquireRetrying(acquire) {
  for (;;) {
    try {
      return await acquire();
    } catch {
      // Counted nowhere: this script reads the compiler, not the give-ups.
    }
  }
}

/** Runs the child under V8's traces and prints a row per window. */
async function runParent() {
  const child = spawn(
    'stdbuf',
    ['-oL', process.execPath, '--trace-opt', '--trace-deopt-verbose', fileURLToPath(import.meta.url), '--child', ...process.argv.slice(2)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const rows = [];
  /** Compile time and compilations by function name, after the first window. */
  const late = new Map();
  let window = { compileMs: 0, compilations: 0, ourDeopts: 0, otherDeopts: 0 };
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const took = /^\[completed compiling .* took ([\d.]+), ([\d.]+), ([\d.]+) ms\]/.exec(line);
      if (took !== null) {
        const ms = Number(took[1]) + Number(took[2]) + Number(took[3]);
        window.compileMs += ms;
        window.compilations += 1;
        if (rows.length > 0) {
          const named = /<JSFunction ([^ >(][^ >]*)/.exec(line)?.[1];
          const name = named ?? '(closures)';
          const entry = late.get(name) ?? { ms: 0, count: 0 };
          late.set(name, { ms: entry.ms + ms, count: entry.count + 1 });
        }
      } else if (line.includes(';;; deoptimize at <')) {
        if (/;;; deoptimize at <[^>]*redlock-core\/dist\//.test(line)) window.ourDeopts += 1;
        else window.otherDeopts += 1;
      } else if (line.startsWith(MARK)) {
        const [index, acquisitions, cpuUs] = line.slice(MARK.length + 1).split(' ');
        rows.push({ index: Number(index), acquisitions: Number(acquisitions), cpuUs: Number(cpuUs), ...window });
        window = { compileMs: 0, compilations: 0, ourDeopts: 0, otherDeopts: 0 };
      }
    }
  });
  const code = await new Promise((resolve, reject) => {
    child.on('error', (error) => reject(error.code === 'ENOENT' ? new Error('compile-time.mjs needs `stdbuf` (coreutils) on the PATH') : error));
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`The child exited with ${code}`);
  console.log(`${CONTENDER}: ${WORKERS} workers, windows of ${WINDOW_MS} ms (V8 traces on)`);
  console.log('window  acq/s  CPU µs/acq  compiled  compile ms  compile µs/acq  deopts ours/others');
  for (const row of rows) {
    const perAcquisition = (value) => (row.acquisitions === 0 ? '-' : (value / row.acquisitions).toFixed(0));
    console.log(
      [
        String(row.index + 1).padStart(6),
        String(Math.round((row.acquisitions * 1_000) / WINDOW_MS)).padStart(6),
        perAcquisition(row.cpuUs).padStart(11),
        String(row.compilations).padStart(9),
        row.compileMs.toFixed(0).padStart(11),
        perAcquisition(row.compileMs * 1_000).padStart(15),
        `${row.ourDeopts}/${row.otherDeopts}`.padStart(19),
      ].join(' '),
    );
  }
  console.log(`\nCompiled after the first window, by function name (V8 names no closure), the ${TOP} longest:`);
  for (const [name, { ms, count }] of [...late].sort(([, a], [, b]) => b.ms - a.ms).slice(0, TOP)) {
    console.log(`${ms.toFixed(1).padStart(8)} ms ${String(count).padStart(3)}× ${name}`);
  }
}
