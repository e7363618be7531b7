// What a public package looks like on npm, derived from its workspace package.json in one place, for the
// bundler (scripts/bundle.mjs) and for the published manifest (scripts/package-metadata.mjs writes it into
// `publishConfig`, which pnpm pack and pnpm publish apply).
//
// In the workspace, `exports` and `bin` name tsc's output (dist/**/*.js, one file per source file), which
// `tsc -b`, the examples and the bench use. On npm, each entry point is one bundled file per module system:
//   dist/<name>.cjs    the implementation (CommonJS), with dist/<name>.d.cts
//   dist/<name>.mjs    a thin ES module that re-exports the .cjs, with dist/<name>.d.mts (`export *` of it),
//                      through dist/<name>-bridge.cjs (see scripts/bundle.mjs)
// so `import` and `require` share one copy of every class, and each bin is one CommonJS file,
// dist/<command>.cjs. `<name>` is `index` for `.` and the subpath for the others (`./testing` → testing).

/** The file under src/ that tsc compiled to `distPath` (`./dist/testing/index.js` → `src/testing/index.ts`). */
function sourceOf(distPath) {
  return distPath.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
}

/**
 * The published layout of a workspace manifest: `entries` (`{ subpath, source, name }`), `bins`
 * (`{ command, source, name }`), the `files` to pack, and the `publishConfig` that replaces `exports`,
 * `main`, `types` and `bin` in the packed package.json.
 */
export function publishedLayoutOf(manifest) {
  const entries = Object.entries(manifest.exports ?? {})
    .filter(([, target]) => typeof target === 'object' && typeof target.default === 'string')
    .map(([subpath, target]) => ({ subpath, source: sourceOf(target.default), name: subpath === '.' ? 'index' : subpath.slice(2) }));
  const bins = Object.entries(manifest.bin ?? {}).map(([command, path]) => ({ command, source: sourceOf(path), name: command }));

  const exports = {};
  for (const { subpath, name } of entries) {
    exports[subpath] = {
      import: { types: `./dist/${name}.d.mts`, default: `./dist/${name}.mjs` },
      require: { types: `./dist/${name}.d.cts`, default: `./dist/${name}.cjs` },
    };
  }
  if (manifest.exports?.['./package.json'] !== undefined) exports['./package.json'] = './package.json';
  const publishConfig = { exports };
  const main = entries.find((entry) => entry.subpath === '.');
  // For resolvers that read no `exports` (TypeScript's node10, old bundlers): the CommonJS entry.
  if (main !== undefined) Object.assign(publishConfig, { main: `./dist/${main.name}.cjs`, types: `./dist/${main.name}.d.cts` });
  if (bins.length > 0) publishConfig.bin = Object.fromEntries(bins.map(({ command, name }) => [command, `./dist/${name}.cjs`]));

  // Subpaths other than `.` get a directory with a package.json for resolvers that read no `exports`
  // (committed, written and checked by scripts/package-metadata.mjs like LICENSE).
  const subpathDirs = entries.filter((entry) => entry.subpath !== '.').map((entry) => entry.name);
  const files = [
    ...entries.flatMap(({ name }) => [`dist/${name}.cjs`, `dist/${name}-bridge.cjs`, `dist/${name}.mjs`, `dist/${name}.d.cts`, `dist/${name}.d.mts`]),
    ...bins.map(({ name }) => `dist/${name}.cjs`),
    ...subpathDirs,
  ];
  return { entries, bins, files, publishConfig, subpathDirs };
}
