// The weight of the packages as npm users get them, beside the peers (issue 58, item 2): packs redlock-core,
// redlock-ioredis-adapter and redlock-cli with pnpm (which applies publishConfig, as `pnpm publish` does),
// installs the tarballs with plain npm into a temporary project outside the workspace together with the
// peers of bench/package.json at its versions (node-redlock 5, redis-semaphore, @sesamecare-oss/redlock,
// redlock-universal), then, in one run:
//   - each package's unpacked size and file count, as installed (its own files, not its dependencies');
//   - interleaved rounds, each in a fresh order: `node -e 0`, then for each package a cold
//     `node -e "import('X')"` and `node -e "require('X')"`, and `redlock --help` as npm linked it (its
//     output read through a pipe, as `| less` or a script reads it). Each process is timed whole, wall
//     clock and CPU (bash's `EPOCHREALTIME` and `times`); a package's import or require time is its run
//     less the same round's `node -e 0`, and the figure is the median of those paired differences, so
//     that the machine's drift weighs on both alike. `redlock --help` is quoted whole, as a user waits.
// Prints a Markdown table and issue 58's targets, met or not. The temporary project is removed at the end.
// Usage: node bench/scripts/package-weight.mjs [--runs=21]   (after `pnpm run build`; about 1 min on 2 cores)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { publicPackages, ROOT_DIR } from '../../scripts/lib/public-packages.mjs';

const flags = Object.fromEntries(process.argv.slice(2).filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')));
/** Timed rounds; every command runs once per round. */
const RUNS = Number(flags.runs ?? 21);
/** Untimed rounds first: the files just installed come into the page cache, Node's own too. */
const WARM_UP_RUNS = 2;
/** Ours, packed from the workspace; the CLI needs the adapter. */
const OURS = ['redlock-core', 'redlock-ioredis-adapter', 'redlock-cli'];
/** The peers, by their name in bench/package.json (an alias there for node-redlock 5). */
const PEERS = ['redlock5', 'redis-semaphore', '@sesamecare-oss/redlock', 'redlock-universal'];
/** Issue 58's targets: milliseconds over `node -e 0`, bytes, milliseconds whole. */
const TARGETS = { coreImportMs: 20, coreUnpackedBytes: 600_000, helpMs: 100 };
const CORE = 'redlock-core';

/**
 * Times one command through bash: wall clock from just before its start to its exit (bash's `EPOCHREALTIME`,
 * so bash's own start is not counted), and its CPU time, user + system, all threads (`times`: what the
 * kernel charged the reaped child), which a busy machine inflates far less than the wall clock.
 */
const TIMED = 'started=$EPOCHREALTIME; "$@"; status=$?; ended=$EPOCHREALTIME; { echo "$started $ended"; times; } >&3; exit $status';

const startedAt = performance.now();
const work = mkdtempSync(join(tmpdir(), 'redlock-package-weight-'));
const removeWork = () => rmSync(work, { recursive: true, force: true });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    removeWork();
    process.exit(130);
  });
}
const step = (what) => console.error(`package-weight: ${what} (${((performance.now() - startedAt) / 1000).toFixed(1)} s)`);

try {
  const loadBefore = loadavg()[0];
  const tarballs = pack();
  step(`packed ${OURS.join(', ')}`);
  const peers = peerSpecs();
  const project = install(tarballs, peers);
  step('installed with npm');
  const peerNames = [...peers.values()].map((peer) => peer.name);
  const libraries = [...OURS.filter((name) => name !== 'redlock-cli'), ...peerNames];
  const weights = [...OURS, ...peerNames].map((name) => weightOf(project, name));
  const commands = [
    { id: 'baseline', args: ['-e', '0'] },
    ...libraries.flatMap((name) => [
      { id: `import ${name}`, args: ['-e', `import(${JSON.stringify(name)})`] },
      { id: `require ${name}`, args: ['-e', `require(${JSON.stringify(name)})`] },
    ]),
    { id: 'redlock --help', file: join(project, 'node_modules', '.bin', 'redlock'), args: ['--help'] },
  ];
  for (const command of commands) run(project, command, true);
  const samples = timeInterleaved(project, commands);
  step(`${RUNS} interleaved rounds of ${commands.length} commands`);
  report({ weights, libraries, samples, loadBefore });
} finally {
  removeWork();
}

/** The peers' install specs (`redlock@5.0.0-beta.2`) and the names they are imported by, from bench/package.json. */
function peerSpecs() {
  const manifest = JSON.parse(readFileSync(join(ROOT_DIR, 'bench', 'package.json'), 'utf8'));
  const all = { ...manifest.dependencies, ...manifest.devDependencies };
  return new Map(
    PEERS.map((alias) => {
      const range = all[alias];
      if (range === undefined) throw new Error(`bench/package.json has no ${alias}`);
      // An alias reads `npm:redlock@5.0.0-beta.2`: installed and imported under its own name.
      const spec = range.startsWith('npm:') ? range.slice('npm:'.length) : `${alias}@${range}`;
      return [alias, { spec, name: spec.slice(0, spec.lastIndexOf('@')) }];
    }),
  );
}

/** Packs our packages with the workspace's pnpm; returns the tarballs' paths. */
function pack() {
  const packsDir = join(work, 'packs');
  mkdirSync(packsDir);
  const packagesByName = new Map(publicPackages().map((pkg) => [pkg.name, pkg]));
  return OURS.map((name) => {
    const before = new Set(readdirSync(packsDir));
    execFileSync(join(ROOT_DIR, 'node_modules', '.bin', 'pnpm'), ['pack', '--pack-destination', packsDir], { cwd: packagesByName.get(name).dir, stdio: 'ignore' });
    return join(packsDir, readdirSync(packsDir).find((file) => !before.has(file)));
  });
}

/** Installs the tarballs and the peers with plain npm into a new project; returns its directory. */
function install(tarballs, peers) {
  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'package-weight', private: true }, null, 2)}\n`);
  const specs = [...tarballs, ...[...peers.values()].map((peer) => peer.spec)];
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...specs], { cwd: project, stdio: ['ignore', 'ignore', 'inherit'] });
  return project;
}

/** A package's own files as installed: their count, bytes, and its version. */
function weightOf(project, name) {
  const dir = join(project, 'node_modules', name);
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter(
    (entry) => entry.isFile() && !entry.parentPath.slice(dir.length).split('/').includes('node_modules'),
  );
  const bytes = files.reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0);
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return { name, version, files: files.length, bytes };
}

/** Runs one command in the project; returns `{ wallMs, cpuMs }`. A failure ends the run, and so does output on stderr when `check`. */
function run(project, { id, file = process.execPath, args }, check = false) {
  const result = spawnSync('bash', ['-c', TIMED, 'bash', file, ...args], { cwd: project, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], encoding: 'utf8' });
  const stderr = result.output[2];
  if (result.status !== 0 || (check && stderr !== '')) throw new Error(`${id}: exited ${result.status ?? result.signal}\n${stderr}`);
  const [span, , children] = result.output[3].trim().split('\n');
  const [started, ended] = span.split(' ').map(Number);
  if (Number.isNaN(started)) throw new Error('bash has no EPOCHREALTIME: this script needs bash 5 or later');
  const seconds = (time) => Number(/^(\d+)m/.exec(time)[1]) * 60 + Number(/m([\d.]+)s$/.exec(time)[1]);
  const [user, system] = children.split(' ').map(seconds);
  return { wallMs: (ended - started) * 1000, cpuMs: (user + system) * 1000 };
}

/** Every command once per round, in a fresh order each round; the warm-up rounds are not kept. */
function timeInterleaved(project, commands) {
  const samples = new Map(commands.map((command) => [command.id, []]));
  for (let round = -WARM_UP_RUNS; round < RUNS; round += 1) {
    const order = shuffled(commands);
    const times = new Map(order.map((command) => [command.id, run(project, command)]));
    if (round >= 0) for (const [id, figures] of times) samples.get(id).push(figures);
  }
  return samples;
}

function shuffled(items) {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = Math.floor(Math.random() * (index + 1));
    [copy[index], copy[other]] = [copy[other], copy[index]];
  }
  return copy;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Round by round, the command's `figure` (`wallMs` or `cpuMs`) less the same round's `node -e 0`'s; their median. */
function overBaseline(samples, id, figure) {
  const baseline = samples.get('baseline');
  return median(samples.get(id).map((times, round) => times[figure] - baseline[round][figure]));
}

function report({ weights, libraries, samples, loadBefore }) {
  const ms = (value) => value.toFixed(1);
  const whole = (id, figure) => median(samples.get(id).map((times) => times[figure]));
  const importMs = new Map(libraries.map((name) => [name, overBaseline(samples, `import ${name}`, 'wallMs')]));
  console.log(`Cold start and weight, packed tarballs installed with npm; Node ${process.version}; ${RUNS} interleaved rounds, medians;`);
  console.log(`load average ${loadBefore.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after; \`node -e 0\`: ${ms(whole('baseline', 'wallMs'))} ms wall, ${ms(whole('baseline', 'cpuMs'))} ms CPU`);
  console.log('');
  console.log('| package | version | import ms | require ms | import ms CPU | require ms CPU | unpacked kB | files |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const { name, version, files, bytes } of weights) {
    const cells = !importMs.has(name)
      ? ['', '', '', '']
      : [['import', 'wallMs'], ['require', 'wallMs'], ['import', 'cpuMs'], ['require', 'cpuMs']].map(([how, figure]) => ms(overBaseline(samples, `${how} ${name}`, figure)));
    console.log(`| ${name} | ${version} | ${cells.join(' | ')} | ${(bytes / 1000).toFixed(1)} | ${files} |`);
  }
  const helpMs = whole('redlock --help', 'wallMs');
  console.log('');
  console.log('import / require: the cold process less `node -e 0` in the same round, wall clock and CPU (user + system).');
  console.log(
    `\`redlock --help\`: ${ms(helpMs)} ms wall whole, ${ms(overBaseline(samples, 'redlock --help', 'wallMs'))} ms over \`node -e 0\`; ` +
      `CPU ${ms(whole('redlock --help', 'cpuMs'))} ms whole, ${ms(overBaseline(samples, 'redlock --help', 'cpuMs'))} ms over \`node -e 0\``,
  );
  const peerImports = libraries.filter((name) => !OURS.includes(name)).map((name) => importMs.get(name));
  const core = weights.find((weight) => weight.name === CORE);
  const verdict = (isMet) => (isMet ? 'met' : 'not met');
  console.log('');
  console.log('Issue 58, item 2 (wall clock):');
  console.log(`- cold import of ${CORE} ≤ ${TARGETS.coreImportMs} ms: ${ms(importMs.get(CORE))} ms, ${verdict(importMs.get(CORE) <= TARGETS.coreImportMs)} (the peers' median: ${ms(median(peerImports))} ms)`);
  console.log(`- ${CORE} unpacked ≤ ${TARGETS.coreUnpackedBytes / 1000} kB: ${(core.bytes / 1000).toFixed(1)} kB in ${core.files} files, ${verdict(core.bytes <= TARGETS.coreUnpackedBytes)}`);
  console.log(`- \`redlock --help\` ≤ ${TARGETS.helpMs} ms: ${ms(helpMs)} ms, ${verdict(helpMs <= TARGETS.helpMs)}`);
}
