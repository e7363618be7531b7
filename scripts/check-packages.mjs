// Checks every public package as npm users will get it: packs each with pnpm (which rewrites the
// workspace: protocol, as `pnpm publish` does), then, in a temporary project outside the workspace:
//   - the tarball holds LICENSE, README.md, package.json, dist/ and the src/ its source maps point to
//     (every source of every map is in it), no dist file without a source (a stale build), and a README
//     without relative links;
//   - publint (strict) and @arethetypeswrong/cli (profile esm-only: the packages are ES modules) pass;
//   - plain `npm install` of all the tarballs works (peer dependencies included), and every `bin` (of a
//     command or of a library) starts with a node shebang and runs `--help` as npm linked it;
//   - each package loads with `import` and with `require()` (Node >= 20.19, where Node can require ES
//     modules; older Node 20 releases skip that step and say so), with the same exports both ways;
//   - a TypeScript consumer that imports every package type-checks under moduleResolution node16,
//     nodenext and bundler (under nodenext with skipLibCheck off, so the declaration files are checked
//     too), and a CommonJS consumer under nodenext (TypeScript >= 5.8 types require() of ES modules there).
// Also verifies the shared metadata (scripts/package-metadata.mjs --check). Needs a build (`pnpm build`).
// Run: node scripts/check-packages.mjs
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { publicPackages, ROOT_DIR } from './lib/public-packages.mjs';

const startedAt = performance.now();
const packages = publicPackages();
const work = mkdtempSync(join(tmpdir(), 'redlock-check-packages-'));
const bin = (name) => join(ROOT_DIR, 'node_modules', '.bin', name);
const failures = [];

/** Runs a command; returns its output, or records a failure with the output and returns undefined. */
function run(what, command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
  } catch (error) {
    failures.push(`${what}: \`${[command, ...args].join(' ')}\` failed\n${error.stdout ?? ''}${error.stderr ?? error.message}`);
    return undefined;
  }
}

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

function step(name) {
  console.log(`check-packages: ${name} (${((performance.now() - startedAt) / 1000).toFixed(1)} s)`);
}

try {
  step(`${packages.length} public packages: ${packages.map((pkg) => pkg.name).join(', ')}`);
  run('package metadata', process.execPath, [join(ROOT_DIR, 'scripts', 'package-metadata.mjs'), '--check']);
  const rootManifest = JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8'));
  if (`pnpm@${rootManifest.devDependencies.pnpm}` !== rootManifest.packageManager) {
    failures.push(`package.json: devDependencies.pnpm (${rootManifest.devDependencies.pnpm}) is not the packageManager's version (${rootManifest.packageManager})`);
  }

  // 1. Pack, and look inside.
  const packsDir = join(work, 'packs');
  mkdirSync(packsDir);
  const tarballs = new Map();
  /** The packages that are a command (a `bin`, no `.` export): run, not imported. */
  const commands = new Map();
  /** Every package's commands (`bin`), libraries' included: each must run from the installed tarball. */
  const bins = new Map();
  for (const pkg of packages) {
    const before = new Set(readdirSync(packsDir));
    if (run(`${pkg.name}: pack`, bin('pnpm'), ['pack', '--pack-destination', packsDir], { cwd: pkg.dir }) === undefined) continue;
    const tarball = readdirSync(packsDir).find((name) => !before.has(name));
    tarballs.set(pkg.name, join(packsDir, tarball));

    const unpacked = join(work, 'unpacked', pkg.name);
    mkdirSync(unpacked, { recursive: true });
    execFileSync('tar', ['xzf', join(packsDir, tarball), '-C', unpacked]);
    const root = join(unpacked, 'package');
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const isCommand = manifest.exports?.['.'] === undefined && manifest.bin !== undefined;
    const packageBins = manifest.bin === undefined ? {} : typeof manifest.bin === 'string' ? { [pkg.name]: manifest.bin } : manifest.bin;
    if (Object.keys(packageBins).length > 0) bins.set(pkg.name, packageBins);
    if (isCommand) commands.set(pkg.name, packageBins);
    const entries = [...(isCommand ? [] : ['dist/index.js', 'dist/index.d.ts', 'src/index.ts']), ...Object.values(packageBins)];
    for (const required of ['LICENSE', 'README.md', 'package.json', ...entries]) {
      if (!existsSync(join(root, required))) failures.push(`${pkg.name}: the tarball has no ${required}`);
    }
    const published = JSON.stringify(manifest);
    if (published.includes('workspace:')) failures.push(`${pkg.name}: the packed package.json still uses the workspace: protocol`);
    const sources = new Set(filesUnder(join(root, 'src')).map((file) => file.replace(/\.ts$/, '')));
    for (const file of sources.size === 0 ? [] : filesUnder(join(root, 'dist'))) {
      const source = file.replace(/(\.d\.ts|\.js)(\.map)?$/, '');
      if (!sources.has(source)) failures.push(`${pkg.name}: dist/${file} has no source in src/ (a stale build? run \`pnpm clean && pnpm build\`)`);
    }
    for (const map of filesUnder(join(root, 'dist')).filter((file) => file.endsWith('.map'))) {
      const mapDir = dirname(join(root, 'dist', map));
      for (const source of JSON.parse(readFileSync(join(root, 'dist', map), 'utf8')).sources) {
        if (!existsSync(join(mapDir, source))) failures.push(`${pkg.name}: dist/${map} points to ${source}, which is not in the tarball`);
      }
    }
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const [, target] of readme.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!/^(https?:|mailto:|#)/.test(target)) failures.push(`${pkg.name}: README.md links to ${target}, which is not on npm: use an absolute URL`);
    }
  }
  step('packed');

  // 2. publint and attw on the tarballs themselves.
  for (const [name, tarball] of tarballs) {
    run(`${name}: publint`, bin('publint'), ['run', '--strict', tarball]);
    // A command has no module to resolve types for.
    if (!commands.has(name)) run(`${name}: attw`, bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii', '--no-color']);
  }
  step('publint and attw');

  // 3. Install with plain npm into a project outside the workspace.
  const consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2)}\n`);
  const typesNode = `@types/node@${JSON.parse(readFileSync(join(ROOT_DIR, 'node_modules', '@types', 'node', 'package.json'), 'utf8')).version}`;
  const installed = run('npm install', 'npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...tarballs.values(), typesNode], {
    cwd: consumer,
  });
  step('installed with npm');

  if (installed !== undefined) {
    // 4a. Run each bin (of a command or of a library), as npm linked it.
    for (const [name, packageBins] of bins) {
      for (const [command, path] of Object.entries(packageBins)) {
        if (!readFileSync(join(work, 'unpacked', name, 'package', path), 'utf8').startsWith('#!/usr/bin/env node\n')) {
          failures.push(`${name}: ${path} (bin ${command}) does not start with #!/usr/bin/env node`);
        }
        run(`${name}: ${command} --help`, join(consumer, 'node_modules', '.bin', command), ['--help'], { cwd: consumer });
      }
    }
    const libraries = [...tarballs.keys()].filter((name) => !commands.has(name));
    // 4b. Load each library with import and with require(), from the consumer.
    const [major, minor] = process.versions.node.split('.').map(Number);
    const canRequireEsm = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
    for (const name of libraries) {
      const importKeys = run(`${name}: import`, process.execPath, ['--input-type=module', '-e', `console.log(JSON.stringify(Object.keys(await import(${JSON.stringify(name)})).sort()))`], {
        cwd: consumer,
      });
      if (importKeys !== undefined && JSON.parse(importKeys).length === 0) failures.push(`${name}: import gave a module with no exports`);
      if (!canRequireEsm) {
        console.log(`check-packages: ${name}: require() skipped: Node ${process.versions.node} cannot require ES modules (20.19 and 22.12 can)`);
        continue;
      }
      const requireKeys = run(`${name}: require`, process.execPath, ['--input-type=commonjs', '-e', `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(name)})).filter((key) => key !== '__esModule' && key !== 'module.exports').sort()))`], {
        cwd: consumer,
      });
      if (importKeys !== undefined && requireKeys !== undefined && importKeys !== requireKeys) {
        failures.push(`${name}: import and require() give different exports: ${importKeys.trim()} vs ${requireKeys.trim()}`);
      }
    }
    step('import and require()');

    // 5. Type-check consumers with the workspace's TypeScript, declaration files included.
    const imports = libraries.map((name, index) => `import * as package${index} from '${name}';`);
    const uses = `export const packages = [${libraries.map((_, index) => `package${index}`).join(', ')}];`;
    writeFileSync(join(consumer, 'index.ts'), `${imports.join('\n')}\n${uses}\n`);
    writeFileSync(join(consumer, 'index.cts'), `${libraries.map((name, index) => `import package${index} = require('${name}');`).join('\n')}\n${uses}\n`);
    const typescript = createRequire(join(ROOT_DIR, 'package.json')).resolve('typescript/bin/tsc');
    // Declaration files are checked in full once (nodenext, the slow part: @types/node and the clients'
    // types too); under the other settings, what the consumer's imports resolve to. attw checks the
    // imports inside the declaration files under every setting.
    const settings = [
      { module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: 'false', files: ['index.ts', 'index.cts'] },
      { module: 'node16', moduleResolution: 'node16', skipLibCheck: 'true', files: ['index.ts'] },
      { module: 'esnext', moduleResolution: 'bundler', skipLibCheck: 'true', files: ['index.ts'] },
    ];
    for (const { module, moduleResolution, skipLibCheck, files } of settings) {
      const options = ['--noEmit', '--strict', '--skipLibCheck', skipLibCheck, '--target', 'es2022', '--module', module, '--moduleResolution', moduleResolution, '--types', 'node'];
      run(`type-check (moduleResolution ${moduleResolution}: ${files.join(', ')})`, process.execPath, [typescript, ...options, ...files], { cwd: consumer });
    }
    step('type-checked under node16, nodenext and bundler');
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

if (failures.length > 0) {
  for (const failure of failures) console.error(`check-packages: ${failure}\n`);
  console.error(`check-packages: ${failures.length} problem(s)`);
  process.exit(1);
}
step('all good');
