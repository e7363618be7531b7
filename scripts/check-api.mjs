// Checks that the public API of every package entry point is the one committed in its API report
// (packages/<dir>/api/<entry>.api.md, written by Microsoft's api-extractor from the built declarations).
// A change to an exported signature, a new export or a removed one makes this fail with the difference,
// so a refactoring that was meant to leave the API alone cannot change it unnoticed, and an intended
// change is reviewed as a change of the report in the same commit.
// Needs a build (`pnpm build`).
// Run: node scripts/check-api.mjs            (fails when a report differs; prints the difference)
//      node scripts/check-api.mjs --update   (writes the reports anew; commit them with the change)
import { Extractor } from '@microsoft/api-extractor';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractorConfigOf } from './lib/api-extractor.mjs';
import { publicPackages } from './lib/public-packages.mjs';

const isUpdate = process.argv.includes('--update');
const work = mkdtempSync(join(tmpdir(), 'redlock-check-api-'));
const changed = [];

/** Every entry point of `pkg` with declarations: `{ entry: '.' | './testing', typesPath }`. */
function entryPointsOf(pkg) {
  return Object.entries(pkg.manifest.exports ?? {})
    .filter(([, target]) => typeof target === 'object' && typeof target.types === 'string')
    .map(([entry, target]) => ({ entry, typesPath: join(pkg.dir, target.types) }));
}

/** The report's file name for an entry point: `redlock-core.api.md`, `redlock-core-testing.api.md`. */
function reportNameOf(pkg, entry) {
  return `${[pkg.manifest.name, ...entry.split('/').slice(1)].join('-')}.api.md`;
}

for (const pkg of publicPackages()) {
  for (const { entry, typesPath } of entryPointsOf(pkg)) {
    if (!existsSync(typesPath)) throw new Error(`${typesPath} is missing: build first (pnpm build)`);
    const reportFolder = join(pkg.dir, 'api');
    mkdirSync(reportFolder, { recursive: true });
    const reportFileName = reportNameOf(pkg, entry);
    const config = extractorConfigOf(pkg, typesPath, { apiReport: { enabled: true, reportFileName, reportFolder, reportTempFolder: work } });
    const result = Extractor.invoke(config, { localBuild: isUpdate, showVerboseMessages: false, messageCallback: quietApiReportNotices });
    if (!result.succeeded && !result.apiReportChanged) {
      throw new Error(`api-extractor failed on ${pkg.manifest.name} ${entry} (${result.errorCount} errors)`);
    }
    if (result.apiReportChanged) changed.push({ name: `${pkg.manifest.name} ${entry}`, committed: join(reportFolder, reportFileName), now: join(work, reportFileName) });
  }
}

/** api-extractor's own console notices (its TypeScript version, "report changed, copy it"): this script says what matters once, below. */
function quietApiReportNotices(message) {
  if (message.messageId.startsWith('console-')) message.handled = true;
}

if (isUpdate) {
  for (const { name } of changed) console.log(`check-api: wrote the API report of ${name}`);
  if (changed.length === 0) console.log('check-api: every API report was up to date');
} else if (changed.length > 0) {
  for (const { name, committed, now } of changed) {
    console.error(`check-api: the public API of ${name} differs from ${committed}:`);
    console.error(lineDiff(existsSync(committed) ? readFileSync(committed, 'utf8') : '', readFileSync(now, 'utf8')));
  }
  console.error('check-api: if the change is intended, run `node scripts/check-api.mjs --update` and commit the reports');
  process.exitCode = 1;
} else {
  console.log('check-api: every public API matches its committed report');
}
rmSync(work, { recursive: true, force: true });

/** The lines only in `before` (-) and only in `after` (+), in `after`'s order: enough to see what changed. */
function lineDiff(before, after) {
  const beforeLines = new Set(before.split('\n'));
  const afterLines = new Set(after.split('\n'));
  const removed = [...beforeLines].filter((line) => !afterLines.has(line)).map((line) => `- ${line}`);
  const added = [...afterLines].filter((line) => !beforeLines.has(line)).map((line) => `+ ${line}`);
  return [...removed, ...added].join('\n');
}
