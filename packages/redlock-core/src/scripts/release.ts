import { defineScript, READ_KEY_LUA, unexpectedReply } from './lua-script.js';
import { WAKE_QUEUE_LUA } from './wake-queue.js';

/**
 * The source of a release script: compare-and-delete of each key, then, when `announces`, the releaser
 * leaves the key's wait queue and the next waiting process is woken (see wake-queue.ts).
 */
function releaseSource(announces: boolean): string {
  const summary = announces
    ? `Deletes each resource key only if it still holds our token, and wakes the next process in the key's
     wait queue where it deleted it, in the same step, so no waiter can miss a release between the two. The
     releaser's own member (its ticket, ARGV[2]) leaves the queue first: a process that won by a plain SET is still
     queued, and would only wake itself.`
    : `Deletes each resource key only if it still holds our token, and announces nothing: the removal of a
     failed attempt's keys, which freed no lock that anyone waits for.`;
  return /* lua */ `
--[[ ${summary}
     A late release can never remove a lock that someone else acquired after ours expired. Atomic per node.
     KEYS[1..n] resource keys   ARGV[1] token${announces ? "   ARGV[2] the releaser's queue ticket, '' or absent" : ''}
     Returns the number of keys deleted, 0 if none was ours. ]]
${READ_KEY_LUA}${announces ? `
${WAKE_QUEUE_LUA}` : ''}
local token = ARGV[1]
local deleted = 0
for i = 1, #KEYS do
  -- A key of another type reads as an error reply, never our token, and is left alone.
  if readKey('GET', KEYS[i]) == token then
    deleted = deleted + redis.call('DEL', KEYS[i])${
      announces
        ? `
    leaveQueue(KEYS[i], ARGV[2] or '')
    wakeNext(KEYS[i], 1, true)`
        : ''
    }
  end
end
return deleted
`;
}

/** Releases a held lock: deletes our keys and wakes the next waiting process of each (see wake-queue.ts). */
export const releaseScript = defineScript('release', releaseSource(true), 'cb32e23b1278842159c58f748023dbcc19ff10fd');

/**
 * Removes the keys of a failed attempt, waking nobody: waiters blocked by the attempt retry on their
 * timers. Its replies read as the release script's ({@link parseReleaseReply}).
 */
export const quietReleaseScript = defineScript('release', releaseSource(false), '8349099d93a917986c0320466415d35cefef2fa1');

/** Parses the release script's reply: `'released'` if any of our keys was deleted, else `'not-held'`. */
export function parseReleaseReply(reply: unknown, keyCount: number): 'released' | 'not-held' {
  if (typeof reply !== 'number' || !Number.isInteger(reply) || reply < 0 || reply > keyCount) {
    throw unexpectedReply('release', reply);
  }
  return reply > 0 ? 'released' : 'not-held';
}
