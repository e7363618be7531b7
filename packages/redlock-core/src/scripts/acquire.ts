import { defineScript, unexpectedReply } from './lua-script.js';

export const acquireScript = defineScript(
  'acquire',
  /* lua */ `
--[[ Sets every resource key to our token, but only if none of them holds another owner's token: all
     or nothing, so a multi-resource lock is never half-taken on a node. Atomic, so no other owner can slip in
     between the check and the set. Keys that already hold our token count as granted: the script ran
     before for this attempt (a client re-sent it after a reconnect), so the attempt counts the node and
     cleans it up like any other.
     With a restart grace, a node that started less than that long ago grants nothing: if it restarted
     without persistence it may have lost keys of locks that are still valid, and granting them again
     would give a second owner a quorum (the spec's "delayed restart", enforced by the node itself).
     With fencing, the keys of the resources' fencing counters follow the resource keys, and a grant
     also reports the highest counter: the first phase of handing out a fencing token.
     KEYS[1..n] resource keys, then with fencing KEYS[n+1..2n] their counter keys
     ARGV[1] token   ARGV[2] TTL in milliseconds   ARGV[3] restart grace in milliseconds, '0' or absent
     for none   ARGV[4] '1' with fencing, else '0' or absent
     Returns 1 if every key was set or already held our token ({1, highest counter} with fencing), 0 if
     any key holds another owner's token, -1 if the node is inside its restart grace (nothing is changed
     then). ]]
local token, ttlMs, restartGraceMs, isFencing = ARGV[1], ARGV[2], tonumber(ARGV[3]) or 0, ARGV[4] == '1'
local resourceCount = isFencing and #KEYS / 2 or #KEYS
local missing = 0
for i = 1, resourceCount do
  -- One read per key: false when missing, an error reply (WRONGTYPE) for a key of another type.
  local value = redis.pcall('GET', KEYS[i])
  if value == false then
    missing = missing + 1
  elseif value ~= token then
    -- Another owner's token, or a key of another type: held either way, and left alone.
    return 0
  end
end
if missing > 0 and restartGraceMs > 0 then
  -- Read only when about to grant; uptime has 1 s precision, rounded down, so the grace errs long.
  local uptimeSeconds = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)'))
  if uptimeSeconds == nil or uptimeSeconds * 1000 < restartGraceMs then
    return -1
  end
end
for i = 1, resourceCount do
  redis.call('SET', KEYS[i], token, 'PX', ttlMs, 'NX')
end
if isFencing then
  local highest = 0
  for i = resourceCount + 1, #KEYS do
    highest = math.max(highest, tonumber(redis.call('GET', KEYS[i])) or 0)
  end
  return {1, highest}
end
return 1
`,
);

/**
 * Parses the acquire script's reply: `'acquired'`, `'held'` (another owner holds a key) or
 * `'restarting'` (the node started less than the restart grace ago).
 */
export function parseAcquireReply(reply: unknown): 'acquired' | 'held' | 'restarting' {
  if (reply === 1 || fenceCounterOf(reply) !== undefined) return 'acquired';
  if (reply === 0) return 'held';
  if (reply === -1) return 'restarting';
  throw unexpectedReply('acquire', reply);
}

/** The highest fencing counter a fenced grant reported (`{1, counter}`), else `undefined`. */
export function fenceCounterOf(reply: unknown): number | undefined {
  if (!Array.isArray(reply) || reply.length !== 2 || reply[0] !== 1) return undefined;
  const counter: unknown = reply[1];
  return typeof counter === 'number' && Number.isSafeInteger(counter) && counter >= 0 ? counter : undefined;
}
