import { defineScript, indentedLua, isFailureLua, unexpectedReply } from './lua-script.js';
import { QUEUE_OF_LUA, wakeWaitersLua } from './wake-queue.js';

/**
 * The source of a release script: compare-and-delete of each key, atomic per node, so a late release can
 * never remove a lock that someone else acquired after ours expired. When `announces`, where it deleted a
 * key, the releaser leaves the key's wait queue and the next waiting process is woken (see wake-queue.ts),
 * in the same step, so no waiter can miss a release between the two: the releaser's own member (its ticket,
 * ARGV[2]) leaves first, as a process that won by a plain SET is still queued and would only wake itself.
 * Quiet, it announces nothing: the removal of a failed attempt's keys, which freed no lock that anyone
 * waits for. It reads a key as `readKeyLua` does, but compares the value with the token before it
 * asks whether it is an error reply: the usual release then skips that check (`readKeyLua` first cost a node
 * some 550 more instructions per release, of 39,500 with the SET).
 * KEYS[1..n] resource keys   ARGV[1] token   ARGV[2] when announcing, the releaser's queue ticket, '' or absent
 * ARGV[3] when announcing, '1' to hear which waiting process heard its wake (a fair lock's release: see lock/hand-off.ts)
 * Returns the number of keys deleted, 0 if none was ours; with ARGV[3] '1', `{deleted, the first member heard or ''}`.
 */
function releaseSource(announces: boolean): string {
  return /* lua */ `${announces ? `
${QUEUE_OF_LUA}` : ''}
local token${announces ? `, ticket = ARGV[1], ARGV[2] or ''` : ' = ARGV[1]'}
local deleted${announces ? ", heard = 0, ''" : ' = 0'}
for i = 1, #KEYS do
  ${/* A key of another type reads as an error reply, never our token, and is left alone (as by `readKeyLua`). */ ''}local value = redis.pcall('GET', KEYS[i])
  if value == token then
    deleted = deleted + redis.call('DEL', KEYS[i])${announces ? `
${indentedLua(wakeWaitersLua('KEYS[i]', 'ticket', '1', true, 'heard'), 2)}` : ''}
  elseif ${isFailureLua('value')} then
    error(value)
  end
end
${announces ? `if ARGV[3] == '1' then
  return {deleted, heard}
end
` : ''}return deleted
`;
}

/** Releases a held lock: deletes our keys and wakes the next waiting process of each (see wake-queue.ts). */
export const releaseScript = defineScript('release', releaseSource(true), 'c6e15105a7fdcb734575d4a9037b6eb2ab5028bb');

/**
 * Removes the keys of a failed attempt, waking nobody: waiters blocked by the attempt retry on their
 * timers. Its replies read as the release script's ({@link parseReleaseReply}).
 */
export const quietReleaseScript = defineScript('release', releaseSource(false), 'bc3cfcde90724cb1ad6b91e7ffb84af00fe1ac9c');

/** What a release call answers: the node deleted our keys, or held none of them. */
export type ReleaseStatus = 'released' | 'not-held';

/** Parses the release script's reply: `'released'` if any of our keys was deleted, else `'not-held'`. */
export function parseReleaseReply(reply: unknown, keyCount: number): ReleaseStatus {
  if (typeof reply !== 'number' || !Number.isInteger(reply) || reply < 0 || reply > keyCount) {
    throw unexpectedReply('release', reply);
  }
  return reply > 0 ? 'released' : 'not-held';
}

/**
 * Parses the reply of a release that asked which waiting process heard its wake (ARGV[3] '1'): its status, as
 * {@link parseReleaseReply}, and that process's queue member (`''` for none).
 */
export function parseHeardReleaseReply(reply: unknown, keyCount: number): { readonly status: ReleaseStatus; readonly heard: string } {
  if (!Array.isArray(reply) || reply.length !== 2) throw unexpectedReply('release', reply);
  const [deleted, heard] = reply as [unknown, unknown];
  if (typeof heard !== 'string') throw unexpectedReply('release', reply);
  return { status: parseReleaseReply(deleted, keyCount), heard };
}
