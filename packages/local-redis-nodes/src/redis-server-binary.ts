import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';

/** Where Linux packages and `make install` put redis-server; searched after `PATH`, which services and cron often trim. */
const STANDARD_DIRS = ['/usr/bin', '/usr/sbin', '/usr/local/bin'] as const;

/** How long one apt-get step (update, install) may take, in milliseconds, before it is killed. */
const APT_GET_TIMEOUT_MS = 10 * 60_000;

const INSTALL_HINT =
  'install Redis (7.0 or later for startRedisCluster) so that `redis-server` is on PATH (Debian/Ubuntu: `apt-get install redis-server`; ' +
  'Fedora: `dnf install redis`; macOS: `brew install redis`)';

/**
 * Returns the path of the `redis-server` executable: the first found on `PATH`, else in /usr/bin,
 * /usr/sbin or /usr/local/bin (which services and cron jobs often leave out of `PATH`); `undefined` if
 * there is none. Synchronous, and it runs nothing.
 */
export function findRedisServer(): string | undefined {
  return findExecutable('redis-server');
}

/** Options of {@link ensureRedisServer}. */
export interface EnsureRedisServerOptions {
  /**
   * When redis-server is missing, installs Debian's `redis-server` package with apt-get. Only done as root
   * on Debian or Ubuntu; elsewhere the call rejects with what to install.
   * @defaultValue `false`
   */
  readonly install?: boolean;
  /** Receives progress and apt-get's output, one line per call. @defaultValue ignores the lines */
  readonly log?: (line: string) => void;
}

/**
 * Returns the path of redis-server. When it is missing and `install` is true, installs Debian's
 * `redis-server` package with apt-get (only as root on Debian/Ubuntu, logging through `log`); otherwise
 * rejects with an `Error` that says exactly what to install.
 *
 * @throws `Error` (as a rejection) when redis-server is missing and `install` is false or impossible here
 *   (not root, not Debian/Ubuntu, no apt-get): the message names the command that installs it. `Error`
 *   when an apt-get step fails or runs longer than 10 minutes.
 *
 * @example
 * ```ts
 * const path = await ensureRedisServer({ install: process.env.CI === 'true', log: console.log });
 * ```
 */
export async function ensureRedisServer(options: EnsureRedisServerOptions = {}): Promise<string> {
  const found = findRedisServer();
  if (found !== undefined) return found;
  if (options.install !== true) {
    throw new Error(`redis-server was not found on PATH or in ${STANDARD_DIRS.join(', ')}: ${INSTALL_HINT}`);
  }
  const obstacle = aptInstallObstacle();
  if (obstacle !== undefined) {
    throw new Error(`redis-server was not found and cannot be installed automatically (${obstacle}): ${INSTALL_HINT}`);
  }
  const log = options.log ?? (() => undefined);
  log('redis-server was not found; installing the Debian package redis-server with apt-get');
  await runLogged('apt-get', ['update'], log);
  await runLogged('apt-get', ['install', '--yes', '--no-install-recommends', 'redis-server'], log);
  const installed = findRedisServer();
  if (installed === undefined) {
    throw new Error(`apt-get installed the redis-server package, but redis-server is still not on PATH or in ${STANDARD_DIRS.join(', ')}`);
  }
  log(`Installed ${installed}`);
  return installed;
}

/** The version of the redis-server at `path`, e.g. `[7, 0, 15]`, from `redis-server --version`. */
export function redisServerVersion(path: string): readonly number[] {
  const output = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 5_000 });
  const version = /v=(\d+)\.(\d+)\.(\d+)/.exec(output);
  if (version === null) throw new Error(`Could not read the version of ${path} from \`${output.trim()}\``);
  return version.slice(1).map(Number);
}

function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== ''), ...STANDARD_DIRS];
  for (const dir of new Set(dirs)) {
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Why apt-get cannot install packages here, or `undefined` if it can. */
function aptInstallObstacle(): string | undefined {
  if (process.platform !== 'linux') return `apt-get needs Debian or Ubuntu, this is ${process.platform}`;
  if (!existsSync('/etc/debian_version')) return 'apt-get needs Debian or Ubuntu, and /etc/debian_version is missing';
  if (process.getuid?.() !== 0) return 'apt-get needs root, and this process is not running as root';
  if (findExecutable('apt-get') === undefined) return 'apt-get is not on PATH';
  return undefined;
}

/** Runs a command to completion within APT_GET_TIMEOUT_MS, passing each line of its output to `log`. */
function runLogged(command: string, args: readonly string[], log: (line: string) => void): Promise<void> {
  const commandLine = [command, ...args].join(' ');
  log(`$ ${commandLine}`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', log);
    const timer = setTimeout(() => child.kill('SIGKILL'), APT_GET_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`Could not run \`${commandLine}\`: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else if (signal === 'SIGKILL') reject(new Error(`\`${commandLine}\` did not finish within ${APT_GET_TIMEOUT_MS} ms`));
      else reject(new Error(`\`${commandLine}\` failed with ${code === null ? `signal ${signal}` : `exit code ${code}`}`));
    });
  });
}
