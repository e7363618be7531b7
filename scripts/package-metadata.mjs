// Writes the metadata every public package shares from one place, the root package.json (`repository`,
// `license`, `author`, `engines`), into each public package's package.json, and copies the root LICENSE
// next to it. Also writes what npm gets instead of the workspace's tsc output (`files`, `publishConfig`,
// and a package.json per subpath for resolvers without `exports`), from scripts/lib/published-layout.mjs. `--check` changes nothing and exits 1 if a package is out of date (CI runs it that way).
//
//   node scripts/package-metadata.mjs          # write
//   node scripts/package-metadata.mjs --check  # verify
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { publishedLayoutOf } from './lib/published-layout.mjs';
import { publicPackages, ROOT_DIR } from './lib/public-packages.mjs';

const isCheck = process.argv.includes('--check');
const root = JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8'));
/** `https://host/owner/name` from the root's `git+https://host/owner/name.git`. */
const webUrl = root.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
const license = readFileSync(join(ROOT_DIR, 'LICENSE'), 'utf8');

/** Where a field goes when a package has none yet: after the nearest field before it in this list. */
const FIELD_ORDER = [
  'name', 'version', 'private', 'description', 'license', 'author', 'homepage', 'repository', 'bugs', 'keywords',
  'type', 'sideEffects', 'files', 'exports', 'main', 'types', 'engines', 'publishConfig', 'scripts',
];

/** The manifest with the shared fields set; fields it had keep their place, new ones go by FIELD_ORDER. */
function withSharedMetadata(manifest, relativeDir) {
  const layout = publishedLayoutOf(manifest);
  const shared = {
    license: root.license,
    author: root.author,
    homepage: `${webUrl}/tree/main/${relativeDir}#readme`,
    repository: { type: 'git', url: root.repository.url, directory: relativeDir },
    bugs: { url: `${webUrl}/issues` },
    // The bundles only: neither tsc's per-file output nor src/ and the maps that would point into it.
    files: layout.files,
    engines: root.engines,
    publishConfig: layout.publishConfig,
  };
  const entries = Object.entries(manifest).map(([key, value]) => [key, key in shared ? shared[key] : value]);
  for (const [key, value] of Object.entries(shared)) {
    if (key in manifest) continue;
    const before = FIELD_ORDER.slice(0, FIELD_ORDER.indexOf(key)).reverse().find((field) => entries.some(([name]) => name === field));
    entries.splice(before === undefined ? 0 : entries.findIndex(([name]) => name === before) + 1, 0, [key, value]);
  }
  return Object.fromEntries(entries);
}

const problems = [];
for (const pkg of publicPackages()) {
  const path = join(pkg.dir, 'package.json');
  const current = readFileSync(path, 'utf8');
  const wanted = `${JSON.stringify(withSharedMetadata(pkg.manifest, pkg.relativeDir), null, 2)}\n`;
  for (const field of ['description', 'keywords']) {
    if (pkg.manifest[field] === undefined || pkg.manifest[field].length === 0) problems.push(`${pkg.name}: no ${field} in package.json`);
  }
  const subpathManifests = publishedLayoutOf(pkg.manifest).subpathDirs.map((name) => ({
    path: join(pkg.dir, name, 'package.json'),
    text: `${JSON.stringify({ main: `../dist/${name}.cjs`, types: `../dist/${name}.d.cts` }, null, 2)}\n`,
  }));
  for (const { path: subpathPath, text } of subpathManifests) {
    const isCurrent = existsSync(subpathPath) && readFileSync(subpathPath, 'utf8') === text;
    if (isCheck && !isCurrent) problems.push(`${pkg.name}: ${subpathPath} is missing or out of date`);
    if (!isCheck && !isCurrent) {
      mkdirSync(dirname(subpathPath), { recursive: true });
      writeFileSync(subpathPath, text);
    }
  }
  const licensePath = join(pkg.dir, 'LICENSE');
  const licenseIsCurrent = existsSync(licensePath) && readFileSync(licensePath, 'utf8') === license;
  if (isCheck) {
    if (current !== wanted) problems.push(`${pkg.name}: package.json metadata differs from the root's`);
    if (!licenseIsCurrent) problems.push(`${pkg.name}: LICENSE is missing or differs from the root's`);
  } else {
    if (current !== wanted) writeFileSync(path, wanted);
    if (!licenseIsCurrent) copyFileSync(join(ROOT_DIR, 'LICENSE'), licensePath);
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`package-metadata: ${problem}`);
  if (isCheck) console.error('package-metadata: run `node scripts/package-metadata.mjs` to update');
  process.exit(1);
}
