import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import type { CommandSpec } from './arguments.js';
import { EXIT_CODES, exitCodeForSignal } from './exit-codes.js';
import { startJobWatcher } from './job-watcher.js';
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
 * running ──the command exits / is killed──▶ ended, its group may still run ──no process of it left──▶ done.
 * `signal()` reaches the group until it is done; `terminate()` stops whatever of it still runs.
 */
export interface RunningCommand {
  /** Resolves once the command itself ended, never rejects; processes it left in its group may still run. */
  readonly outcome: Promise<CommandOutcome>;
  /** Sends `signal` to every process of the command's group (to the command alone without groups), while any runs, then SIGCONT, so that a stopped group gets it too. */
  signal(signal: NodeJS.Signals): void;
  /** Whether a process of the command's group still runs: the command, or what it left behind once it ended. */
  isGroupAlive(): boolean;
  /**
   * Stops the command and every process of its group: SIGTERM now, and SIGKILL to whatever of the group
   * still runs `graceMs` milliseconds later (at once for 0), even if the command itself exited meanwhile.
   * Resolves with `true` once no process of the group is left, or with `false` if some still run
   * {@link REAP_LIMIT_MS} after the SIGKILL (a process of another user, one stuck in the kernel). Calling it
   * again returns the same promise; a grace that ends sooner than the first brings the SIGKILL forward.
   */
  terminate(graceMs: number): Promise<boolean>;
  /** Tells the watcher that redlock is done with the command, so that redlock's exit kills nothing. */
  detach(): void;
}

/**
 * Starts the command with redlock's stdin, stdout and stderr, and `env` as its whole environment. A
 * program is looked up in `PATH` and run directly, with its arguments untouched; a script runs with
 * `/bin/sh -c` (cmd.exe on Windows). Except on Windows, the command leads a process group and session of
 * its own (as `timeout` runs its command in a group of its own), so that a signal reaches every process it
 * starts; redlock forwards what a terminal sends (Ctrl-C included). A watcher process, started before the
 * command and told its group by one pipe write right after the spawn, kills that group if redlock dies
 * first (see {@link startJobWatcher}).
 *
 * @example
 * ```ts
 * const command = startCommand({ kind: 'exec', file: 'pg_dump', args: ['shop'] }, process.env);
 * const status = exitCodeOfOutcome(await command.outcome);
 * await command.terminate(10_000); // what it left in its group
 * command.detach();
 * ```
 */
export function startCommand(spec: CommandSpec, env: NodeJS.ProcessEnv): RunningCommand {
  // Before the command, so that only one write separates its start from the watcher knowing its group.
  const watcher = hasProcessGroups ? startJobWatcher() : undefined;
  const spawnOptions = { stdio: 'inherit', env, detached: hasProcessGroups } as const;
  const child: ChildProcess =
    spec.kind === 'exec' ? spawn(spec.file, [...spec.args], spawnOptions) : spawn(spec.script, { ...spawnOptions, shell: true });
  // The leader's PID is the group's ID; no group (and nothing to watch) when the command did not start.
  const groupId = hasProcessGroups ? child.pid : undefined;
  if (groupId === undefined) watcher?.standDown();
  else watcher?.watch(groupId);
  let hasEnded = false;
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
  const isAlive = (): boolean => (groupId === undefined ? !hasEnded && child.pid !== undefined : isGroupAlive(groupId));
  const send = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    if (groupId === undefined) {
      if (!hasEnded) child.kill(signal);
    } else {
      signalGroup(groupId, signal);
    }
  };
  // Checked first: once the group is empty, its ID may be given to another group.
  const sendWhileAlive = (signal: NodeJS.Signals): void => {
    if (isAlive()) send(signal);
  };
  const terminate = groupStopper(sendWhileAlive, groupId, outcome);
  return {
    outcome,
    signal(signal) {
      sendWhileAlive(signal);
      // As timeout(1) does: a stopped group would hold the signal until someone continued it.
      sendWhileAlive('SIGCONT');
    },
    isGroupAlive: isAlive,
    terminate,
    detach() {
      watcher?.standDown();
    },
  };
}

/**
 * The `terminate()` of a command: SIGTERM, then SIGKILL after a grace that a later call may shorten;
 * resolves once the group is empty (or the command ended, without a group).
 */
function groupStopper(
  send: (signal: NodeJS.Signals) => void,
  groupId: number | undefined,
  outcome: Promise<CommandOutcome>,
): (graceMs: number) => Promise<boolean> {
  let stopped: Promise<boolean> | undefined;
  let killAtMs = Infinity;
  let killedAtMs: number | undefined;
  // Not unref()'d: this timer is the promise that the job stops; it is cleared once nothing is left to kill.
  let killTimer: NodeJS.Timeout | undefined;
  const kill = (): void => {
    clearTimeout(killTimer);
    if (killedAtMs !== undefined) return;
    killedAtMs = performance.now();
    send('SIGKILL');
  };
  const killAfter = (graceMs: number): void => {
    const atMs = performance.now() + graceMs;
    if (killedAtMs !== undefined || atMs >= killAtMs) return;
    killAtMs = atMs;
    clearTimeout(killTimer);
    if (graceMs <= 0) kill();
    else killTimer = setTimeout(kill, graceMs);
  };
  const untilEmpty = async (): Promise<boolean> => {
    await outcome;
    if (groupId === undefined) return true;
    // The leader may be gone while members still run (a job in the background, a child ignoring SIGTERM).
    while (isGroupAlive(groupId)) {
      if (killedAtMs !== undefined && performance.now() - killedAtMs >= REAP_LIMIT_MS) return false;
      await delay(GROUP_POLL_MS);
    }
    return true;
  };
  return (graceMs) => {
    if (stopped === undefined) {
      send('SIGTERM');
      send('SIGCONT');
      killAfter(graceMs);
      stopped = untilEmpty().finally(() => clearTimeout(killTimer));
    } else {
      killAfter(graceMs);
    }
    return stopped;
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
