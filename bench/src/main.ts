// Benchmarks redlock-core against the floor and peer libraries on 5 local redis-server nodes.
// Run: `npm run bench` (full, about 50 minutes) or `npm run bench -- --quick` (about 4 minutes); `-- --help` for options.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NODE_COUNT, startBenchNodes } from './bench-nodes.js';
import { ContenderPool } from './contender-pool.js';
import { ALL_CONTENDERS } from './contenders/all-contenders.js';
import { type BenchPlan, FULL_PLAN, QUICK_PLAN } from './plan.js';
import { buildReport, formatReport, writeJsonReport } from './report.js';
import { s1SingleLoop } from './scenarios/s1-single-loop.js';
import { s2ConcurrentLoops } from './scenarios/s2-concurrent-loops.js';
import { s3Defaults, s3Tuned } from './scenarios/s3-contention.js';
import { s4FarNode } from './scenarios/s4-far-node.js';
import { s5Memory } from './scenarios/s5-memory.js';
import { s6Topologies } from './scenarios/s6-topologies.js';
import { SCENARIO_IDS, type ScenarioId } from './scenario-ids.js';
import type { Scenario, ScenarioResult } from './scenario.js';
import { checkTargets } from './targets.js';

const SCENARIOS: readonly Scenario[] = [s1SingleLoop, s2ConcurrentLoops, s3Defaults, s3Tuned, s4FarNode, s5Memory, ...s6Topologies];

const USAGE = `Usage: npm run bench -- [--quick] [--json] [--scenarios=S1,S3-tuned] [--contenders=floor,redlock-core] [--ioredis=5,6] [--rounds=N] [--s3-rounds=N] [--s3-shared-clients]

  --quick               short samples, one or two rounds: under a minute, rougher figures
  --json                print the JSON report on stdout instead of the tables (no file is written)
  --scenarios           run only these, of ${SCENARIO_IDS.join(', ')};
                        a prefix before a dash picks every one it starts (S6: S6-T1 to S6-T4)
  --contenders          run only these, of ${ALL_CONTENDERS.map((contender) => contender.name).join(', ')}
  --ioredis             run the ioredis contenders on these majors only (default 5,6); those on 5 end in @io5
                        and, like the autopipelined peers and the node-redis and GLIDE floors and peers,
                        run in S1-S4 only
  --rounds              rounds of S1, S2 and S4 instead of the plan's (e.g. --quick --rounds=9: an
                        interval for the paired targets, which needs 6 rounds or more, in a few minutes)
  --s3-rounds           rounds of both S3s instead of the plan's 3 (samples stay 5 s and 3 s: long enough
                        for a waiter at the defaults to give up); 9 or more give an interval for S3's ratios
  --s3-shared-clients   S3's 8 workers share one lock instance and its clients (one process with
                        concurrent jobs) instead of one each (separate processes)

Without --json, prints the tables and writes the JSON report to bench/results/<date>.json.`;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    scenarios: { type: 'string' },
    contenders: { type: 'string' },
    ioredis: { type: 'string', default: '5,6' },
    rounds: { type: 'string' },
    's3-rounds': { type: 'string' },
    's3-shared-clients': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const plan: BenchPlan = withS3Rounds(
  withRounds({ ...(args.quick ? QUICK_PLAN : FULL_PLAN), s3Clients: args['s3-shared-clients'] ? 'shared' : 'own' }, args.rounds),
  args['s3-rounds'],
);
const scenarios = pick(SCENARIOS, args.scenarios, (scenario) => scenario.id, 'scenario', true);
const ioredisMajors = pick(['5', '6'], args.ioredis, (major) => major, 'ioredis major');
const contenders = pick(ALL_CONTENDERS, args.contenders, (contender) => contender.name, 'contender').filter(
  ({ client }) => (client !== 'ioredis5' || ioredisMajors.includes('5')) && (client !== 'ioredis6' || ioredisMajors.includes('6')),
);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const startedAt = new Date();
// Read before the run: the packages may change under a long run, and the build measured is this one.
const commit = describeCommit();
const [loadAtStart = 0] = loadavg();
if (loadAtStart > 0.5) log(`Warning: load average ${loadAtStart.toFixed(2)} before the run; other processes will skew the figures`);
log(`Starting ${NODE_COUNT} redis-server nodes on 127.0.0.1`);
const nodes = await startBenchNodes();
const pool = new ContenderPool(nodes);
const results = new Map<ScenarioId, ScenarioResult>();
try {
  for (const scenario of scenarios) {
    const scenarioStart = performance.now();
    const runHere = contenders.filter((contender) => contender.scenarios?.includes(scenario.id) ?? true);
    results.set(scenario.id, await scenario.run({ contenders: runHere, pool, nodes, plan, earlier: results, log }));
    log(`${scenario.id}: done in ${((performance.now() - scenarioStart) / 1000).toFixed(1)} s`);
  }
} finally {
  await pool.close();
  await nodes.stop();
}

const report = buildReport(
  {
    date: startedAt.toISOString(),
    command: process.argv.length > 2 ? ['npm run bench --', ...process.argv.slice(2)].join(' ') : 'npm run bench',
    commit,
    plan,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      os: `${platform()} ${release()}`,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      redis: nodes.redisVersion,
      // One-minute load averages: anything else running on the machine shows up here and in the figures.
      loadBefore: round2(loadAtStart),
      loadAfter: round2(loadavg()[0] ?? 0),
    },
  },
  [...results.values()],
  checkTargets(results),
);
if (args.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  console.log(formatReport(report));
  const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const path = join(fileURLToPath(new URL('../results/', import.meta.url)), `${stamp}${args.quick ? '-quick' : ''}.json`);
  await writeJsonReport(report, path);
  log(`\nJSON report: ${path}`);
}

/** The commit measured, e.g. `1ea0997`, with `+changes` when the packages' sources differ from it. */
function describeCommit(): string {
  try {
    const packagesDir = fileURLToPath(new URL('../../packages/', import.meta.url));
    const git = (...args: string[]): string =>
      execFileSync('git', ['-C', packagesDir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--', '*/src') === '' ? commit : `${commit}+changes`;
  } catch {
    return 'unknown';
  }
}

/** `plan` with `rounds` rounds of S1, S2 and S4 (the scenarios with paired targets), when given. */
function withRounds(plan: BenchPlan, rounds: string | undefined): BenchPlan {
  if (rounds === undefined) return plan;
  const count = roundCountOf('--rounds', rounds);
  return { ...plan, s1: { ...plan.s1, rounds: count }, s2: { ...plan.s2, rounds: count }, s4: { ...plan.s4, rounds: count } };
}

/** `plan` with `rounds` rounds of both S3s, when given. */
function withS3Rounds(plan: BenchPlan, rounds: string | undefined): BenchPlan {
  if (rounds === undefined) return plan;
  const count = roundCountOf('--s3-rounds', rounds);
  return { ...plan, s3Defaults: { ...plan.s3Defaults, rounds: count }, s3Tuned: { ...plan.s3Tuned, rounds: count } };
}

/** The positive integer an option's value names; exits with the usage otherwise. */
function roundCountOf(option: string, value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) {
    console.error(`Expected ${option} to be a positive integer, got \`${value}\`\n\n${USAGE}`);
    process.exit(2);
  }
  return count;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * The items named in a comma-separated `--option`, in their own order; all of them when it is absent. With
 * `byPrefix`, a name also picks every item it starts followed by a dash.
 */
function pick<T>(items: readonly T[], list: string | undefined, nameOf: (item: T) => string, what: string, byPrefix = false): T[] {
  if (list === undefined) return [...items];
  const wanted = list.split(',').map((name) => name.trim().toLowerCase());
  // For scenarios, `S6` picks S6-T1 to S6-T4 and `S3` both S3s; contender names are taken whole.
  const matches = (item: T, name: string): boolean => {
    const itemName = nameOf(item).toLowerCase();
    return itemName === name || (byPrefix && itemName.startsWith(`${name}-`));
  };
  const unknown = wanted.filter((name) => !items.some((item) => matches(item, name)));
  if (unknown.length > 0) {
    console.error(`Unknown ${what}: ${unknown.join(', ')}\n\n${USAGE}`);
    process.exit(2);
  }
  return items.filter((item) => wanted.some((name) => matches(item, name)));
}
