import { defineScript, unexpectedReply } from './lua-script.js';

/**
 * Where a node announces that a resource key was released: this prefix followed by the key. Waiters in
 * `acquire()` subscribe to it, so they retry the moment the lock frees instead of at their next timer.
 */
export const RELEASE_CHANNEL_PREFIX = 'redlock:released:';

/** The release notification channel of a resource key. */
export function releaseChannelOf(key: string): string {
  return RELEASE_CHANNEL_PREFIX + key;
}

export const releaseScript = defineScript(
  'release',
  /* lua */ `
--[[ Deletes each resource key only if it still holds our token, so a late release can never remove
     a lock that someone else acquired after ours expired. Atomic per node. When asked, announces each
     key on its channel in the same step, so no waiter can miss a release between the two; even where
     the key was not ours: waiters listen to one node, which may not have been among those that granted
     the lock, and a needless announcement costs a waiter one look.
     KEYS[1..n] resource keys   ARGV[1] token   ARGV[2] channel prefix, or '' to announce nothing
     Returns the number of keys deleted, 0 if none was ours. ]]
local token, channelPrefix = ARGV[1], ARGV[2] or ''
local deleted = 0
for i = 1, #KEYS do
  -- pcall: a key of another type is an error reply, never our token, and is left alone.
  if redis.pcall('GET', KEYS[i]) == token then
    deleted = deleted + redis.call('DEL', KEYS[i])
  end
  if channelPrefix ~= '' then
    redis.call('PUBLISH', channelPrefix .. KEYS[i], '1')
  end
end
return deleted
`,
);

/** Parses the release script's reply: `'released'` if any of our keys was deleted, else `'not-held'`. */
export function parseReleaseReply(reply: unknown, keyCount: number): 'released' | 'not-held' {
  if (typeof reply !== 'number' || !Number.isInteger(reply) || reply < 0 || reply > keyCount) {
    throw unexpectedReply('release', reply);
  }
  return reply > 0 ? 'released' : 'not-held';
}
