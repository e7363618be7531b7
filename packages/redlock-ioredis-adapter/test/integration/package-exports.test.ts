import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from '@jest/globals';

// These tests load the built packages the way users do, in fresh Node processes started in the adapter's
// directory, where `redlock-core` resolves through node_modules and the adapter through its own name.
const ADAPTER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PACKAGE_DIRS = {
  'redlock-core': join(ADAPTER_DIR, '..', 'redlock-core'),
  'redlock-ioredis-adapter': ADAPTER_DIR,
} as const;
/** How long one child process may run, in milliseconds. */
const CHILD_TIMEOUT_MS = 15_000;

const execFileAsync = promisify(execFile);

/**
 * Whether `require()` loads ES modules without flags: from Node 20.19 and 22.12 on. (Jest's sandboxed
 * `process` lacks `process.features.require_module`, so the version decides.)
 */
function canRequireEsm(nodeVersion: string): boolean {
  const [major = 0, minor = 0] = nodeVersion.split('.').map(Number);
  return major >= 23 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
}

/** Runs `source` with `node` in the adapter's directory and parses the JSON it prints. */
async function runInNode(source: string, inputType: 'module' | 'commonjs'): Promise<unknown> {
  const { stdout } = await execFileAsync(process.execPath, [`--input-type=${inputType}`, '--eval', source], {
    cwd: ADAPTER_DIR,
    timeout: CHILD_TIMEOUT_MS,
  });
  return JSON.parse(stdout);
}

/**
 * Uses both packages together without Redis: a stand-in ioredis client answers the probe of first contact
 * (no keys), sets every key as a server does (`OK` to `SET … NX`, nil to `SET … NX … GET`) and grants every other script, so acquire and release succeed; it records what the adapter
 * sent (the command, numkeys and the key, after the script or its SHA1).
 */
const USE_BOTH_PACKAGES = `
(async () => {
  const sent = [];
  const client = {
    evalsha: async (...args) => (sent.push(['evalsha', ...args.slice(1, 3)]), 1),
    eval: async (...args) => (sent.push(['eval', ...args.slice(1, 3)]), args[1] === 0 ? ['run-id', 'noeviction'] : 1),
    set: async (...args) => (sent.push(['set', args[0]]), args.includes('GET') ? null : 'OK'),
  };
  const redlock = new core.Redlock([new adapter.IoredisAdapter(client)], { retryCount: 0 });
  const lock = await redlock.acquire('resource', 1000);
  await lock.release();
  console.log(JSON.stringify({ coreExports: Object.keys(core), adapterExports: Object.keys(adapter), state: lock.state, sent }));
})().catch((error) => { console.error(error); process.exitCode = 1; });
`;

const EXPECTED_USE = {
  coreExports: expect.arrayContaining(['Redlock', 'Lock', 'RedlockError', 'NodeError', 'LockAcquireError']),
  adapterExports: ['IoredisAdapter', 'QUIT_TIMEOUT_MS', 'quitClient'],
  state: 'released',
  // The probe, then the acquire script (a lock on one resource goes by SET only on a node whose probe has
  // answered: a user without EVAL gets NOPERM before anything is written) and the release script, both by
  // EVAL at first contact.
  sent: [
    ['eval', 0],
    ['eval', 1, 'resource'],
    ['eval', 1, 'resource'],
  ],
};

beforeAll(() => {
  for (const [name, dir] of Object.entries(PACKAGE_DIRS)) {
    if (!existsSync(join(dir, 'dist', 'index.js'))) {
      throw new Error(`${name} is not built (${join(dir, 'dist', 'index.js')} is missing): run \`pnpm build\` first`);
    }
  }
});

describe('the built packages', () => {
  it('load with import() and work together', async () => {
    const source = `const core = await import('redlock-core'); const adapter = await import('redlock-ioredis-adapter');${USE_BOTH_PACKAGES}`;
    await expect(runInNode(source, 'module')).resolves.toEqual(EXPECTED_USE);
  });

  (canRequireEsm(process.versions.node) ? it : it.skip)('load with require() and work together (Node 20.19 or later)', async () => {
    const source = `const core = require('redlock-core'); const adapter = require('redlock-ioredis-adapter');${USE_BOTH_PACKAGES}`;
    await expect(runInNode(source, 'commonjs')).resolves.toEqual(EXPECTED_USE);
  });

  it('block deep imports with their exports maps, for import() and require() alike', async () => {
    const blocked = [
      'redlock-core/dist/lock/lock.js',
      'redlock-core/dist/index.js',
      'redlock-core/dist/scripts/acquire.js',
      'redlock-ioredis-adapter/dist/ioredis-adapter.js',
      'redlock-ioredis-adapter/dist/index.js',
    ];
    const source = `
      import { createRequire } from 'node:module';
      const require = createRequire(process.cwd() + '/');
      const codeOf = async (load) => { try { await load(); return 'loaded'; } catch (error) { return error.code; } };
      const results = {};
      for (const specifier of ${JSON.stringify(blocked)}) {
        results[specifier] = { import: await codeOf(() => import(specifier)), require: await codeOf(() => require(specifier)) };
      }
      results['redlock-core/package.json'] = { require: await codeOf(() => require('redlock-core/package.json')) };
      console.log(JSON.stringify(results));
    `;
    const denied = { import: 'ERR_PACKAGE_PATH_NOT_EXPORTED', require: 'ERR_PACKAGE_PATH_NOT_EXPORTED' };
    await expect(runInNode(source, 'module')).resolves.toEqual({
      ...Object.fromEntries(blocked.map((specifier) => [specifier, denied])),
      'redlock-core/package.json': { require: 'loaded' },
    });
  });

  it.each(Object.entries(PACKAGE_DIRS))('%s ships the type declarations its exports map names', (_, dir) => {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      exports: { '.': { types: string; default: string } };
    };
    expect(existsSync(join(dir, manifest.exports['.'].types))).toBe(true);
    expect(existsSync(join(dir, manifest.exports['.'].default))).toBe(true);
  });
});
