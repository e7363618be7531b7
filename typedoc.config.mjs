// The API reference: one TypeDoc site for every public package (packages/* that are not private), built
// from each package's src/index.ts with `pnpm docs` into api-docs/ (gitignored). Warnings are errors, and
// validation flags exported symbols without TSDoc, types used but not exported, and broken {@link}s.
import { publicPackages } from './scripts/lib/public-packages.mjs';

/** Checked for every package (the per-package conversion) and for the merged site (links across packages). */
const validation = { notExported: true, invalidLink: true, invalidPath: true, notDocumented: true };

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: 'Redlock',
  entryPointStrategy: 'packages',
  entryPoints: publicPackages().map((pkg) => pkg.relativeDir),
  packageOptions: {
    entryPoints: ['src/index.ts'],
    tsconfig: 'tsconfig.json',
    excludePrivate: true,
    excludeInternal: true,
    validation,
  },
  readme: 'none',
  out: 'api-docs',
  treatWarningsAsErrors: true,
  validation,
};
