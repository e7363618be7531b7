// The packages this repository publishes: every packages/* directory whose package.json is not private.
// Every release check reads the list from here, so a package added under packages/ is covered at once.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root directory. */
export const ROOT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The public packages, in directory order: `{ name, dir, relativeDir, manifest }`, `dir` absolute,
 * `relativeDir` from the root (`packages/redlock-core`), `manifest` the parsed package.json.
 */
export function publicPackages() {
  const packagesDir = join(ROOT_DIR, 'packages');
  return readdirSync(packagesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(packagesDir, entry.name, 'package.json')))
    .map((entry) => {
      const dir = join(packagesDir, entry.name);
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      return { name: manifest.name, dir, relativeDir: `packages/${entry.name}`, manifest };
    })
    .filter((pkg) => pkg.manifest.private !== true)
    .sort((a, b) => a.relativeDir.localeCompare(b.relativeDir));
}
