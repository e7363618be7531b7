import { defineScript, unexpectedReply } from './lua-script.js';

export const releaseScript = defineScript(
  'release',
  /* lua */ `
--[[ Deletes each resource key only if it still holds our token, so a late release can never remove
     a lock that someone else acquired after ours expired. Atomic per node.
     KEYS[1..n] resource keys   ARGV[1] token
     Returns the number of keys deleted, 0 if none was ours. ]]
local token = ARGV[1]
local deleted = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == token then
    deleted = deleted + redis.call('DEL', KEYS[i])
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
