import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { diesWithParent, killOnExit } from './orphan-guard.js';
import { sendCommand } from './resp.js';

/**
 * One local redis-server process on a fixed loopback port, which tests stop, freeze and restart to
 * simulate failures.
 *
 * running ──pause()──▶ paused ──resume()──▶ running · running/paused ──kill()──▶ stopped ──start()──▶ running
 *
 * A node that crashes on its own becomes stopped too. The port stays the node's across restarts.
 */
export interface LocalRedisNode {
  /** Position of the node in its set, from 0. */
  readonly index: number;
  /** The node listens on loopback only. */
  readonly host: '127.0.0.1';
  /** The TCP port, the same across restarts. */
  readonly port: number;
  /** `redis://127.0.0.1:PORT`, ready for a client. */
  readonly url: string;
  /** The process id; `undefined` while the node is not running. */
  readonly pid: number | undefined;
  /** Whether the process is running (including while paused). */
  readonly isRunning: boolean;
  /** Whether the process is stopped with SIGSTOP by {@link LocalRedisNode.pause}. */
  readonly isPaused: boolean;
  /**
   * Stops the process and waits until it has exited; a no-op if it is not running. SIGKILL (the default)
   * simulates a crash. SIGTERM lets Redis shut down cleanly (a paused node is resumed to receive it); if
   * it has not exited within 10 s it is SIGKILLed. Rejects if the process outlives that bound.
   * @param signal - `'SIGKILL'` or `'SIGTERM'`. @defaultValue `'SIGKILL'`
   */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /**
   * Freezes the process with SIGSTOP: it keeps its sockets, so clients stay connected, but answers
   * nothing, like a hung or partitioned node. A no-op if already paused.
   * @throws `Error` if the node is not running.
   */
  pause(): void;
  /** Lets a paused process run again with SIGCONT; a no-op if the node is not paused. */
  resume(): void;
  /**
   * Starts the process again on the same port and waits until it answers PING (at most 10 s); a no-op if
   * it is running. Data survives only if the set was started with `persistence: true`.
   */
  start(): Promise<void>;
}

/** How long a started redis-server may take to answer PING, in milliseconds. */
const READY_TIMEOUT_MS = 10_000;
/** The pause between two readiness probes, in milliseconds. */
const PROBE_INTERVAL_MS = 20;
/** How long one readiness probe may wait for its reply, in milliseconds. */
const PROBE_TIMEOUT_MS = 1_000;
/** How long a process may take to exit after SIGKILL, in milliseconds; only a kernel in trouble needs more. */
const KILL_TIMEOUT_MS = 5_000;
/** How long Redis may take to shut down after SIGTERM, in milliseconds, before it is SIGKILLed. */
const TERM_TIMEOUT_MS = 10_000;
/** How many lines of stderr and of the log file an error quotes. */
const QUOTED_LINES = 8;
/** Redis writes its log here, inside the node's directory, so errors can quote it. */
const LOG_FILE_NAME = 'redis.log';

/** What a {@link RedisServerProcess} runs. */
export interface RedisServerSettings {
  readonly index: number;
  readonly port: number;
  /** Absolute path of the redis-server executable. */
  readonly binaryPath: string;
  /** The node's own directory: its working directory, log file, and any data or cluster state. */
  readonly dir: string;
  /** Arguments after the common ones (port, loopback bind, directory, log file), e.g. persistence or cluster mode. */
  readonly args: readonly string[];
}

/**
 * `start()` failed because the process exited before it answered PING, or because another process
 * answers on its port. Both usually mean the port was taken after it was picked, so other ports may work.
 */
export class EarlyExitError extends Error {
  override name = 'EarlyExitError';
}

interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all. */
  readonly error?: Error;
}

/** The {@link LocalRedisNode} implementation: one redis-server child process. */
export class RedisServerProcess implements LocalRedisNode {
  readonly index: number;
  readonly host = '127.0.0.1' as const;
  readonly port: number;
  readonly url: string;

  readonly #settings: RedisServerSettings;
  #child: ChildProcess | undefined;
  #exited: Promise<ExitStatus> | undefined;
  #lastExit: ExitStatus | undefined;
  #isPaused = false;
  /** Set by close(): the node's directory is about to be removed, so it must never start again. */
  #isClosed = false;
  #starting: Promise<void> | undefined;
  #stderrLines: string[] = [];

  constructor(settings: RedisServerSettings) {
    this.#settings = settings;
    this.index = settings.index;
    this.port = settings.port;
    this.url = `redis://127.0.0.1:${settings.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get isRunning(): boolean {
    return this.#child !== undefined;
  }

  get isPaused(): boolean {
    return this.#isPaused;
  }

  start(): Promise<void> {
    this.#starting ??= this.#start().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    if (signal !== 'SIGKILL' && signal !== 'SIGTERM') {
      throw new TypeError(`Expected \`signal\` to be 'SIGKILL' or 'SIGTERM', got \`${String(signal)}\``);
    }
    const child = this.#child;
    const exited = this.#exited;
    if (child === undefined || exited === undefined) return;
    child.kill(signal);
    // A stopped process acts on SIGTERM only once it runs again; SIGKILL needs no help.
    if (signal === 'SIGTERM' && this.#isPaused) child.kill('SIGCONT');
    if (await settlesWithin(exited, signal === 'SIGTERM' ? TERM_TIMEOUT_MS : KILL_TIMEOUT_MS)) return;
    if (signal === 'SIGTERM') {
      child.kill('SIGKILL');
      if (await settlesWithin(exited, KILL_TIMEOUT_MS)) return;
    }
    const waitedMs = signal === 'SIGTERM' ? TERM_TIMEOUT_MS + KILL_TIMEOUT_MS : KILL_TIMEOUT_MS;
    throw new Error(`redis-server (pid ${child.pid}) on port ${this.port} did not exit within ${waitedMs} ms of ${signal}`);
  }

  pause(): void {
    const child = this.#child;
    if (child === undefined) throw new Error(`Cannot pause node ${this.index} (port ${this.port}): it is not running`);
    if (this.#isPaused) return;
    child.kill('SIGSTOP');
    this.#isPaused = true;
  }

  resume(): void {
    if (!this.#isPaused) return;
    this.#child?.kill('SIGCONT');
    this.#isPaused = false;
  }

  /** Kills the process for good: its node set is stopping and removes the directory. */
  async close(): Promise<void> {
    this.#isClosed = true;
    await this.kill('SIGKILL');
  }

  async #start(): Promise<void> {
    if (this.#child !== undefined) return;
    await mkdir(this.#settings.dir, { recursive: true });
    if (this.#isClosed) {
      throw new Error(`Cannot start node ${this.index} (port ${this.port}): its node set was stopped`);
    }
    const { child, exited } = this.#spawn();
    try {
      await this.#waitUntilReady(child, exited);
    } catch (error) {
      await this.kill('SIGKILL');
      throw error;
    }
  }

  #spawn(): { child: ChildProcess; exited: Promise<ExitStatus> } {
    const { binaryPath, port, dir, args } = this.#settings;
    const command = diesWithParent(binaryPath, [
      ...['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--daemonize', 'no'],
      // The log goes to a file rather than stdout, so nobody has to drain a pipe and errors can quote it.
      ...['--dir', dir, '--logfile', join(dir, LOG_FILE_NAME)],
      ...args,
    ]);
    const child = spawn(command.command, command.args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    this.#isPaused = false;
    this.#stderrLines = [];
    const stopWatching = killOnExit(child);
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.#stderrLines = [...this.#stderrLines, ...text.split('\n').filter((line) => line !== '')].slice(-QUOTED_LINES);
    });
    const exited = new Promise<ExitStatus>((resolve) => {
      const onEnd = (status: ExitStatus): void => {
        stopWatching();
        if (this.#child === child) {
          this.#child = undefined;
          this.#isPaused = false;
          this.#lastExit = status;
        }
        resolve(status);
      };
      child.once('exit', (code, signal) => onEnd({ code, signal }));
      // 'error' also reports a failed kill(); only a process that never started ends here.
      child.on('error', (error) => {
        if (child.pid === undefined) onEnd({ code: null, signal: null, error });
      });
    });
    this.#exited = exited;
    return { child, exited };
  }

  /** Probes with PING until the reply is PONG from this very process, within READY_TIMEOUT_MS. */
  async #waitUntilReady(child: ChildProcess, exited: Promise<ExitStatus>): Promise<void> {
    const startedAt = performance.now();
    let lastProbe = 'none finished';
    for (;;) {
      if (this.#child !== child) {
        throw new EarlyExitError(`redis-server on port ${this.port} ${describeExit(this.#lastExit)} before it answered PING${await this.#quoteOutput(child.pid)}`);
      }
      const remainingMs = READY_TIMEOUT_MS - (performance.now() - startedAt);
      if (remainingMs <= 0) {
        throw new Error(
          `redis-server (pid ${child.pid}) on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms (last probe: ${lastProbe})${await this.#quoteOutput(child.pid)}`,
        );
      }
      // While Redis loads its data, PING fails with `LOADING …`; keep probing.
      const probe = sendCommand(this.port, ['PING'], Math.min(PROBE_TIMEOUT_MS, remainingMs)).then(
        (reply) => (reply === 'PONG' ? 'PONG' : `replied ${JSON.stringify(reply)}`),
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      // Whatever holds the port may never reply (then our process exits); stop waiting the moment it does.
      const outcome = await Promise.race([probe, exited.then(() => 'the process exited')]);
      if (outcome === 'PONG') return this.#checkAnswersOnPort(child);
      lastProbe = outcome;
      if (this.#child === child) await delay(PROBE_INTERVAL_MS);
    }
  }

  /**
   * If another server took the port between picking and binding, our process is about to exit, but PING
   * may reach the other server first; the process id in INFO tells them apart.
   */
  async #checkAnswersOnPort(child: ChildProcess): Promise<void> {
    const info = await sendCommand(this.port, ['INFO', 'server'], PROBE_TIMEOUT_MS);
    const answeringPid = Number(/process_id:(\d+)/.exec(String(info))?.[1]);
    if (answeringPid !== child.pid) {
      throw new EarlyExitError(`Port ${this.port} is answered by another process (pid ${answeringPid}), not by redis-server pid ${child.pid}`);
    }
  }

  /** The last lines of stderr and of the log file, for an error message; empty if there are none. */
  async #quoteOutput(pid: number | undefined): Promise<string> {
    // The log file outlives restarts; Redis starts each line with the pid, which picks out this run's lines.
    const logLines = (await lastLines(join(this.#settings.dir, LOG_FILE_NAME), 64))
      .filter((line) => line.startsWith(`${pid}:`))
      .slice(-QUOTED_LINES);
    const lines = [...this.#stderrLines, ...logLines];
    return lines.length === 0 ? '' : `; last output:\n  ${lines.join('\n  ')}`;
  }
}

function describeExit(status: ExitStatus | undefined): string {
  if (status?.error !== undefined) return `could not be spawned (${status.error.message})`;
  if (status?.signal) return `was ended by ${status.signal}`;
  return `exited with code ${status?.code ?? 'unknown'}`;
}

/** Resolves with whether `promise` settled within `ms` milliseconds. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The last `count` lines of a text file, reading only its tail; none if the file does not exist. */
async function lastLines(path: string, count: number): Promise<string[]> {
  const tailBytes = 16 * 1024;
  try {
    const file = await open(path, 'r');
    try {
      const { size } = await file.stat();
      const start = Math.max(0, size - tailBytes);
      const { buffer, bytesRead } = await file.read(Buffer.alloc(size - start), 0, size - start, start);
      const lines = buffer.toString('utf8', 0, bytesRead).split('\n').filter((line) => line !== '');
      return lines.slice(start > 0 ? 1 : 0).slice(-count); // A tail read may begin mid-line.
    } finally {
      await file.close();
    }
  } catch {
    return [];
  }
}
