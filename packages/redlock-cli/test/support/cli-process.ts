import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built command, run as users run it: `node dist/main.js`. */
export const CLI_PATH = join(PACKAGE_DIR, 'dist', 'main.js');
/** How long one CLI run may take in a test, in milliseconds, before it is killed and the test fails. */
const RUN_LIMIT_MS = 30_000;

/** How a CLI run ended, with what it wrote. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** From the start of the process to its exit, in milliseconds. */
  readonly wallMs: number;
}

/** Options of {@link startCli}. */
export interface CliOptions {
  /** Written to the CLI's stdin, which is then closed; without it, stdin is /dev/null. */
  readonly input?: string;
  /** How long the run may take, in milliseconds, before it is killed and the test fails. */
  readonly limitMs?: number;
}

/** A CLI process started by {@link startCli}. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Resolves when the process exited (rejects if it ran longer than the limit, after killing it). */
  readonly result: Promise<CliResult>;
  /** What it wrote on stderr so far. */
  stderr(): string;
}

/**
 * Starts `node dist/main.js ...args` with `env` as its whole environment (plus PATH), stdout and stderr
 * captured, killed with SIGKILL if it outlives `limitMs`.
 */
export function startCli(args: readonly string[], env: Record<string, string>, options: CliOptions = {}): CliProcess {
  const { input, limitMs = RUN_LIMIT_MS } = options;
  const start = performance.now();
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  child.stdin?.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const result = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redlock ${args.join(' ')} still ran after ${limitMs} ms; stderr so far: ${stderr}`));
    }, limitMs);
    // 'exit', not 'close': a command killed with SIGKILL may leave a grandchild holding the pipes.
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const wallMs = performance.now() - start;
      // Let the pipes deliver what was written before the exit.
      setImmediate(() => resolve({ code, signal, stdout, stderr, wallMs }));
    });
  });
  return { child, result, stderr: () => stderr };
}

/** Runs the CLI to its end; see {@link startCli}. */
export function runCli(args: readonly string[], env: Record<string, string>, options?: CliOptions): Promise<CliResult> {
  return startCli(args, env, options).result;
}

/**
 * Builds the CLI (and what it uses) when `dist/main.js` is missing or older than a source file, so the
 * tests never run a stale build. Bounded; a build error fails the calling hook.
 */
export async function ensureCliBuilt(): Promise<void> {
  const sourceDir = join(PACKAGE_DIR, 'src');
  const newestSourceMs = Math.max(...readdirSync(sourceDir).map((name) => statSync(join(sourceDir, name)).mtimeMs));
  let builtMs = 0;
  try {
    builtMs = statSync(CLI_PATH).mtimeMs;
  } catch {
    // Not built yet.
  }
  if (builtMs >= newestSourceMs) return;
  const tsc = join(PACKAGE_DIR, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-b', PACKAGE_DIR], { timeout: 120_000 });
}
