// A request for several permits against 1-permit holders (issue 57, behaviour 2): four processes, each with
// a Redlock of its own, take 1 permit of 3 for 40 ms in turns, back to back, on 5 local nodes; once they run,
// this process asks for 3 of 3 (defaults, `waitMs` 10 s) and reports how long that took and how many
// attempts it made, per trial and the median. Run after `pnpm run build`; `--core=<a built index.js>`
// measures another build of the core (a copy of `packages/redlock-core/dist` made before a change, with
// the package's package.json beside its dist/ so that Node reads it as ESM).
// Usage: node bench/scripts/multi-permit-fairness.mjs [--trials=5] [--core=/tmp/core-before/dist/index.js]
import { fork } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedisNodes } from 'local-redis-nodes';
import { IoredisAdapter } from 'redlock-ioredis-adapter';

const flags = Object.fromEntries(process.argv.slice(2).filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')));
const TRIALS = Number(flags.trials ?? 5);
const { Redlock } = await import(flags.core ?? 'redlock-core');
const HOLDERS = 4;
const HOLD_MS = 40;
const LIMIT = 3;
const TTL_MS = 10_000;
const WAIT_MS = 10_000;

if (flags.role === 'holder') await runHolder();
else await runTrials();

/** The measuring process: the nodes, the trials, the figures. */
async function runTrials() {
  const nodes = await startRedisNodes({ count: 5, persistence: false });
  try {
    const results = [];
    for (let trial = 0; trial < TRIALS; trial += 1) {
      const result = await runTrial(nodes.urls, `bench:multi-permit:${process.pid}:${trial}`);
      results.push(result);
      console.error(`trial ${trial + 1}/${TRIALS}: ${JSON.stringify(result)}`);
    }
    const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const granted = results.filter((result) => result.granted);
    console.log(`3 of ${LIMIT} permits against ${HOLDERS} processes taking 1 for ${HOLD_MS} ms in turns, 5 nodes, ${flags.core ?? 'redlock-core'}`);
    console.log(`granted ${granted.length} of ${TRIALS}; took ms: ${results.map((result) => result.tookMs).join(', ')} (median ${median(results.map((result) => result.tookMs))}); attempts: ${results.map((result) => result.attempts).join(', ')}`);
  } finally {
    await nodes.stop();
  }
}

/** A Redlock on clients of its own to `urls`, and its semaphore of `resource`. */
function semaphoreOn(urls, resource) {
  const clients = urls.map((url) => new Redis(url, { maxRetriesPerRequest: 0 }));
  const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)));
  return { clients, redlock, semaphore: redlock.semaphore(resource, { limit: LIMIT }) };
}

/** One trial on `resource`: the holders' processes, then the request for 3 permits, timed. */
async function runTrial(urls, resource) {
  const holders = Array.from({ length: HOLDERS }, (_, index) =>
    fork(fileURLToPath(import.meta.url), [`--role=holder`, `--resource=${resource}`, `--start-ms=${index * 10}`, ...(flags.core ? [`--core=${flags.core}`] : [])], {
      env: { ...process.env, REDIS_URLS: urls.join(',') },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const holdCounts = holders.map((holder) => new Promise((resolve) => holder.on('message', (message) => message.holds !== undefined && resolve(message.holds))));
  await Promise.all(holders.map((holder) => new Promise((resolve) => holder.once('message', resolve))));
  const waiter = semaphoreOn(urls, resource);
  await Promise.all(waiter.clients.map((client) => client.ping()));
  await delay(300);
  const startedAt = performance.now();
  let result;
  try {
    const permit = await waiter.semaphore.acquire(TTL_MS, { permits: 3, waitMs: WAIT_MS });
    result = { granted: true, tookMs: Math.round(performance.now() - startedAt), attempts: permit.attempts };
    await permit.release();
  } catch (error) {
    result = { granted: false, tookMs: Math.round(performance.now() - startedAt), attempts: error.attemptCount, error: error.message.slice(0, 160) };
  }
  for (const holder of holders) holder.send('stop');
  result.holdsBy1PermitWorkers = (await Promise.all(holdCounts)).reduce((sum, count) => sum + count, 0);
  await waiter.redlock.close();
  await Promise.all(waiter.clients.map((client) => client.quit()));
  return result;
}

/** A holder's process: takes 1 permit for 40 ms in turns, back to back, until told to stop. */
async function runHolder() {
  const { clients, redlock, semaphore } = semaphoreOn(process.env.REDIS_URLS.split(','), flags.resource);
  await Promise.all(clients.map((client) => client.ping()));
  let isStopped = false;
  process.on('message', () => (isStopped = true));
  process.send('ready');
  await delay(Number(flags['start-ms']));
  let holds = 0;
  while (!isStopped) {
    const permit = await semaphore.acquire(TTL_MS, { retryCount: Infinity, waitMs: 2_000 }).catch(() => undefined);
    if (permit === undefined) continue;
    holds += 1;
    await delay(HOLD_MS);
    await permit.release().catch(() => undefined);
  }
  await redlock.close();
  await Promise.all(clients.map((client) => client.quit()));
  process.send({ holds }, () => process.disconnect());
}
