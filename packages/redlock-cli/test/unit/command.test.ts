import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { type CommandOutcome, exitCodeOfOutcome, startCommand } from '../../src/command.js';

// These start real processes (sh, sleep), with no Redis: the command's stdio is redlock's own, so they
// report through their exit status and files only.
const ENV = { ...process.env, PATH: process.env['PATH'] ?? '/usr/bin:/bin' };

async function within<T>(promise: Promise<T>, limitMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Still running after ${limitMs} ms`)), limitMs);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the file's content once it has a whole line. */
async function untilContent(path: string): Promise<string> {
  for (;;) {
    const text = await readFile(path, 'utf8').catch(() => '');
    if (text.endsWith('\n')) return text;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function untilTrue(isDone: () => boolean): Promise<void> {
  while (!isDone()) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Whether `pid` runs: a dead process not yet reaped (a zombie) does not. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}

/**
 * Starts a shell script whose first line installs a trap, and resolves once the trap is in place: the
 * script says so in a file, since a fixed pause may be too short for the shell on a loaded machine.
 */
async function startTrapped(trap: string, rest: string): Promise<ReturnType<typeof startCommand>> {
  const directory = await mkdtemp(join(tmpdir(), 'redlock-command-'));
  const readyFile = join(directory, 'ready');
  try {
    const command = startCommand({ kind: 'shell', script: `${trap}; echo ready > "${readyFile}"; ${rest}` }, ENV);
    await within(untilContent(readyFile));
    return command;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

describe('startCommand', () => {
  it('runs a program with its arguments untouched and reports its status', async () => {
    const command = startCommand({ kind: 'exec', file: 'sh', args: ['-c', 'exit "$1"', 'sh', '7'] }, ENV);
    expect(await within(command.outcome)).toEqual({ kind: 'exited', code: 7 });
  });

  it('runs a script with /bin/sh -c, with the environment it was given', async () => {
    const command = startCommand({ kind: 'shell', script: 'test "$REDLOCK_RESOURCE" = res && exit 4' }, { ...ENV, REDLOCK_RESOURCE: 'res' });
    expect(await within(command.outcome)).toEqual({ kind: 'exited', code: 4 });
  });

  it('reports a program that does not exist or cannot be executed as not started', async () => {
    const missing = await within(startCommand({ kind: 'exec', file: 'redlock-test-no-such-command', args: [] }, ENV).outcome);
    expect(missing).toMatchObject({ kind: 'not-started', error: { code: 'ENOENT' } });
    const directory = await mkdtemp(join(tmpdir(), 'redlock-command-'));
    try {
      const script = join(directory, 'not-executable.sh');
      await writeFile(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
      const notExecutable = await within(startCommand({ kind: 'exec', file: script, args: [] }, ENV).outcome);
      expect(notExecutable).toMatchObject({ kind: 'not-started', error: { code: 'EACCES' } });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('passes a signal to the command', async () => {
    const command = startCommand({ kind: 'exec', file: 'sleep', args: ['30'] }, ENV);
    command.signal('SIGHUP');
    expect(await within(command.outcome)).toEqual({ kind: 'killed', signal: 'SIGHUP' });
  });

  it('terminate() sends SIGTERM, which a command may handle', async () => {
    const command = await startTrapped("trap 'exit 9' TERM", 'sleep 30 & wait');
    command.terminate(5_000);
    expect(await within(command.outcome)).toEqual({ kind: 'exited', code: 9 });
  });

  it('terminate() sends SIGKILL after the grace to a command that ignores SIGTERM', async () => {
    const command = await startTrapped("trap '' TERM", 'exec sleep 30');
    const start = performance.now();
    command.terminate(300);
    expect(await within(command.outcome)).toEqual({ kind: 'killed', signal: 'SIGKILL' });
    expect(performance.now() - start).toBeGreaterThanOrEqual(290);
  });

  it('terminate(0) kills at once', async () => {
    const command = await startTrapped("trap '' TERM", 'exec sleep 30');
    command.terminate(0);
    expect(await within(command.outcome)).toEqual({ kind: 'killed', signal: 'SIGKILL' });
  });

  it('terminate() stops the processes the command started too, even once the command itself exited, and resolves when they are gone', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'redlock-command-'));
    const pidFile = join(directory, 'pid');
    try {
      // The shell exits at SIGTERM; its background child ignores SIGTERM (inherited) and needs the SIGKILL.
      // The pid is written once the shell restored its own SIGTERM: written before, a SIGTERM that came
      // between the two would be ignored by the shell too, and the SIGKILL would end it (seen in CI).
      const command = startCommand(
        { kind: 'shell', script: `trap '' TERM; sleep 30 & child=$!; trap - TERM; echo $child > "${pidFile}"; wait` },
        ENV,
      );
      const backgroundPid = Number(await within(untilContent(pidFile)));
      const start = performance.now();
      await within(command.terminate(300));
      expect(performance.now() - start).toBeGreaterThanOrEqual(290);
      expect(await command.outcome).toEqual({ kind: 'killed', signal: 'SIGTERM' });
      expect(isRunning(backgroundPid)).toBe(false);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('terminate() again with a shorter grace brings the SIGKILL forward', async () => {
    const command = await startTrapped("trap '' TERM", 'exec sleep 30');
    const stopped = command.terminate(60_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The first grace would outlast the 10 s limit of within().
    expect(command.terminate(0)).toBe(stopped);
    expect(await within(stopped)).toBe(true);
    expect(await command.outcome).toEqual({ kind: 'killed', signal: 'SIGKILL' });
  });

  it('reports and signals the processes the command left in its group once it exited', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'redlock-command-'));
    const pidFile = join(directory, 'pid');
    try {
      const command = startCommand({ kind: 'shell', script: `sleep 30 & echo $! > "${pidFile}"` }, ENV);
      const backgroundPid = Number(await within(untilContent(pidFile)));
      expect(await within(command.outcome)).toEqual({ kind: 'exited', code: 0 });
      expect(command.isGroupAlive()).toBe(true);
      command.signal('SIGHUP');
      await within(untilTrue(() => !isRunning(backgroundPid)));
      await within(untilTrue(() => !command.isGroupAlive()));
      expect(await within(command.terminate(0))).toBe(true);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('passes a signal to the processes the command started', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'redlock-command-'));
    const pidFile = join(directory, 'pid');
    try {
      const command = startCommand({ kind: 'shell', script: `sleep 30 & echo $! > "${pidFile}"; wait` }, ENV);
      const backgroundPid = Number(await within(untilContent(pidFile)));
      command.signal('SIGHUP');
      expect(await within(command.outcome)).toEqual({ kind: 'killed', signal: 'SIGHUP' });
      await within(untilTrue(() => !isRunning(backgroundPid)));
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('does nothing once the command ended', async () => {
    const command = startCommand({ kind: 'exec', file: 'true', args: [] }, ENV);
    await within(command.outcome);
    command.signal('SIGTERM');
    command.terminate(0);
    expect(await command.outcome).toEqual({ kind: 'exited', code: 0 });
  });
});

describe('exitCodeOfOutcome', () => {
  it.each<[CommandOutcome, number]>([
    [{ kind: 'exited', code: 0 }, 0],
    [{ kind: 'exited', code: 3 }, 3],
    [{ kind: 'killed', signal: 'SIGTERM' }, 143],
    [{ kind: 'killed', signal: 'SIGKILL' }, 137],
    [{ kind: 'not-started', error: Object.assign(new Error('spawn x ENOENT'), { code: 'ENOENT' }) }, 127],
    [{ kind: 'not-started', error: Object.assign(new Error('spawn x EACCES'), { code: 'EACCES' }) }, 126],
  ])('maps %j to %d, as shells do', (outcome, exitCode) => {
    expect(exitCodeOfOutcome(outcome)).toBe(exitCode);
  });
});
