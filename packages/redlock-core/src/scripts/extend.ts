import { defineScript, unexpectedReply } from './lua-script.js';

export const extendScript = defineScript(
  'extend',
  /* lua */ `
--[[ Resets the TTL of every resource key, but only if all of them still hold our token: all or
     nothing, and atomic, so we never extend a key that another owner set after ours expired.
     KEYS[1..n] resource keys   ARGV[1] token   ARGV[2] TTL in milliseconds
     Returns 1 if every key was extended, 0 if any key no longer holds our token (nothing is changed). ]]
local token, ttlMs = ARGV[1], ARGV[2]
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= token then
    return 0
  end
end
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], ttlMs)
end
return 1
`,
);

/** Parses the extend script's reply: `'extended'` or `'not-held'`. */
export function parseExtendReply(reply: unknown): 'extended' | 'not-held' {
  if (reply === 1) return 'extended';
  if (reply === 0) return 'not-held';
  throw unexpectedReply('extend', reply);
}
