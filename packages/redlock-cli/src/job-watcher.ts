import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

/**
 * The watcher's script. It ignores the signals redlock forwards or a terminal sends, then reads one line from
 * fd 3, a pipe whose other end only redlock holds: a line means redlock is done with the job (stand down);
 * end of file without one means redlock died (SIGKILL, the OOM killer), since the kernel closes a dead
 * process's descriptors, so it kills the job's whole group at once. The lock is no longer extended from that
 * moment, so it waits for nothing: a SIGTERM and a grace could outlive the lock's validity.
 */
const WATCHER_SCRIPT = `trap '' HUP INT QUIT TERM; read -r _ <&3 || kill -s KILL -- "-$1" 2>/dev/null`;

/**
 * A process that kills a job's process group if redlock dies before it is done with the job. See
 * {@link watchForRedlockDeath}.
 */
export interface JobWatcher {
  /** Tells the watcher to exit without killing anything: redlock is done with the job. Calling it again changes nothing. */
  standDown(): void;
}

/**
 * Starts a small `/bin/sh` that kills process group `groupId` with SIGKILL the moment redlock dies, even by
 * SIGKILL, so that the job never runs on without the lock (Node cannot ask the kernel for a parent-death
 * signal without native code). It costs one `sh` start, runs in a session of its own with no stdio, and
 * never keeps redlock's event loop alive. A job that moves itself to another process group or session
 * (`setsid`, a daemon) escapes it, as it escapes every group signal.
 */
export function watchForRedlockDeath(groupId: number): JobWatcher {
  const watcher = spawn('/bin/sh', ['-c', WATCHER_SCRIPT, 'redlock-watcher', String(groupId)], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    detached: true,
  });
  watcher.unref();
  // Without a listener, a failed spawn (no /bin/sh) would throw from the event loop; the job still runs.
  watcher.once('error', () => undefined);
  const pipe = watcher.stdio[3] as (Writable & { unref?: () => void }) | null | undefined;
  pipe?.on('error', () => undefined);
  pipe?.unref?.();
  let hasStoodDown = false;
  return {
    standDown() {
      if (hasStoodDown) return;
      hasStoodDown = true;
      pipe?.end('\n');
    },
  };
}
