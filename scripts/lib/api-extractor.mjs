// api-extractor's configuration for one entry point of a workspace package, shared by the declaration
// roll-up (scripts/bundle.mjs) and the API report check (scripts/check-api.mjs).
import { ExtractorConfig } from '@microsoft/api-extractor';
import { join } from 'node:path';

/**
 * The prepared configuration for tsc's declarations of one entry (`typesPath`) of `pkg`, with only what
 * `outputs` turns on (`apiReport`, `dtsRollup`, each api-extractor's own settings object). Its notices are
 * silenced: the callers say what matters; compiler errors still count.
 */
export function extractorConfigOf(pkg, typesPath, { apiReport = { enabled: false }, dtsRollup = { enabled: false } }) {
  return ExtractorConfig.prepare({
    configObject: {
      projectFolder: pkg.dir,
      mainEntryPointFilePath: typesPath,
      bundledPackages: [],
      compiler: { tsconfigFilePath: join(pkg.dir, 'tsconfig.json') },
      apiReport,
      docModel: { enabled: false },
      dtsRollup,
      tsdocMetadata: { enabled: false },
      messages: {
        // TSDoc style and release tags are checked elsewhere (TypeDoc).
        extractorMessageReporting: { default: { logLevel: 'none' } },
        tsdocMessageReporting: { default: { logLevel: 'none' } },
        compilerMessageReporting: { default: { logLevel: 'error' } },
      },
    },
    configObjectFullPath: join(pkg.dir, 'api-extractor.json'),
    packageJsonFullPath: join(pkg.dir, 'package.json'),
  });
}
