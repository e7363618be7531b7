// Two projects: `unit` needs no Redis and runs in seconds; `integration` starts real redis-server processes.
// Tests run the TypeScript sources through ts-jest as ESM; workspace packages resolve to their sources.
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^redlock-core$': '<rootDir>/packages/redlock-core/src/index.ts',
    '^redlock-core/testing$': '<rootDir>/packages/redlock-core/src/testing/index.ts',
    '^redlock-ioredis-adapter$': '<rootDir>/packages/redlock-ioredis-adapter/src/index.ts',
    '^redlock-adapter-test-kit$': '<rootDir>/packages/redlock-adapter-test-kit/src/index.ts',
    '^redlock-node-redlock-compat$': '<rootDir>/packages/redlock-node-redlock-compat/src/index.ts',
    '^redlock-node-redis-adapter$': '<rootDir>/packages/redlock-node-redis-adapter/src/index.ts',
    '^redlock-nestjs$': '<rootDir>/packages/redlock-nestjs/src/index.ts',
    '^redlock-opentelemetry$': '<rootDir>/packages/redlock-opentelemetry/src/index.ts',
    '^local-redis-nodes$': '<rootDir>/packages/local-redis-nodes/src/index.ts',
    // Relative imports end in `.js` (NodeNext); map them back to the `.ts` sources.
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  testEnvironment: 'node',
};

export default {
  // Fault tests pause and kill nodes and wait out per-node timeouts: room on a loaded machine, never unbounded.
  testTimeout: 20_000,
  // Two test files at a time even on 2 cores, where Jest's default is one: integration tests mostly wait on
  // their nodes and timers. On this repository's 2-core machine, integration took 332 s with one worker and
  // 197-202 s with two (three full runs, all passing), the unit tests 40 s and 29 s. `--maxWorkers` overrides
  // it: `npm run test:integration` runs three files at a time, 133-138 s against 177-185 s with two (three
  // runs each, all passing, 2026-11-27; four workers read 117 s once), the unit tests keep two.
  maxWorkers: 2,
  // How long a worker may take to exit once its last file ran, before Jest kills it and prints "A worker
  // process has failed to exit gracefully". Its 500 ms default is shorter than a worker's exit on this
  // loaded 2-core machine: nothing is left open (checked file by file: only Jest's own pipes, within 100 ms),
  // but Node's teardown after the 'exit' event took another 300-700 ms, and most runs printed the warning
  // though nothing leaked. A real leak (a socket, a child process, a ref'd timer) still reaches it.
  workerGracefulExitTimeout: 2_000,
  projects: [
    // bench/test/unit: the bench's own logic (its verdicts on the targets), on figures made up in the test.
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/packages/*/test/unit/**/*.test.ts', '<rootDir>/bench/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      // examples/test runs the built examples as users would, on real nodes.
      testMatch: ['<rootDir>/packages/*/test/integration/**/*.test.ts', '<rootDir>/examples/test/**/*.test.ts'],
    },
  ],
};
