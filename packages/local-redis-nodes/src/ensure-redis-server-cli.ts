#!/usr/bin/env node
// `ensure-redis-server`, the package's command: finds redis-server and prints its path and version, for a
// CI job or a setup script that must fail early and clearly when Redis is missing. With --install, as
// root on Debian/Ubuntu, it installs Debian's redis-server package first (this repository's
// scripts/setup.sh runs it that way).
// Run: npx ensure-redis-server [--install]   (from this repository: node packages/local-redis-nodes/dist/ensure-redis-server-cli.js)
import { ensureRedisServer, redisServerVersion } from './redis-server-binary.js';

const COMMAND = 'ensure-redis-server';
const USAGE = `Usage: ${COMMAND} [--install]

Prints the path and version of redis-server (looked up on PATH, then in /usr/bin, /usr/sbin and
/usr/local/bin) and exits with 0. When it is missing, exits with 1 and says what to install.

  --install   when redis-server is missing, install Debian's redis-server package with apt-get
              (only as root on Debian or Ubuntu; elsewhere it exits with 1 and says what to install)
  -h, --help  print this help

Exit codes: 0 found (or installed), 1 missing or the installation failed, 2 bad arguments.`;

/** Exit code for a command line the command does not understand. */
const USAGE_ERROR_EXIT_CODE = 2;

const log = (line: string): void => console.log(`${COMMAND}: ${line}`);

async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const unknown = args.find((arg) => arg !== '--install');
  if (unknown !== undefined) {
    console.error(`${COMMAND}: unknown argument ${JSON.stringify(unknown)}\n\n${USAGE}`);
    return USAGE_ERROR_EXIT_CODE;
  }
  try {
    const path = await ensureRedisServer({ install: args.includes('--install'), log });
    const version = redisServerVersion(path);
    log(`using ${path} (Redis ${version.join('.')})`);
    if ((version[0] ?? 0) < 7) log('warning: startRedisCluster needs redis-server 7.0 or later and will reject');
    return 0;
  } catch (error) {
    console.error(`${COMMAND}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

// A promise chain, not a top-level await: the published command is one CommonJS file.
void main(process.argv.slice(2)).then((exitCode) => {
  process.exitCode = exitCode;
});
