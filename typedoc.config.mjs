// The API reference: one TypeDoc site for every public package (packages/* that are not private), built
// from each package's src/index.ts with `pnpm docs` into api-docs/ (gitignored). Warnings are errors, and
// validation flags exported symbols without TSDoc, types used but not exported, and broken {@link}s.
import { publicPackages } from './scripts/lib/public-packages.mjs';

/** Checked for every package (the per-package conversion) and for the merged site (links across packages). */
const validation = { notExported: true, invalidLink: true, invalidPath: true, notDocumented: true };

/**
 * Source links point at the repository's main branch, built from paths rather than from the checkout's git
 * remote, which a clone made for CI does not have.
 */
const sourceLinks = { disableGit: true, sourceLinkTemplate: 'https://github.com/redlock-core/redlock/blob/main/{path}#L{line}' };

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: 'Redlock',
  entryPointStrategy: 'packages',
  // Libraries only: a command-line package (a `bin`, no `.` export) has no API; its README documents it.
  entryPoints: publicPackages()
    .filter((pkg) => pkg.manifest.exports?.['.'] !== undefined)
    .map((pkg) => pkg.relativeDir),
  packageOptions: {
    entryPoints: ['src/index.ts'],
    tsconfig: 'tsconfig.json',
    excludePrivate: true,
    excludeInternal: true,
    validation,
    ...sourceLinks,
  },
  readme: 'none',
  // TypeDoc's own list, and `diff` for the migration guide's one-line change.
  highlightLanguages: ['bash', 'console', 'css', 'html', 'javascript', 'json', 'jsonc', 'json5', 'yaml', 'tsx', 'typescript', 'diff'],
  out: 'api-docs',
  treatWarningsAsErrors: true,
  ...sourceLinks,
  validation,
};
