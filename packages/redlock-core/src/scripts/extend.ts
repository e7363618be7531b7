import { defineScript, READ_KEY_LUA, unexpectedReply } from './lua-script.js';

export const extendScript = defineScript(
  'extend',
  /* lua */ `
--[[ Extends the lock on this node: resets the TTL of every resource key, all or nothing, and only
     while each key holds our token, so we never extend a key that another owner set after ours
     expired. With re-seeding on, keys that are missing (the node restarted empty, or a key expired
     early) are set again with our token, so the lock regains its full margin there; the client asks
     for that only once a quorum of nodes has extended, so a lock that is gone stays gone.
     Atomic, so nobody can slip in between the check and the writes.
     KEYS[1..n] resource keys   ARGV[1] token   ARGV[2] TTL in milliseconds   ARGV[3] '1' to re-seed
     Returns 1 if every key held our token and was extended, 2 if some were missing (set again when
     re-seeding, else nothing changed), 0 if any key holds another owner's token or is not a string
     (nothing changed). ]]
${READ_KEY_LUA}
local token, ttlMs, reseed = ARGV[1], ARGV[2], ARGV[3] == '1'
local missing = 0
for i = 1, #KEYS do
  -- A key of another type reads as an error reply, never our token: not held, and left alone.
  local value = readKey('GET', KEYS[i])
  if value == false then
    missing = missing + 1
  elseif value ~= token then
    return 0
  end
end
if missing > 0 and not reseed then
  return 2
end
-- PEXPIRE where the key is ours, which Redis allows even when out of memory; SET only what is missing.
for i = 1, #KEYS do
  if redis.call('PEXPIRE', KEYS[i], ttlMs) == 0 then
    redis.call('SET', KEYS[i], token, 'PX', ttlMs)
  end
end
if missing > 0 then
  return 2
end
return 1
`,
  '8c714f3642bfbde4ab56e5b1f984cc2fc9ebb2fd',
);

/** What an extend call answers: our keys extended, some of them gone, or another owner's there. */
export type ExtendStatus = 'extended' | 'missing' | 'not-held';

/**
 * Parses the reply of the extend script, or of `script` (the permit-extend script answers alike):
 * `'extended'`, `'missing'` (some of our keys or entries are gone there; set again if re-seeding) or
 * `'not-held'` (another owner's there, or a re-seed refused).
 */
export function parseExtendReply(reply: unknown, script = 'extend'): ExtendStatus {
  if (reply === 1) return 'extended';
  if (reply === 2) return 'missing';
  if (reply === 0) return 'not-held';
  throw unexpectedReply(script, reply);
}
