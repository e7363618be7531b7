import { type ChildProcess, execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

// Keeps redis-server processes from outliving the process that started them, in two ways:
// - On Linux, the kernel SIGKILLs each server when its parent dies, however it dies (crash, SIGKILL, a
//   test runner killing its worker), via util-linux's `setpriv --pdeathsig`.
// - Everywhere, exit and signal handlers SIGKILL the servers still running. They cannot help after a
//   SIGKILL, nor inside test runners that give each test file a copy of `process` (Jest does), whose
//   events never fire; that is why the kernel does the job where it can.

/** Signals that end a Node.js process by default. */
const TERMINATING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** Where util-linux installs setpriv. */
const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv'] as const;

const running = new Set<ChildProcess>();
let areHandlersInstalled = false;
let setprivPath: string | null | undefined;

/**
 * Returns the command and arguments that run `command` so that the kernel SIGKILLs it when this process
 * dies: `setpriv --pdeathsig KILL -- command …args`. setpriv execs the command, so the child's pid stays
 * the command's pid. Without a setpriv that supports it (not Linux, or util-linux older than 2.33),
 * returns the command unchanged.
 */
export function diesWithParent(command: string, args: readonly string[]): { command: string; args: readonly string[] } {
  const setpriv = findSetprivWithParentDeathSignal();
  return setpriv === null ? { command, args } : { command: setpriv, args: ['--pdeathsig', 'KILL', '--', command, ...args] };
}

/**
 * SIGKILLs `child` if this process exits, or is ended by SIGINT, SIGTERM or SIGHUP, while the child
 * runs. Returns a function that stops watching the child; call it once the child has exited. The
 * handlers are installed only while some child is watched.
 */
export function killOnExit(child: ChildProcess): () => void {
  running.add(child);
  installHandlers();
  return () => {
    running.delete(child);
    if (running.size === 0) uninstallHandlers();
  };
}

function findSetprivWithParentDeathSignal(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux') return setprivPath;
  for (const path of SETPRIV_PATHS) {
    try {
      accessSync(path, constants.X_OK);
      if (execFileSync(path, ['--help'], { encoding: 'utf8', timeout: 5_000 }).includes('--pdeathsig')) {
        setprivPath = path;
        break;
      }
    } catch {
      // Not there, or not runnable: try the next path, else run servers without it.
    }
  }
  return setprivPath;
}

function killAll(): void {
  // SIGKILL also ends a process stopped with SIGSTOP, and kill() is synchronous, as an exit handler must be.
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

function onExit(): void {
  killAll();
}

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  uninstallHandlers();
  // With no other listener, Node would have ended the process: do so now that the servers are gone.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHandlers(): void {
  if (areHandlersInstalled) return;
  areHandlersInstalled = true;
  process.on('exit', onExit);
  for (const signal of TERMINATING_SIGNALS) process.on(signal, onSignal);
}

function uninstallHandlers(): void {
  if (!areHandlersInstalled) return;
  areHandlersInstalled = false;
  process.off('exit', onExit);
  for (const signal of TERMINATING_SIGNALS) process.off(signal, onSignal);
}
