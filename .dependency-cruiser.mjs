// The import rules of the packages' sources, checked by dependency-cruiser in `npm test`
// (`pnpm check:imports`). ARCHITECTURE.md explains the layers of redlock-core.

/**
 * redlock-core's layers, from the top down: a file may import its own folder (without a cycle) or a
 * folder further down this list, never one above. The files directly in src/ (index.ts, redlock.ts, the
 * option types) and the testing/ entry point sit above every folder.
 */
const CORE_LAYERS = ['permits', 'acquire', 'lock', 'nodes', 'settings', 'scripts', 'base'];
const CORE = '^packages/redlock-core/src/';

/** One rule per layer: nothing in it imports a layer above it, or the top. */
const oneWayRules = CORE_LAYERS.map((layer, index) => ({
  name: `core-${layer}-imports-down`,
  comment: `${layer}/ sits below ${['the top', ...CORE_LAYERS.slice(0, index)].join(', ')}: move what it needs down instead of importing up.`,
  severity: 'error',
  from: { path: `${CORE}${layer}/` },
  to: { path: [`${CORE}[^/]+\\.ts$`, `${CORE}testing/`, ...CORE_LAYERS.slice(0, index).map((above) => `${CORE}${above}/`)] },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'An import circle (type-only imports included) means no file of it can be read, tested or changed on its own: move the shared part down.',
      severity: 'error',
      from: { path: '^packages/[^/]+/src/' },
      to: { circular: true },
    },
    ...oneWayRules,
    {
      name: 'core-election-uses-public-api',
      comment:
        'The election is built on what every user can call: it imports the public types and errors, the label format, the argument checks every public call shares and how a report is attached or warned, never the algorithm inside. What it lacks belongs in the public API.',
      severity: 'error',
      from: { path: `${CORE}(election|leadership)\\.ts$` },
      to: {
        path: `${CORE}`,
        pathNot: [
          `${CORE}(election|leadership|options)\\.ts$`,
          `${CORE}base/(clock|diagnostics|errors|outcomes|warnings)\\.ts$`,
          `${CORE}lock/lock\\.ts$`,
          `${CORE}scripts/label\\.ts$`,
          `${CORE}settings/(resolve-resources|value-checks)\\.ts$`,
        ],
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^packages/[^/]+/src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.test.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'types', 'default'], extensions: ['.ts', '.js'] },
  },
};
