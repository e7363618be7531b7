import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

/**
 * The watcher's script. It ignores the signals redlock forwards or a terminal sends, then reads from fd 3, a
 * pipe whose other end only redlock holds: first the ID of the job's process group, then a line that means
 * redlock is done with the job (stand down). End of file instead means redlock died (SIGKILL, the OOM
 * killer), since the kernel closes a dead process's descriptors: before the group's ID there is nothing to
 * kill; after it, it kills the job's whole group at once. The lock is no longer extended from that moment,
 * so it waits for nothing: a SIGTERM and a grace could outlive the lock's validity.
 */
const WATCHER_SCRIPT = `trap '' HUP INT QUIT TERM; read -r group <&3 || exit 0; read -r _ <&3 || kill -s KILL -- "-$group" 2>/dev/null`;

/**
 * A process that kills a job's process group if redlock dies before it is done with the job. See
 * {@link startJobWatcher}.
 * waiting ──watch(group)──▶ watching ──standDown()──▶ stood down · waiting ──standDown()──▶ stood down
 * While watching, redlock's death kills the group; while waiting or stood down, it kills nothing.
 */
export interface JobWatcher {
  /** Tells the watcher the job's process group, to kill if redlock dies from now on. Only the first call counts. */
  watch(groupId: number): void;
  /** Tells the watcher to exit without killing anything: redlock is done with the job. Calling it again changes nothing. */
  standDown(): void;
}

/**
 * Starts a small `/bin/sh` that, once told a job's process group with `watch()`, kills that group with
 * SIGKILL the moment redlock dies, even by SIGKILL, so that the job never runs on without the lock (Node
 * cannot ask the kernel for a parent-death signal without native code). Start it before the job, and
 * give it the job's group with `watch()` right after the spawn: a kill of redlock between the two leaves
 * the job running, and this way only one pipe write separates them, instead of the watcher's whole spawn.
 * It runs in a session of its own with no stdio, and never keeps redlock's event loop alive. A job that
 * moves itself to another process group or session (`setsid`, a daemon) escapes it, as it escapes every
 * group signal.
 */
export function startJobWatcher(): JobWatcher {
  const watcher = spawn('/bin/sh', ['-c', WATCHER_SCRIPT, 'redlock-watcher'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    detached: true,
  });
  watcher.unref();
  // Without a listener, a failed spawn (no /bin/sh) would throw from the event loop; the job still runs.
  watcher.once('error', () => undefined);
  const pipe = watcher.stdio[3] as (Writable & { unref?: () => void }) | null | undefined;
  pipe?.on('error', () => undefined);
  pipe?.unref?.();
  let isWatching = false;
  let hasStoodDown = false;
  return {
    watch(groupId) {
      if (isWatching || hasStoodDown) return;
      isWatching = true;
      // A pipe write that fits its buffer reaches the kernel before write() returns, so the watcher knows
      // the group even if redlock is killed on the next instruction.
      pipe?.write(`${groupId}\n`);
    },
    standDown() {
      if (hasStoodDown) return;
      hasStoodDown = true;
      // Before watch(), closing the pipe is enough: end of file before a group kills nothing.
      pipe?.end(isWatching ? '\n' : undefined);
    },
  };
}
