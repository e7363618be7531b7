// Makes sure redis-server is installed, for scripts/setup.sh: installs Debian's package with apt-get when
// running as root on Debian/Ubuntu, otherwise says what to install and exits with code 1.
// Run: node packages/local-redis-nodes/dist/ensure-redis-server-cli.js
import { ensureRedisServer, redisServerVersion } from './redis-server-binary.js';

const log = (line: string): void => console.log(`setup: ${line}`);

try {
  const path = await ensureRedisServer({ install: true, log });
  const version = redisServerVersion(path);
  log(`using ${path} (Redis ${version.join('.')})`);
  if ((version[0] ?? 0) < 7) log('warning: the Redis Cluster tests need redis-server 7.0 or later and will fail');
} catch (error) {
  console.error(`setup: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
