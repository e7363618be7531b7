import { defineScript, READ_KEY_LUA, unexpectedReply } from './lua-script.js';

/**
 * Where a node announces that a resource key was released: this prefix followed by the key. Waiters in
 * `acquire()` subscribe to it, so they retry the moment the lock frees instead of at their next timer.
 */
export const RELEASE_CHANNEL_PREFIX = 'redlock:released:';

/** The release notification channel of a resource key. */
export function releaseChannelOf(key: string): string {
  return RELEASE_CHANNEL_PREFIX + key;
}

/**
 * The source of a release script: compare-and-delete of each key, then a PUBLISH on its release channel
 * when `announces`. The channel prefix is in the source, not an argument: about 1 µs of node CPU per release.
 */
function releaseSource(announces: boolean): string {
  const summary = announces
    ? `Deletes each resource key only if it still holds our token, and announces each key on its release
     channel in the same step, so no waiter can miss a release between the two; even where the key was not
     ours: waiters listen to one node, which may not have been among those that granted the lock, and a
     needless announcement costs a waiter one look.`
    : `Deletes each resource key only if it still holds our token, and announces nothing: the removal of a
     failed attempt's keys, which freed no lock that anyone waits for.`;
  return /* lua */ `
--[[ ${summary}
     A late release can never remove a lock that someone else acquired after ours expired. Atomic per node.
     KEYS[1..n] resource keys   ARGV[1] token
     Returns the number of keys deleted, 0 if none was ours. ]]
${READ_KEY_LUA}
local token = ARGV[1]
local deleted = 0
for i = 1, #KEYS do
  -- A key of another type reads as an error reply, never our token, and is left alone.
  if readKey('GET', KEYS[i]) == token then
    deleted = deleted + redis.call('DEL', KEYS[i])
  end${
    announces
      ? `
  -- pcall: a user the ACL denies the channel still releases; its waiters wake on their timers.
  redis.pcall('PUBLISH', '${RELEASE_CHANNEL_PREFIX}' .. KEYS[i], '1')`
      : ''
  }
end
return deleted
`;
}

/** Releases a held lock: deletes our keys and announces each on its release channel (see {@link releaseChannelOf}). */
export const releaseScript = defineScript('release', releaseSource(true), 'f1dc0fd30a0dd712c6340baaee2f193ca93ba07b');

/**
 * Removes the keys of a failed attempt, announcing nothing: waiters blocked by the attempt retry on their
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
