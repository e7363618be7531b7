import { defineScript, unexpectedReply } from './lua-script.js';

export const inspectScript = defineScript(
  'inspect',
  /* lua */ `
--[[ Reports how long a resource key has left, without its value: inspection must never reveal an
     owner's token, which would let the reader release or extend someone else's lock. Every lock key is a
     string with a TTL; a key without a TTL, or of another type, is not a lock and is reported as such
     rather than as a lock that never ends.
     KEYS[1] resource key
     Returns the key's remaining TTL in milliseconds, -2 if it does not exist, -1 if it is not a lock. ]]
local resource = KEYS[1]
local remainingMs = redis.call('PTTL', resource)
if remainingMs >= 0 and redis.call('TYPE', resource).ok ~= 'string' then
  return -1
end
return remainingMs
`,
  'd2a22f2ae9768e0faeab3ca4e10c5f1634d32660',
);

/**
 * Parses the inspect script's reply: the key's remaining milliseconds, `'free'` if absent, `'foreign'` if
 * the key is not a lock (no TTL, or not a string).
 */
export function parseInspectReply(reply: unknown): number | 'free' | 'foreign' {
  if (reply === -2) return 'free';
  if (reply === -1) return 'foreign';
  if (typeof reply === 'number' && Number.isInteger(reply) && reply >= 0) return reply;
  throw unexpectedReply('inspect', reply);
}
