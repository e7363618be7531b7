import { defineScript, unexpectedReply } from './lua-script.js';

export const acquireScript = defineScript(
  'acquire',
  /* lua */ `
--[[ Sets every resource key to our token, but only if none of them exists: all or nothing, so a
     multi-resource lock is never half-taken on a node. Atomic, so no other owner can slip in
     between the check and the set.
     KEYS[1..n] resource keys   ARGV[1] token   ARGV[2] TTL in milliseconds
     Returns 1 if every key was set, 0 if any key already existed (nothing is changed then). ]]
local token, ttlMs = ARGV[1], ARGV[2]
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return 0
  end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], token, 'PX', ttlMs)
end
return 1
`,
);

/** Parses the acquire script's reply: `'acquired'` or `'held'` (another owner holds a key). */
export function parseAcquireReply(reply: unknown): 'acquired' | 'held' {
  if (reply === 1) return 'acquired';
  if (reply === 0) return 'held';
  throw unexpectedReply('acquire', reply);
}
