import { existsSync, readdirSync, readFileSync } from 'node:fs';

// The command runs as the leader of a process group (and session) of its own, so that a signal reaches every
// process it started, not only itself: `sleep` under `sh -c`, a job in the background, a child that ignores
// SIGTERM. The group's ID is the leader's PID, and stays taken while any member runs, even after the leader
// exited, so signalling it can never reach an unrelated process.

/** Whether the command can run in a process group of its own: everywhere but Windows, which has none. */
export const hasProcessGroups: boolean = process.platform !== 'win32';

/**
 * Sends `signal` to every process of group `groupId` that redlock may signal. A group with no process left
 * (ESRCH) or none redlock may signal (EPERM: they changed their user) is not an error: {@link isGroupAlive}
 * tells whether any still runs.
 */
export function signalGroup(groupId: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-groupId, signal);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code !== 'ESRCH' && code !== 'EPERM') throw error;
  }
}

/**
 * Whether any process of group `groupId` still runs. On Linux a dead member that its parent has not reaped
 * yet (a zombie: orphans wait for PID 1, which in a container may reap late or never) does not count;
 * elsewhere it does, so callers bound how long they wait for this to turn false.
 */
export function isGroupAlive(groupId: number): boolean {
  try {
    process.kill(-groupId, 0);
  } catch (error) {
    // EPERM: a member we may not signal (it changed its user) is still a member.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return hasProcFileSystem ? hasRunningMemberInProc(groupId) : true;
}

const hasProcFileSystem: boolean = process.platform === 'linux' && existsSync('/proc/self/stat');

/** Reads `/proc/<pid>/stat` of every process: `pid (comm) state ppid pgrp …`, where comm may hold spaces and parentheses. */
function hasRunningMemberInProc(groupId: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // it ended while we read the list
    }
    const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(group) === groupId && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}
