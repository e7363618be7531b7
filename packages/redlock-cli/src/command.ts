import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import type { CommandSpec } from './arguments.js';
import { EXIT_CODES, exitCodeForSignal } from './exit-codes.js';
import { watchForRedlockDeath } from './job-watcher.js';
import { hasProcessGroups, isGroupAlive, signalGroup } from './process-group.js';

/** How a command ended: it exited, a signal killed it, or it never started. */
export type CommandOutcome =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'killed'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'not-started'; readonly error: NodeJS.ErrnoException };

/** How long to wait, in milliseconds, for the group's processes to be reaped once SIGKILL reached them all. */
const REAP_LIMIT_MS = 1_000;

/** How often to look whether a stopped group still has a process, in milliseconds: one `kill(-group, 0)` each. */
const GROUP_POLL_MS = 10;

/**
 * A command started by {@link startCommand}, with every process it starts (its process group).
 * running ──exits / is killed──▶ ended; `signal()` does nothing once it ended; `terminate()` still stops
 * what the command left running in its group.
 */
export interface RunningCommand {
  /** Resolves once the command itself ended, never rejects. */
  readonly outcome: Promise<CommandOutcome>;
  /** Sends `signal` to the command and every process of its group, while the command runs. */
  signal(signal: NodeJS.Signals): void;
  /**
   * Stops the command and every process of its group: SIGTERM now, and SIGKILL to whatever of the group
   * still runs `graceMs` milliseconds later (at once for 0), even if the command itself exited meanwhile.
   * Resolves once no process of the group is left (or, after the SIGKILL, at most {@link REAP_LIMIT_MS}
   * later); calling it again returns the same promise.
   */
  terminate(graceMs: number): Promise<void>;
  /** Tells the watcher that redlock is done with the command, so that redlock's exit kills nothing. */
  detach(): void;
}

/**
 * Starts the command with redlock's stdin, stdout and stderr, and `env` as its whole environment. A
 * program is looked up in `PATH` and run directly, with its arguments untouched; a script runs with
 * `/bin/sh -c` (cmd.exe on Windows). Except on Windows, the command leads a process group and session of
 * its own (as `timeout` runs its command in a group of its own), so that a signal reaches every process it
 * starts; redlock forwards what a terminal sends (Ctrl-C included). A watcher process kills that group if
 * redlock dies first (see {@link watchForRedlockDeath}).
 *
 * @example
 * ```ts
 * const command = startCommand({ kind: 'exec', file: 'pg_dump', args: ['shop'] }, process.env);
 * const status = exitCodeOfOutcome(await command.outcome);
 * command.detach();
 * ```
 */
export function startCommand(spec: CommandSpec, env: NodeJS.ProcessEnv): RunningCommand {
  const options = { stdio: 'inherit', env, detached: hasProcessGroups } as const;
  const child: ChildProcess =
    spec.kind === 'exec' ? spawn(spec.file, [...spec.args], options) : spawn(spec.script, { ...options, shell: true });
  // The leader's PID is the group's ID; no group (and no watcher) when the command did not start.
  const groupId = hasProcessGroups ? child.pid : undefined;
  const watcher = groupId === undefined ? undefined : watchForRedlockDeath(groupId);
  let hasEnded = false;
  let stopped: Promise<void> | undefined;
  const outcome = new Promise<CommandOutcome>((resolve) => {
    const end = (result: CommandOutcome): void => {
      if (hasEnded) return;
      hasEnded = true;
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
    if (child.pid === undefined) return;
    if (groupId === undefined) {
      if (!hasEnded) child.kill(signal);
    } else {
      signalGroup(groupId, signal);
    }
  };
  return {
    outcome,
    signal(signal) {
      if (!hasEnded) send(signal);
    },
    terminate(graceMs) {
      stopped ??= stopGroup(send, groupId, graceMs, outcome);
      return stopped;
    },
    detach() {
      watcher?.standDown();
    },
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the group is empty (or the command ended, without a group). */
async function stopGroup(
  send: (signal: NodeJS.Signals) => void,
  groupId: number | undefined,
  graceMs: number,
  outcome: Promise<CommandOutcome>,
): Promise<void> {
  send('SIGTERM');
  let killedAtMs: number | undefined;
  const kill = (): void => {
    killedAtMs = performance.now();
    send('SIGKILL');
  };
  if (graceMs <= 0) kill();
  // Not unref()'d: this timer is the promise that the job stops; it is cleared once nothing is left to kill.
  const killTimer = graceMs > 0 ? setTimeout(kill, graceMs) : undefined;
  try {
    await outcome;
    if (groupId === undefined) return;
    // The leader may be gone while members still run (a job in the background, a child ignoring SIGTERM).
    while (isGroupAlive(groupId)) {
      if (killedAtMs !== undefined && performance.now() - killedAtMs >= REAP_LIMIT_MS) return;
      await delay(GROUP_POLL_MS);
    }
  } finally {
    clearTimeout(killTimer);
  }
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
