// Checks every public package as npm users will get it: packs each with pnpm (which rewrites the
// workspace: protocol and applies publishConfig, as `pnpm publish` does), then, in a temporary project
// outside the workspace:
//   - the tarball holds LICENSE, README.md, package.json and exactly the bundles of
//     scripts/lib/published-layout.mjs (nothing of tsc's per-file output), and a README without relative
//     links; its unpacked size and file count are printed;
//   - publint (strict) and @arethetypeswrong/cli (every resolution: node10, node16 from CommonJS and
//     from ES modules, bundler) pass;
//   - plain `npm install` of all the tarballs works (peer dependencies included), and every `bin` (of a
//     command or of a library) starts with a node shebang and runs `--help` as npm linked it;
//   - each entry point loads with `import` and with `require()`, with the same exports both ways, each
//     the very same value (one copy of every class: no dual-package hazard);
//   - a TypeScript consumer that imports every package type-checks under moduleResolution node16,
//     nodenext and bundler (under nodenext with skipLibCheck off, so the declaration files are checked
//     too), and a CommonJS consumer under nodenext;
//   - consumer projects take a lock on a real redis-server (started by the packed local-redis-nodes):
//     a plain Jest project in CommonJS, and one TypeScript file (scripts/fixtures/ts-lock.ts, which also
//     constructs redlock-node-redlock-compat's default import) compiled to CommonJS under module node16
//     and to ES modules under node16 and nodenext; and a Nest application (scripts/fixtures/nest-app.ts)
//     runs redlock-nestjs's decorators, compiled as a Nest CLI project (CommonJS) and as an ES module
//     project, on Nest 11 and 12; then, with redlock-ioredis-adapter removed, `nodes` still works and
//     `clients` names the package to install (scripts/fixtures/nest-without-adapter.ts).
// Also verifies the shared metadata (scripts/package-metadata.mjs --check), and that a second bundle with
// nothing changed bundles nothing. Needs a build (`pnpm build`).
// Run: node scripts/check-packages.mjs
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { publishedLayoutOf } from './lib/published-layout.mjs';
import { publicPackages, ROOT_DIR } from './lib/public-packages.mjs';

const startedAt = performance.now();
/** The most a package may weigh unpacked, in bytes: redlock-core's target of issue 58 (2.1 MB before bundling). */
const UNPACKED_BUDGET_BYTES = { 'redlock-core': 600_000 };
/** A consumer's `await using` of each disposable handle of the core (type-checked, never run). */
const DISPOSE_TS = `import type { Lock, Permit, ReadWriteHandle, Redlock } from 'redlock-core';
export async function disposeAll(redlock: Redlock, lock: Lock, permit: Permit, reader: ReadWriteHandle): Promise<void> {
  await using disposedRedlock = redlock;
  await using disposedLock = lock;
  await using disposedPermit = permit;
  await using disposedReader = reader;
}
`;
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

  // A build with nothing changed bundles nothing, so a second `npm run demo` or `npm test` sets up in about
  // a second (issue 77): every package's inputs are as the build of this run left them.
  const rebundled = run('a bundle with nothing changed', process.execPath, [join(ROOT_DIR, 'scripts', 'bundle.mjs')]);
  if (rebundled !== undefined && !rebundled.startsWith('bundle: 0 package(s)')) failures.push(`scripts/bundle.mjs bundled again with nothing changed: ${rebundled.trim()}`);

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
    const layout = publishedLayoutOf(pkg.manifest);
    const expected = new Set(['LICENSE', 'README.md', 'package.json', ...layout.files.flatMap((file) => (file.startsWith('dist/') ? [file] : filesUnder(join(pkg.dir, file)).map((inner) => join(file, inner))))]);
    const packed = filesUnder(root);
    for (const required of expected) {
      if (!packed.includes(required)) failures.push(`${pkg.name}: the tarball has no ${required}`);
    }
    for (const file of packed.filter((path) => !expected.has(path) && path !== 'CHANGELOG.md')) {
      failures.push(`${pkg.name}: the tarball has ${file}, which is no part of the published layout (scripts/lib/published-layout.mjs)`);
    }
    const published = JSON.stringify(manifest);
    if (published.includes('workspace:')) failures.push(`${pkg.name}: the packed package.json still uses the workspace: protocol`);
    const bytes = packed.reduce((sum, file) => sum + statSync(join(root, file)).size, 0);
    console.log(`check-packages: ${pkg.name}: ${packed.length} files, ${(bytes / 1000).toFixed(1)} kB unpacked`);
    const budget = UNPACKED_BUDGET_BYTES[pkg.name];
    if (budget !== undefined && bytes > budget) failures.push(`${pkg.name}: ${bytes} bytes unpacked, over its budget of ${budget} (issue 58)`);
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
    if (!commands.has(name)) run(`${name}: attw`, bin('attw'), [tarball, '--format', 'ascii', '--no-color']);
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
    // 4b. Load each entry point with import and with require(), from the consumer: the same values.
    for (const name of libraries) {
      const subpaths = Object.keys(JSON.parse(readFileSync(join(work, 'unpacked', name, 'package', 'package.json'), 'utf8')).exports ?? {})
        .filter((subpath) => subpath !== './package.json')
        .map((subpath) => `${name}${subpath.slice(1)}`);
      for (const specifier of subpaths) {
        const source = `
          const required = require(${JSON.stringify(specifier)});
          import(${JSON.stringify(specifier)}).then((imported) => {
            const requiredKeys = Object.keys(required).filter((key) => key !== '__esModule').sort();
            const importedKeys = Object.keys(imported).sort();
            const different = requiredKeys.filter((key) => required[key] !== imported[key]);
            console.log(JSON.stringify({ requiredKeys, importedKeys, different }));
          });`;
        const output = run(`${specifier}: import and require()`, process.execPath, ['--input-type=commonjs', '-e', source], { cwd: consumer });
        if (output === undefined) continue;
        const { requiredKeys, importedKeys, different } = JSON.parse(output);
        if (importedKeys.length === 0) failures.push(`${specifier}: import gave a module with no exports`);
        if (JSON.stringify(requiredKeys) !== JSON.stringify(importedKeys)) {
          failures.push(`${specifier}: import and require() give different exports: ${importedKeys.join(', ')} vs ${requiredKeys.join(', ')}`);
        }
        if (different.length > 0) failures.push(`${specifier}: import and require() give two copies of ${different.join(', ')}`);
      }
    }
    step('import and require(): one copy of every export');

    // 5. Type-check consumers with the workspace's TypeScript, declaration files included.
    const imports = libraries.map((name, index) => `import * as package${index} from '${name}';`);
    const uses = `export const packages = [${libraries.map((_, index) => `package${index}`).join(', ')}];`;
    writeFileSync(join(consumer, 'index.ts'), `${imports.join('\n')}\n${uses}\n`);
    writeFileSync(join(consumer, 'index.cts'), `${libraries.map((name, index) => `import package${index} = require('${name}');`).join('\n')}\n${uses}\n`);
    // `await using` of every disposable handle, which the declarations type as `[Symbol.asyncDispose]()`.
    writeFileSync(join(consumer, 'dispose.ts'), DISPOSE_TS);
    const typescript = createRequire(join(ROOT_DIR, 'package.json')).resolve('typescript/bin/tsc');
    // Declaration files are checked in full once (nodenext, the slow part: @types/node and the clients'
    // types too); under the other settings, what the consumer's imports resolve to. attw checks the
    // imports inside the declaration files under every setting.
    const settings = [
      { module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: 'false', files: ['index.ts', 'index.cts', 'dispose.ts'] },
      { module: 'node16', moduleResolution: 'node16', skipLibCheck: 'true', files: ['index.ts'] },
      { module: 'esnext', moduleResolution: 'bundler', skipLibCheck: 'true', files: ['index.ts'] },
    ];
    for (const { module, moduleResolution, skipLibCheck, files } of settings) {
      const options = ['--noEmit', '--strict', '--skipLibCheck', skipLibCheck, '--target', 'es2022', '--module', module, '--moduleResolution', moduleResolution, '--types', 'node'];
      run(`type-check (moduleResolution ${moduleResolution}: ${files.join(', ')})`, process.execPath, [typescript, ...options, ...files], { cwd: consumer });
    }
    // TypeScript 7, what `npm install typescript` gives today: its checker read two names of one symbol
    // in the declarations as a duplicate (`Duplicate identifier '[ASYNC_DISPOSE]'`) where 5 did not.
    const typescript7Dir = join(work, 'typescript-7');
    mkdirSync(typescript7Dir);
    writeFileSync(join(typescript7Dir, 'package.json'), '{ "name": "typescript-7", "private": true }\n');
    if (run('TypeScript 7: npm install', 'npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', 'typescript@7'], { cwd: typescript7Dir }) !== undefined) {
      const options = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node'];
      run('type-check with TypeScript 7 (nodenext)', process.execPath, [join(typescript7Dir, 'node_modules', 'typescript', 'bin', 'tsc'), ...options, 'index.ts', 'index.cts', 'dispose.ts'], { cwd: consumer });
    }
    step('type-checked under node16, nodenext and bundler, and under nodenext with TypeScript 7');

    // 6. Take a lock on a real redis-server from a plain Jest project in CommonJS and from TypeScript
    // compiled to CommonJS under module node16 and to ES modules under node16 and nodenext. Each is a
    // folder of the consumer with its own package.json ("type": "module" for the ES module ones), so it
    // uses the tarballs npm installed there, and the workspace's Jest and tsc.
    const fixtures = join(ROOT_DIR, 'scripts', 'fixtures');
    const jestProject = join(consumer, 'jest-cjs');
    cpSync(join(fixtures, 'jest-cjs'), jestProject, { recursive: true });
    const jest = join(ROOT_DIR, 'node_modules', 'jest', 'bin', 'jest.js');
    run('Jest (CommonJS) consumer', process.execPath, [jest, '--ci', '--rootDir', jestProject], { cwd: jestProject });
    const tsKinds = ['ts-node16-cjs', 'ts-node16-esm', 'ts-nodenext-esm'];
    for (const kind of tsKinds) {
      const tsProject = join(consumer, kind);
      cpSync(join(fixtures, kind), tsProject, { recursive: true });
      cpSync(join(fixtures, 'ts-lock.ts'), join(tsProject, 'ts-lock.ts'));
      if (run(`TypeScript (${kind}) consumer: tsc`, process.execPath, [typescript, '-p', tsProject], { cwd: tsProject }) !== undefined) {
        run(`TypeScript (${kind}) consumer: run`, process.execPath, [join(tsProject, 'dist', 'ts-lock.js')], { cwd: tsProject });
      }
    }
    step(`took a lock from Jest (CommonJS) and from TypeScript (${tsKinds.join(', ')})`);

    // 7. A Nest application on redlock-nestjs, compiled as a Nest CLI project (CommonJS) and as an ES
    // module project, on each Nest major of its peer range: the workspace's 11 and the latest 12 (ESM
    // only, which a CommonJS project loads through require() of ES modules, Node 20.19 and later). Each
    // major gets a project of its own, with the tarballs it needs.
    const devVersionOf = (name) => JSON.parse(readFileSync(join(ROOT_DIR, 'packages', 'redlock-nestjs', 'node_modules', name, 'package.json'), 'utf8')).version;
    const nestVersions = [devVersionOf('@nestjs/core'), '12'];
    const nestTarballs = ['local-redis-nodes', 'redlock-core', 'redlock-ioredis-adapter', 'redlock-nestjs'].map((name) => tarballs.get(name));
    for (const version of nestVersions) {
      const nestConsumer = join(work, `nest-${version}`);
      mkdirSync(nestConsumer);
      writeFileSync(join(nestConsumer, 'package.json'), `${JSON.stringify({ name: `nest-${version}`, private: true }, null, 2)}\n`);
      // ioredis is an optional peer of the adapter: npm leaves it out unless asked.
      const nest = [`@nestjs/common@${version}`, `@nestjs/core@${version}`, `ioredis@${devVersionOf('ioredis')}`];
      if (run(`Nest ${version}: npm install`, 'npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...nestTarballs, typesNode, ...nest], { cwd: nestConsumer }) === undefined) continue;
      const compiled = [];
      for (const kind of ['nest-cjs', 'nest-esm']) {
        const nestProject = join(nestConsumer, kind);
        cpSync(join(fixtures, kind), nestProject, { recursive: true });
        for (const file of ['nest-app.ts', 'nest-without-adapter.ts']) cpSync(join(fixtures, file), join(nestProject, file));
        if (run(`Nest ${version} (${kind}) consumer: tsc`, process.execPath, [typescript, '-p', nestProject], { cwd: nestProject }) !== undefined) {
          compiled.push(kind);
          run(`Nest ${version} (${kind}) consumer: run`, process.execPath, [join(nestProject, 'dist', 'nest-app.js')], { cwd: nestProject });
        }
      }
      // Then without redlock-ioredis-adapter, an optional peer that only `clients` loads.
      rmSync(join(nestConsumer, 'node_modules', 'redlock-ioredis-adapter'), { recursive: true, force: true });
      for (const kind of compiled) {
        const nestProject = join(nestConsumer, kind);
        run(`Nest ${version} (${kind}) consumer without redlock-ioredis-adapter: run`, process.execPath, [join(nestProject, 'dist', 'nest-without-adapter.js')], { cwd: nestProject });
      }
    }
    step(`ran a Nest application on Nest ${nestVersions.join(' and ')}, CommonJS and ESM, with and without redlock-ioredis-adapter`);
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
