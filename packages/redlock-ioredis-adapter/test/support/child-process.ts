import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * The adapter package's directory: a child runs there, so that it imports the built packages (and either
 * ioredis, as `ioredis` or `ioredis-v5`) the way users do.
 */
export const ADAPTER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** How long one child process may run, in milliseconds, before it is killed and its test fails. */
export const CHILD_TIMEOUT_MS = 25_000;

/** A child process running an ES module's source, with what it printed and when it printed its last line and exited. */
export interface Child {
  readonly process: ChildProcess;
  /** Resolves with the next line printed on stdout. */
  nextLine(): Promise<string>;
  /** Resolves once the child exited: its exit code and how long after its last stdout line, in milliseconds. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: string | null; readonly exitAfterLastLineMs: number }>;
  /** Everything printed on stderr so far. */
  stderr(): string;
}

/**
 * Runs `source` as an ES module in a fresh Node process in {@link ADAPTER_DIR}, with `env` added to this
 * process's environment; the child is killed after {@link CHILD_TIMEOUT_MS}. These tests see what keeps a
 * process alive and what it prints: Jest keeps its own process alive, and ioredis prints an unhandled
 * 'error' event only for errors of its own realm, which Jest's are not.
 */
export function runChild(source: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--input-type=module', '--eval', source], {
    cwd: ADAPTER_DIR,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: CHILD_TIMEOUT_MS,
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let lastLineAt = performance.now();
  const lines: string[] = [];
  const readers: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lastLineAt = performance.now();
    const reader = readers.shift();
    if (reader) reader(line);
    else lines.push(line);
  });
  const exited = new Promise<{ code: number | null; signal: string | null; exitAfterLastLineMs: number }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, exitAfterLastLineMs: performance.now() - lastLineAt }));
  });
  return {
    process: child,
    nextLine: () => {
      const line = lines.shift();
      return line !== undefined ? Promise.resolve(line) : new Promise((resolve) => readers.push(resolve));
    },
    exited,
    stderr: () => stderr,
  };
}
