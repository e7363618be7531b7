import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from '@jest/globals';

// What a passing test wants on record but not on the terminal: the counterexamples the simulation is
// expected to find, run summaries, chaos figures. A passing run then prints jest's summary and little
// else; a failing test still fails with its own message (fast-check's seed and trace included).

/** Where the logs go: `test-results/` at the repository root (gitignored), or `REDLOCK_TEST_LOG_DIR`. */
export const TEST_LOG_DIR =
  process.env['REDLOCK_TEST_LOG_DIR'] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'test-results');

/** Test files that wrote in this run; jest gives each test file its own module registry, so this resets per file. */
const started = new Set<string>();

/**
 * Appends `text` under the current test's name to `<TEST_LOG_DIR>/<test file name>.log`, which the first
 * write of a run truncates. Returns the log's path.
 */
export function writeTestLog(text: string): string {
  const { testPath, currentTestName } = expect.getState();
  const path = join(TEST_LOG_DIR, `${basename(testPath ?? 'unknown-test')}.log`);
  if (!started.has(path)) {
    mkdirSync(TEST_LOG_DIR, { recursive: true });
    writeFileSync(path, '');
    started.add(path);
  }
  appendFileSync(path, `## ${currentTestName ?? '(outside a test)'}\n${text}\n\n`);
  return path;
}
