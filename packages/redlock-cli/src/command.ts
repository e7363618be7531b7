import { type ChildProcess, spawn } from 'node:child_process';
import type { CommandSpec } from './arguments.js';
import { EXIT_CODES, exitCodeForSignal } from './exit-codes.js';

/** How a command ended: it exited, a signal killed it, or it never started. */
export type CommandOutcome =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'killed'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'not-started'; readonly error: NodeJS.ErrnoException };

/**
 * A command started by {@link startCommand}.
 * running ──exits / is killed──▶ ended; `signal()` and `terminate()` do nothing once it ended.
 */
export interface RunningCommand {
  /** Resolves once the command ended, never rejects. */
  readonly outcome: Promise<CommandOutcome>;
  /** Sends `signal` to the command (not to processes it started). */
  signal(signal: NodeJS.Signals): void;
  /**
   * Stops the command: SIGTERM now, and SIGKILL if it still runs `graceMs` milliseconds later (at once
   * for 0). Calling it again changes nothing.
   */
  terminate(graceMs: number): void;
}

/**
 * Starts the command with redlock's stdin, stdout and stderr, and `env` as its whole environment. A
 * program is looked up in `PATH` and run directly, with its arguments untouched; a script runs with
 * `/bin/sh -c` (cmd.exe on Windows). It stays in redlock's process group, so a terminal's Ctrl-C reaches it
 * directly.
 *
 * @example
 * ```ts
 * const command = startCommand({ kind: 'exec', file: 'pg_dump', args: ['shop'] }, process.env);
 * const status = exitCodeOfOutcome(await command.outcome);
 * ```
 */
export function startCommand(spec: CommandSpec, env: NodeJS.ProcessEnv): RunningCommand {
  const child: ChildProcess =
    spec.kind === 'exec'
      ? spawn(spec.file, [...spec.args], { stdio: 'inherit', env })
      : spawn(spec.script, { stdio: 'inherit', env, shell: true });
  let hasEnded = false;
  let isTerminating = false;
  let killTimer: NodeJS.Timeout | undefined;
  const outcome = new Promise<CommandOutcome>((resolve) => {
    const end = (result: CommandOutcome): void => {
      if (hasEnded) return;
      hasEnded = true;
      clearTimeout(killTimer);
      resolve(result);
    };
    // 'error' comes instead of 'exit' when the program cannot be started (ENOENT, EACCES); after a start,
    // only for a failed kill(), which changes nothing here.
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) end({ kind: 'not-started', error });
    });
    child.once('exit', (code, signal) => {
      end(signal !== null ? { kind: 'killed', signal } : { kind: 'exited', code: code ?? 0 });
    });
  });
  const send = (signal: NodeJS.Signals): void => {
    if (hasEnded || child.pid === undefined) return;
    child.kill(signal);
  };
  return {
    outcome,
    signal: send,
    terminate(graceMs) {
      if (hasEnded || isTerminating) return;
      isTerminating = true;
      send('SIGTERM');
      if (graceMs <= 0) {
        send('SIGKILL');
        return;
      }
      // Not unref()'d: this timer is the promise that the command stops; it is cleared when the command ends.
      killTimer = setTimeout(() => send('SIGKILL'), graceMs);
    },
  };
}

/**
 * The exit status for how a command ended, as a shell reports it: its own status, 128 + N for signal N,
 * 127 when the program was not found, 126 when it could not be executed.
 */
export function exitCodeOfOutcome(outcome: CommandOutcome): number {
  switch (outcome.kind) {
    case 'exited':
      return outcome.code;
    case 'killed':
      return exitCodeForSignal(outcome.signal);
    case 'not-started':
      return outcome.error.code === 'ENOENT' ? EXIT_CODES.notFound : EXIT_CODES.cannotExecute;
  }
}
