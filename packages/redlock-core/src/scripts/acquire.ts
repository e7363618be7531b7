import { defineScript, unexpectedReply } from './lua-script.js';

export const acquireScript = defineScript(
  'acquire',
  /* lua */ `
--[[ Sets every resource key to our token, but only if none of them exists: all or nothing, so a
     multi-resource lock is never half-taken on a node. Atomic, so no other owner can slip in
     between the check and the set.
     With a restart grace, a node that started less than that long ago grants nothing: if it restarted
     without persistence it may have lost keys of locks that are still valid, and granting them again
     would give a second owner a quorum (the spec's "delayed restart", enforced by the node itself).
     KEYS[1..n] resource keys   ARGV[1] token   ARGV[2] TTL in milliseconds
     ARGV[3] restart grace in milliseconds, '0' for none
     Returns 1 if every key was set, 0 if any key already existed, -1 if the node is inside its restart
     grace (nothing is changed then). ]]
local token, ttlMs, restartGraceMs = ARGV[1], ARGV[2], tonumber(ARGV[3]) or 0
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return 0
  end
end
if restartGraceMs > 0 then
  -- Read only when about to grant; uptime has 1 s precision, rounded down, so the grace errs long.
  local uptimeSeconds = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)'))
  if uptimeSeconds == nil or uptimeSeconds * 1000 < restartGraceMs then
    return -1
  end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], token, 'PX', ttlMs)
end
return 1
`,
);

/**
 * Parses the acquire script's reply: `'acquired'`, `'held'` (another owner holds a key) or
 * `'restarting'` (the node started less than the restart grace ago).
 */
export function parseAcquireReply(reply: unknown): 'acquired' | 'held' | 'restarting' {
  if (reply === 1) return 'acquired';
  if (reply === 0) return 'held';
  if (reply === -1) return 'restarting';
  throw unexpectedReply('acquire', reply);
}
