import { readFileSync } from 'node:fs';
import type { LockInspection } from 'redlock-core';
import type { CliRequest, InspectRequest, RunRequest, Verbosity } from './arguments.js';
import type { CommandOutcome, RunningCommand } from './command.js';
import { formatDurationMs } from './duration.js';
import { EXIT_CODES, exitCodeForLockError, exitCodeForSignal } from './exit-codes.js';
import { HELP_TEXT, informationalRequestOf } from './help.js';
import { isInputError, UsageError } from './input-errors.js';
import type { HeldLock, LockSession } from './lock-session.js';
import { redactedUrl } from './node-urls.js';
import { ignoreTerminalStop, onHandledSignals, whenAborted } from './process-signals.js';
import { KILL_MARGIN_MS } from './validity-end.js';

/** What {@link runCli} reads and writes: the process's own in `main.ts`. */
export interface CliIo {
  /** The arguments after `node main.js`. */
  readonly argv: readonly string[];
  /** The environment, read for `REDLOCK_NODES` and passed to the command. */
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/**
 * Runs `redlock` once: reads the command line (nothing connects when it is wrong), connects to the nodes,
 * then inspects the resource or runs the command under the lock, and closes every connection.
 *
 * @returns The exit status; see `redlock --help`. An unexpected error of the lock library is printed
 *   and answered with {@link EXIT_CODES.internal}; it rejects only on a bug of its own.
 */
export async function runCli(io: CliIo): Promise<number> {
  // `redlock --help` and `--version` alone answer before the lock library and the Redis client load.
  let request: CliRequest | undefined = informationalRequestOf(io.argv);
  try {
    request ??= (await import('./arguments.js')).parseCliArguments(io.argv, io.env);
  } catch (error) {
    if (!isInputError(error)) throw error;
    // Printed even with --quiet: a wrong command line is always worth a line, and where to read how to write it.
    io.stderr.write(`redlock: ${error.message}\n${error instanceof UsageError ? "Try 'redlock --help' for more information.\n" : ''}`);
    return error.exitCode;
  }
  switch (request.kind) {
    case 'help':
      io.stdout.write(HELP_TEXT);
      return 0;
    case 'version':
      io.stdout.write(`${packageVersion()}\n`);
      return 0;
    default:
      return withSession(request, io);
  }
}

/** Writes redlock's own lines on stderr: configuration errors always, other errors unless `--quiet`, steps with `--verbose`. */
interface Reporter {
  configuration(message: string): void;
  error(message: string): void;
  info(message: string): void;
}

function reporterOf(stderr: CliIo['stderr'], verbosity: Verbosity): Reporter {
  return {
    configuration: (message) => stderr.write(`redlock: ${message}\n`),
    error: (message) => verbosity !== 'quiet' && stderr.write(`redlock: ${message}\n`),
    info: (message) => verbosity === 'verbose' && stderr.write(`redlock: ${message}\n`),
  };
}

/** What to do with a handled signal in the current phase: stop waiting, or pass it to the command. */
type SignalHandler = (signal: NodeJS.Signals) => void;

async function withSession(request: RunRequest | InspectRequest, io: CliIo): Promise<number> {
  const report = reporterOf(io.stderr, request.verbosity);
  // Until the command starts, a signal stops whatever redlock waits for (connections, the lock).
  const interrupt = new AbortController();
  let interruptedBy: NodeJS.Signals | undefined;
  let onSignal: SignalHandler = (signal) => {
    if (interruptedBy !== undefined) return;
    interruptedBy = signal;
    interrupt.abort(new Error(`Interrupted by ${signal}`));
  };
  const stopListening = onHandledSignals((signal) => onSignal(signal));
  const lastNodeErrors = new Map<number, string>();
  let session: LockSession | undefined;
  try {
    report.info(`connecting to ${countOf(request.nodeUrls.length, 'node')}`);
    const { CONNECT_TIMEOUT_MS, LockSession } = await import('./lock-session.js');
    session = await LockSession.open({
      ...request,
      signal: interrupt.signal,
      onNodeError(nodeIndex, error) {
        // ioredis repeats the error at every reconnection attempt; say it once until it changes.
        if (lastNodeErrors.get(nodeIndex) === error.message) return;
        lastNodeErrors.set(nodeIndex, error.message);
        report.info(`node ${nodeIndex} (${redactedUrl(request.nodeUrls[nodeIndex] ?? '')}): ${error.message}`);
      },
    });
    report.info(`connected to ${session.connectedCount} of ${request.nodeUrls.length} nodes (quorum ${session.quorum})`);
    // A node that accepted the connection and never answered (a paused server, dropped packets) said nothing yet.
    for (const nodeIndex of session.unconnectedNodes()) {
      if (!lastNodeErrors.has(nodeIndex)) report.info(`node ${nodeIndex} (${redactedUrl(request.nodeUrls[nodeIndex] ?? '')}): no connection ready within ${formatDurationMs(CONNECT_TIMEOUT_MS)}`);
    }
    if (request.kind === 'inspect') return await inspect(session, request, io, report);
    return await runUnderLock(session, request, io, report, interrupt.signal, (handler) => {
      onSignal = handler;
    });
  } catch (error) {
    if (interruptedBy !== undefined && error === interrupt.signal.reason) {
      report.info(`stopped waiting for "${request.resource}": ${interruptedBy}`);
      return exitCodeForSignal(interruptedBy);
    }
    const exitCode = exitCodeForLockError(error, request.kind === 'run' ? request.conflictExitCode : undefined);
    const message = exitCode === EXIT_CODES.internal && error instanceof Error ? (error.stack ?? error.message) : withOptionNames(messageOf(error), error, request);
    // `--quiet` keeps the errors the setup must fix (the help says so).
    if (exitCode === EXIT_CODES.configuration) report.configuration(message);
    else report.error(message);
    return exitCode;
  } finally {
    onSignal = () => undefined;
    await session?.close();
    stopListening();
  }
}

/** `--inspect --permits N`: how many of the semaphore's permits are in use, by how many holders. */
async function inspectPermits(session: LockSession, request: InspectRequest, limit: number, io: CliIo, report: Reporter): Promise<number> {
  const { permitsInUse, holders, limit: recordedLimit, nodes } = await session.inspectPermits(request.resource, limit);
  const holderWord = holders === 1 ? 'holder' : 'holders';
  // The semaphore's own limit where the nodes hold one: a --permits that differs is reported below.
  io.stdout.write(`${request.resource}: ${permitsInUse} of ${recordedLimit ?? limit} permits in use${permitsInUse > 0 ? ` by ${holders} ${holderWord}` : ''}\n`);
  for (const node of nodes) {
    reportNode(request, report, node.nodeIndex, node.status === 'semaphore' ? `${node.slots.length} of ${node.limit} permits taken` : otherNodeDetail(node, 'a semaphore'));
  }
  let status = 0;
  if (recordedLimit !== undefined && recordedLimit !== limit) {
    report.configuration(`the nodes hold "${request.resource}" as a semaphore of ${recordedLimit} permits, not ${limit}: every client must give the same --permits`);
    status = EXIT_CODES.configuration;
  }
  return reportForeignKeys(request, nodes, session.quorum, 'a semaphore', report) ?? status;
}

/**
 * Says on how many nodes the resource's key holds something other than `what` (`'a lock'`). Where they are
 * more than the nodes a quorum can do without, no acquisition of this kind can succeed: 78, as acquiring
 * would exit. Fewer only cost the acquisitions those nodes' votes: a warning (not with `-q`), and `undefined`.
 */
function reportForeignKeys(
  request: InspectRequest,
  nodes: readonly { readonly status: string }[],
  quorum: number,
  what: string,
  report: Reporter,
): number | undefined {
  const foreign = nodes.filter((node) => node.status === 'foreign').length;
  if (foreign === 0) return undefined;
  const where = `on ${foreign} of ${nodes.length} nodes the key of "${request.resource}" holds something that is not ${what}`;
  if (foreign > nodes.length - quorum) {
    report.configuration(`${where}: it cannot be acquired (see --prefix)`);
    return EXIT_CODES.configuration;
  }
  report.error(`${where}: acquisitions go on without ${foreign === 1 ? 'that node' : 'those nodes'} (see --prefix)`);
  return undefined;
}
/** `--inspect --read` or `--inspect --write`: whether a writer holds the read-write lock, how many readers do, whether a writer waits. */
async function inspectReadWrite(session: LockSession, request: InspectRequest, io: CliIo, report: Reporter): Promise<number> {
  const { isWriteLocked, readers, isWriterWaiting, nodes } = await session.inspectReadWrite(request.resource);
  const held = isWriteLocked ? 'write-locked' : readers > 0 ? `read-locked by ${countOf(readers, 'reader')}` : 'not locked';
  io.stdout.write(`${request.resource}: ${held}${isWriterWaiting ? ', a writer waiting' : ''}\n`);
  for (const node of nodes) {
    reportNode(request, report, node.nodeIndex, node.status === 'read-write' ? describeReadWriteEntries(node.entries) : otherNodeDetail(node, 'a read-write lock'));
  }
  return reportForeignKeys(request, nodes, session.quorum, 'a read-write lock', report) ?? 0;
}

/** One node's live entries of a read-write lock, counted by kind: `2 readers, 1 waiting writer`. */
function describeReadWriteEntries(entries: readonly { readonly kind: 'w' | 'r' | 'i' }[]): string {
  const nouns = { w: 'writer', r: 'reader', i: 'waiting writer' } as const;
  const described = (['w', 'r', 'i'] as const)
    .map((kind) => ({ amount: entries.filter((entry) => entry.kind === kind).length, noun: nouns[kind] }))
    .filter(({ amount }) => amount > 0)
    .map(({ amount, noun }) => countOf(amount, noun));
  return described.length === 0 ? 'no live holder' : described.join(', ');
}

/** Prints one node's answer to an inspection, for `-v`. */
function reportNode(request: InspectRequest, report: Reporter, nodeIndex: number, detail: string): void {
  report.info(`node ${nodeIndex} (${redactedUrl(request.nodeUrls[nodeIndex] ?? '')}): ${detail}`);
}

/** A node's answer to an inspection when it does not hold the key as `what` (`'a lock'`): foreign, failed, timed out, free. */
function otherNodeDetail(node: { readonly status: string; readonly error?: { readonly message: string } }, what: string): string {
  if (node.status === 'foreign') return `the key holds something that is not ${what}`;
  if (node.status === 'timeout' || node.status === 'error') return `${node.status}: ${node.error?.message}`;
  return node.status;
}

/** `1 reader`, `2 readers`. */
function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

async function inspect(session: LockSession, request: InspectRequest, io: CliIo, report: Reporter): Promise<number> {
  if (request.isElection) {
    const leader = await session.leader(request.resource);
    io.stdout.write(leader === undefined ? `${request.resource}: no leader\n` : `${request.resource}: led by ${leader.value}, term ${leader.term}\n`);
    // With -v, each node's view of the lock the leader holds, as for a lock (one more read, only then).
    if (request.verbosity === 'verbose') reportLockNodes(request, (await session.inspect(request.resource)).nodes, report);
    return 0;
  }
  if (request.permits !== undefined) return inspectPermits(session, request, request.permits, io, report);
  if (request.readWrite !== undefined) return inspectReadWrite(session, request, io, report);
  const { isLocked, remainingMs, nodes } = await session.inspect(request.resource);
  io.stdout.write(
    isLocked ? `${request.resource}: locked, ${formatDurationMs(remainingMs)} left\n` : `${request.resource}: not locked\n`,
  );
  reportLockNodes(request, nodes, report);
  return reportForeignKeys(request, nodes, session.quorum, 'a lock', report) ?? 0;
}

/** Prints each node's answer to a lock's inspection, for `-v`. */
function reportLockNodes(request: InspectRequest, nodes: LockInspection['nodes'], report: Reporter): void {
  for (const node of nodes) {
    reportNode(request, report, node.nodeIndex, node.status === 'locked' ? `locked, ${formatDurationMs(node.remainingMs)} left` : otherNodeDetail(node, 'a lock'));
  }
}

async function runUnderLock(
  session: LockSession,
  request: RunRequest,
  io: CliIo,
  report: Reporter,
  interrupt: AbortSignal,
  setSignalHandler: (handler: SignalHandler) => void,
): Promise<number> {
  const { resource, ttlMs, waitMs, fencing, fair, permits, readWrite, election } = request;
  const waitStart = performance.now();
  const held =
    election === undefined
      ? await session.acquire(resource, { ttlMs, waitMs, fencing, fair, permits, readWrite, signal: interrupt })
      : await session.campaign(resource, { ttlMs, waitMs, value: election.value, signal: interrupt });
  const what = describeHold(request);
  if (held === undefined) {
    const taken = describeTaken(request);
    report.error(
      waitMs === 0 || waitMs === undefined ? `"${resource}" is ${taken}` : `"${resource}" was still ${taken} after ${formatDurationMs(waitMs)}`,
    );
    return request.conflictExitCode;
  }
  try {
    // A signal that came while the lock was being granted: do not start the command.
    interrupt.throwIfAborted();
    const token = held.fencingToken === undefined ? '' : election === undefined ? ` with fencing token ${held.fencingToken}` : ` in term ${held.fencingToken}`;
    report.info(`${election === undefined ? 'acquired' : 'won'} ${what} in ${Math.round(performance.now() - waitStart)} ms${token}; running the command`);
    return await runCommand(request, held, io, report, setSignalHandler);
  } finally {
    await held.release();
    report.info(`released ${what}`);
  }
}

/**
 * What the command runs under, as messages name it: `"res"` (the lock), `a permit of "res" (3 at once)`,
 * `the read lock on "res"`.
 */
function describeHold(request: RunRequest): string {
  if (request.election !== undefined) return `the leadership of "${request.resource}" as "${request.election.value}"`;
  if (request.permits !== undefined) return `a permit of "${request.resource}" (${request.permits} at once)`;
  if (request.readWrite !== undefined) return `the ${request.readWrite} lock on "${request.resource}"`;
  return `"${request.resource}"`;
}

/** Why the command did not run when the wait ended without the resource: `"res" is <this>`. */
function describeTaken(request: RunRequest): string {
  if (request.election !== undefined) return 'led by another';
  if (request.permits !== undefined) return `at its limit: all ${request.permits} permits held`;
  if (request.readWrite === 'read') return 'locked by a writer (holding or waiting)';
  if (request.readWrite === 'write') return 'locked by readers or a writer';
  return 'locked by another owner';
}

async function runCommand(
  request: RunRequest,
  held: HeldLock,
  io: CliIo,
  report: Reporter,
  setSignalHandler: (handler: SignalHandler) => void,
): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...io.env, REDLOCK_RESOURCE: request.resource };
  // An outer redlock's token must not pass for this lock's.
  delete env['REDLOCK_FENCING_TOKEN'];
  if (held.fencingToken !== undefined) env['REDLOCK_FENCING_TOKEN'] = String(held.fencingToken);
  // Loaded only here: `--help`, `--version` and `--inspect` start no command, and need neither
  // node:child_process nor the ten built-in modules it loads (dgram, timers/promises…).
  const { startCommand } = await import('./command.js');
  // Before the command starts: a Ctrl-Z from then on must find redlock ignoring it.
  const stopIgnoringStop = ignoreTerminalStop();
  const command = startCommand(request.command, env);
  try {
    return await superviseCommand(command, request, held, report, setSignalHandler);
  } finally {
    stopIgnoringStop();
    command.detach();
  }
}

async function superviseCommand(
  command: RunningCommand,
  request: RunRequest,
  held: HeldLock,
  report: Reporter,
  setSignalHandler: (handler: SignalHandler) => void,
): Promise<number> {
  const forwarded = new Set<NodeJS.Signals>();
  setSignalHandler((signal) => {
    // The command's group is not the terminal's foreground group, so a Ctrl-C reaches only redlock: pass it on too.
    if (forwarded.has(signal)) return;
    forwarded.add(signal);
    report.info(`passing ${signal} to the command`);
    command.signal(signal);
  });
  const ended = await Promise.race([
    command.outcome,
    whenAborted(held.lost).then((reason) => ({ kind: 'lost', reason }) as const),
  ]);
  if (ended.kind === 'lost') {
    const graceMs = killGraceMs(request, held);
    // Stopped first, then said: a write to a blocked or stopped terminal must not delay it.
    const stopped = command.terminate(graceMs);
    report.error(
      `${messageOf(ended.reason)}: stopping the command (SIGTERM, then SIGKILL after ${formatDurationMs(graceMs)})`,
    );
    report.info(`the command ${describeOutcome(await command.outcome)}`);
    if (!(await stopped)) reportGroupLeft(request, report);
    return EXIT_CODES.lockLost;
  }
  const hadLeftovers = await stopLeftovers(command, ended, request, held, report);
  if (held.lost.aborted || held.validityLeftMs() === 0) {
    const when = hadLeftovers ? 'while the processes the command left in its group were stopped' : 'as the command ended';
    const lost =
      request.permits !== undefined
        ? `the permit of "${request.resource}"`
        : request.readWrite !== undefined || request.election !== undefined
          ? describeHold(request)
          : `the lock on "${request.resource}"`;
    report.error(`${lost} was lost ${when} (it ${describeOutcome(ended)})`);
    return EXIT_CODES.lockLost;
  }
  if (ended.kind === 'not-started') report.error(describeOutcome(ended, request));
  else report.info(`the command ${describeOutcome(ended)}`);
  // Loaded by runCommand() already (see there).
  const { exitCodeOfOutcome } = await import('./command.js');
  return exitCodeOfOutcome(ended);
}

/**
 * The time between SIGTERM and SIGKILL, in milliseconds: `--kill-after`, cut short so that the SIGKILL lands
 * {@link KILL_MARGIN_MS} before the validity the lock has left ends (at once when less is left).
 */
function killGraceMs(request: RunRequest, held: HeldLock): number {
  return Math.min(request.killAfterMs, Math.max(0, Math.floor(held.validityLeftMs() - KILL_MARGIN_MS)));
}

/**
 * Stops what the command left running in its group once it ended (a job in the background, a daemon that
 * forked without `setsid`), so that the lock covers every process of the group: SIGTERM, then SIGKILL after
 * `--kill-after`, while the lock is still extended. If the lock is lost meanwhile, the SIGKILL comes before
 * its validity ends, as for a command running when the lock is lost. A group that cannot be emptied is
 * reported, and the lock released all the same: waiting for it could take for ever.
 *
 * @returns Whether the command had left processes in its group.
 */
async function stopLeftovers(
  command: RunningCommand,
  ended: CommandOutcome,
  request: RunRequest,
  held: HeldLock,
  report: Reporter,
): Promise<boolean> {
  if (!command.isGroupAlive()) return false;
  report.info(
    `the command ${describeOutcome(ended)}; stopping the processes it left in its group ` +
      `(SIGTERM, then SIGKILL after ${formatDurationMs(request.killAfterMs)})`,
  );
  const stopped = command.terminate(request.killAfterMs);
  const hurry = (): void => void command.terminate(killGraceMs(request, held));
  if (held.lost.aborted) hurry();
  held.lost.addEventListener('abort', hurry, { once: true });
  try {
    if (!(await stopped)) reportGroupLeft(request, report);
  } finally {
    held.lost.removeEventListener('abort', hurry);
  }
  return true;
}

function reportGroupLeft(request: RunRequest, report: Reporter): void {
  report.error(
    `processes of the command's group still run after SIGKILL (another user's, or stuck in the kernel): releasing "${request.resource}" anyway`,
  );
}

function describeOutcome(outcome: CommandOutcome, request?: RunRequest): string {
  switch (outcome.kind) {
    case 'exited':
      return `exited with status ${outcome.code}`;
    case 'killed':
      return `was killed by ${outcome.signal}`;
    case 'not-started': {
      const name = request?.command.kind === 'exec' ? request.command.file : 'the command';
      if (outcome.error.code !== 'ENOENT') return `${name}: cannot run it (${outcome.error.code ?? outcome.error.message})`;
      // `redlock res -n cmd`: as with flock, what follows the resource is the command.
      return name.startsWith('-') ? `${name}: command not found (redlock's options go before the resource)` : `${name}: command not found`;
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `message`, with the library's option that a wait ran out of (``within `waitMs` (N ms)``: the time left of
 * the wait's last round) named as the user gave it: `within 1 s (-w)`.
 */
function withOptionNames(message: string, error: unknown, request: RunRequest | InspectRequest): string {
  const waitMs = typeof error === 'object' && error !== null ? (error as { readonly waitMs?: unknown }).waitMs : undefined;
  if (typeof waitMs !== 'number' || request.kind !== 'run' || request.waitMs === undefined) return message;
  return message.replace(`within \`waitMs\` (${waitMs} ms)`, `within ${formatDurationMs(request.waitMs)} (-w)`);
}

function packageVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return typeof manifest === 'object' && manifest !== null && 'version' in manifest ? String(manifest.version) : 'unknown';
}
