// Bundles every public package for npm, from tsc's output of `pnpm build`: one file per entry point and
// module system, declarations for both (scripts/lib/published-layout.mjs says which files and why).
//   - JavaScript: esbuild bundles each entry's TypeScript sources into one CommonJS file, the
//     implementation; every package import (redlock-core in an adapter, a client, node:*) stays external.
//     The ES module entry is a generated `import cjs from './<name>-bridge.cjs'; export const { ...names } = cjs`,
//     the bridge a `require('./<name>.cjs')`: Node loads the .cjs once for both, so an error thrown through
//     `require` is `instanceof` the class that `import` gave, and each diagnostics channel is created once.
//   - A second entry (redlock-core/testing) takes every module outside its own folder from the main
//     bundle at run time, never a copy: the main bundle carries them under a symbol-keyed property that
//     no `Object.keys`, named import or declaration shows, and the build fails if a source file lands in
//     two bundles of one package.
//   - Declarations: api-extractor rolls tsc's per-file .d.ts up into <name>.d.cts (re-indented: see
//     lib/tidy-declarations.mjs); <name>.d.mts is
//     `export * from './<name>.cjs'`, so TypeScript too sees one declaration of each class, and a default
//     export is `import cjs = require('./<name>.cjs'); export default cjs.default;` (see below).
//   - A package whose inputs did not change since its last bundle (its sources, manifest and tsconfig, the
//     root tsconfigs, this script and its lib/, esbuild's and api-extractor's versions: a hash in
//     dist/.bundle-inputs) is skipped while its published files are there, so a build with nothing changed
//     bundles nothing.
// Run: node scripts/bundle.mjs [--force] [package-dir ...]   (after `pnpm build`; all public packages by default)
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publishedLayoutOf } from './lib/published-layout.mjs';
import { publicPackages } from './lib/public-packages.mjs';

const startedAt = performance.now();
const args = process.argv.slice(2);
const isForced = args.includes('--force');
const only = args.filter((arg) => arg !== '--force').map((dir) => resolve(dir));
const packages = publicPackages().filter((pkg) => only.length === 0 || only.includes(pkg.dir));
/** The main bundle's property that holds the modules its sibling entries share (not enumerable). */
const SHARED_MODULES = "Symbol.for('redlock:shared-modules')";

const COMMON = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  // Whitespace and syntax only: identifiers keep their names, so stack traces name the functions and
  // classes as written. Lines are broken at about 160 characters, for a stack trace's line to point near.
  minifyWhitespace: true,
  minifySyntax: true,
  lineLimit: 160,
  legalComments: 'none',
  logLevel: 'warning',
  // `import.meta` is empty in CommonJS: fail rather than ship it (bins get a stand-in for its url, below).
  logOverride: { 'empty-import-meta': 'error' },
};

/** For a bin: `import.meta.url` as the bundle's own file URL (the CLI reads its package.json beside dist/). */
const BIN_OPTIONS = {
  define: { 'import.meta.url': 'importMetaUrl' },
  inject: [fileURLToPath(new URL('lib/import-meta-url.mjs', import.meta.url))],
};

/**
 * An esbuild plugin for a second entry whose sources are in `ownDir`: each import of a module outside it
 * becomes a lookup in the main bundle (`./index.cjs`, external), recorded in `shared` (absolute paths).
 */
function fromMainBundle(packageDir, ownDir, shared) {
  return {
    name: 'from-main-bundle',
    setup(plugin) {
      plugin.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.namespace !== 'file' || !args.importer.startsWith(ownDir)) return undefined;
        const target = resolve(dirname(args.importer), args.path.replace(/\.js$/, '.ts'));
        if (target.startsWith(ownDir)) return undefined;
        shared.add(target);
        return { path: target, namespace: 'main-bundle' };
      });
      plugin.onLoad({ filter: /.*/, namespace: 'main-bundle' }, (args) => ({
        contents: `module.exports = require('./index.cjs')[${SHARED_MODULES}][${JSON.stringify(relative(packageDir, args.path))}];`,
        loader: 'js',
      }));
      plugin.onResolve({ filter: /^\.\/index\.cjs$/ }, (args) => (args.namespace === 'main-bundle' ? { path: args.path, external: true } : undefined));
    },
  };
}

/**
 * Starts a line with the bundle's `__export(` call, its list of exports, as esbuild writes it without
 * minifyWhitespace. @arethetypeswrong/cli looks for an esbuild bundle's exports there; not finding them,
 * it reads `module.exports = __toCommonJS(...)` as an `export =` without a `default`, and so takes the
 * default export of the declarations for a false one (FalseExportDefault).
 */
function startLineWithExportList(file) {
  const text = readFileSync(file, 'utf8');
  // The entry's list is the first call: esbuild puts it above every module of the bundle.
  const call = /[;\n]__export\(/.exec(text);
  if (call === null) throw new Error(`${relative(process.cwd(), file)} has no \`__export(\` call: attw will not find its exports`);
  if (call[0].startsWith(';')) writeFileSync(file, `${text.slice(0, call.index + 1)}\n${text.slice(call.index + 1)}`);
}

/** The names an entry exports, from an ES module build of it that is not written. */
async function exportNamesOf(entryPoint) {
  const result = await build({ ...COMMON, entryPoints: [entryPoint], format: 'esm', write: false, metafile: true, outdir: '/nonexistent' });
  return Object.values(result.metafile.outputs).find((output) => output.entryPoint !== undefined).exports;
}

/** Rolls tsc's declarations of one entry up into `outfile`. */
function rollUpDeclarations(pkg, source, outfile) {
  const typesPath = join(pkg.dir, source.replace(/^src\//, 'dist/').replace(/\.ts$/, '.d.ts'));
  const config = extractorConfigOf(pkg, typesPath, { dtsRollup: { enabled: true, untrimmedFilePath: outfile } });
  const result = Extractor.invoke(config, { localBuild: true, messageCallback: (message) => { if (message.messageId.startsWith('console-')) message.handled = true; } });
  if (!result.succeeded) throw new Error(`api-extractor failed on ${outfile} (${result.errorCount} errors)`);
  tidyDeclarations(outfile);
}

const problems = [];
/** Every file under `dir`, recursively, sorted. */
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
    .sort();
}

const scriptsDir = dirname(fileURLToPath(import.meta.url));
const versionOf = (name) => JSON.parse(readFileSync(join(scriptsDir, '..', 'node_modules', name, 'package.json'), 'utf8')).version;
/** What every bundle depends on besides its package's own files. */
const rootDir = join(scriptsDir, '..');
const sharedInputs = [
  fileURLToPath(import.meta.url),
  ...filesUnder(join(scriptsDir, 'lib')),
  ...readdirSync(rootDir).filter((name) => /^tsconfig.*\.json$/.test(name)).sort().map((name) => join(rootDir, name)),
];
const toolVersions = `esbuild ${versionOf('esbuild')}, api-extractor ${versionOf('@microsoft/api-extractor')}`;

/** A hash of what `pkg`'s bundles are made from: see the header. */
function inputsHashOf(pkg) {
  const hash = createHash('sha256').update(toolVersions);
  const tsconfig = join(pkg.dir, 'tsconfig.json');
  for (const file of [...sharedInputs, join(pkg.dir, 'package.json'), ...(existsSync(tsconfig) ? [tsconfig] : []), ...filesUnder(join(pkg.dir, 'src'))]) {
    hash.update(relative(scriptsDir, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

/** esbuild, api-extractor and what uses them take 3 s to load: only once a package needs bundling. */
let build;
let Extractor;
let extractorConfigOf;
let tidyDeclarations;
async function loadTools() {
  if (build !== undefined) return;
  ({ build } = await import('esbuild'));
  ({ Extractor } = await import('@microsoft/api-extractor'));
  ({ extractorConfigOf } = await import('./lib/api-extractor.mjs'));
  ({ tidyDeclarations } = await import('./lib/tidy-declarations.mjs'));
}

let skipped = 0;
/** The inputs' hash of each package bundled, written once every package bundled without a problem. */
const stamps = [];
for (const pkg of packages) {
  const layout = publishedLayoutOf(pkg.manifest);
  const dist = join(pkg.dir, 'dist');
  const stamp = join(dist, '.bundle-inputs');
  const inputsHash = inputsHashOf(pkg);
  const isUpToDate = existsSync(stamp) && readFileSync(stamp, 'utf8') === inputsHash && layout.files.every((file) => existsSync(join(pkg.dir, file)));
  if (isUpToDate && !isForced) {
    skipped += 1;
    continue;
  }
  stamps.push([stamp, inputsHash]);
  await loadTools();
  for (const { source } of [...layout.entries, ...layout.bins]) {
    const compiled = join(pkg.dir, source.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js'));
    if (!existsSync(compiled)) throw new Error(`${relative(process.cwd(), compiled)} is missing: run \`pnpm build\` first`);
  }
  const [main, ...others] = layout.entries;
  if (main !== undefined && main.name !== 'index') throw new Error(`${pkg.name}: the first entry in exports must be "."`);
  // The modules the other entries take from the main bundle: found by a first build that is not written.
  const shared = new Set();
  for (const { source } of others) {
    await build({ ...COMMON, entryPoints: [join(pkg.dir, source)], write: false, outdir: '/nonexistent', plugins: [fromMainBundle(pkg.dir, dirname(join(pkg.dir, source)), shared)] });
  }
  const inputsByFile = new Map();
  const bundle = async (file, options) => {
    const result = await build({ ...COMMON, outfile: join(dist, file), metafile: true, ...options });
    inputsByFile.set(file, Object.keys(result.metafile.inputs).filter((input) => !input.includes(':')));
  };
  if (main !== undefined) {
    const entryPoint = join(pkg.dir, main.source);
    const names = await exportNamesOf(entryPoint);
    // An ES module entry keeps esbuild's flat output and its `0 && (module.exports = {...})` annotation
    // (a CommonJS one would wrap every module in a lazy initializer). `module` is the bundle's own here.
    const contents = [
      `export * from ${JSON.stringify(entryPoint)};`,
      // `export *` leaves a default export out (redlock-node-redlock-compat has one, as node-redlock has).
      ...(names.includes('default') ? [`export { default } from ${JSON.stringify(entryPoint)};`] : []),
      ...[...shared].map((path, index) => `import * as shared${index} from ${JSON.stringify(path)};`),
      ...(shared.size === 0 ? [] : [
        `Object.defineProperty(module.exports, ${SHARED_MODULES}, { value: {`,
        ...[...shared].map((path, index) => `  ${JSON.stringify(relative(pkg.dir, path))}: shared${index},`),
        '} });',
      ]),
    ].join('\n');
    await bundle(`${main.name}.cjs`, {
      stdin: { contents, resolveDir: pkg.dir, sourcefile: `${main.name}.cjs`, loader: 'js' },
      logOverride: { ...COMMON.logOverride, 'commonjs-variable-in-esm': 'silent' },
    });
    if (names.includes('default')) startLineWithExportList(join(dist, `${main.name}.cjs`));
  }
  for (const { source, name } of others) {
    await bundle(`${name}.cjs`, { entryPoints: [join(pkg.dir, source)], plugins: [fromMainBundle(pkg.dir, dirname(join(pkg.dir, source)), new Set())] });
  }
  for (const { source, name } of layout.entries) {
    const names = await exportNamesOf(join(pkg.dir, source));
    const what = name === 'index' ? pkg.name : `${pkg.name}/${name}`;
    // A default export (redlock-node-redlock-compat's, as node-redlock has) is the .cjs's `default`.
    const named = names.filter((exported) => exported !== 'default');
    const hasDefault = named.length < names.length;
    writeFileSync(
      join(dist, `${name}.mjs`),
      `// ${what} as an ES module: the CommonJS bundle beside it is the implementation, loaded once for import and require.\n` +
        `import cjs from './${name}-bridge.cjs';\n\nexport const {\n${named.map((exported) => `  ${exported},\n`).join('')}} = cjs;\n` +
        (hasDefault ? 'export default cjs.default;\n' : ''),
    );
    // Node scans a CommonJS file that an ES module imports for its export names (cjs-module-lexer): 30 ms
    // for redlock-core's 200 KB. The bridge is all it scans; it hands over the bundle by require().
    writeFileSync(
      join(dist, `${name}-bridge.cjs`),
      `// Loads ${name}.cjs for ${name}.mjs by require(), so that Node does not scan the bundle for export names: ${name}.mjs names them.\n` +
        `const implementation = require('./${name}.cjs');\n\nmodule.exports = implementation;\n`,
    );
    rollUpDeclarations(pkg, source, join(dist, `${name}.d.cts`));
    // Under node16 and nodenext, TypeScript reads an ES module's default import of CommonJS declarations
    // as their whole module.exports, so `export { default } from './index.cjs'` made the default import a
    // namespace, not the class (issue 77). `import = require` reads the .d.cts as CommonJS under every
    // moduleResolution (bundler too), and `cjs.default` is then the class itself, for values and types.
    writeFileSync(
      join(dist, `${name}.d.mts`),
      hasDefault
        ? `import cjs = require('./${name}.cjs');\n\nexport * from './${name}.cjs';\nexport default cjs.default;\n`
        : `export * from './${name}.cjs';\n`,
    );
  }
  for (const { source, name } of layout.bins) await bundle(`${name}.cjs`, { entryPoints: [join(pkg.dir, source)], ...BIN_OPTIONS });

  // One copy of each module per package: no source file in two of its bundles (bins are commands, apart).
  const libraryFiles = layout.entries.map(({ name }) => `${name}.cjs`);
  for (const [index, file] of libraryFiles.entries()) {
    for (const other of libraryFiles.slice(index + 1)) {
      for (const input of inputsByFile.get(file).filter((path) => inputsByFile.get(other).includes(path))) {
        problems.push(`${pkg.name}: ${input} is bundled into both ${file} and ${other}`);
      }
    }
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`bundle: ${problem}`);
  process.exit(1);
}
for (const [stamp, inputsHash] of stamps) writeFileSync(stamp, inputsHash);
const unchanged = skipped === 0 ? '' : `, ${skipped} unchanged since their last bundle (--force bundles them too)`;
console.log(`bundle: ${packages.length - skipped} package(s) in ${((performance.now() - startedAt) / 1000).toFixed(1)} s${unchanged}`);
