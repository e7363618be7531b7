import { defineScript, unexpectedReply } from './lua-script.js';

/** The semaphore's layout is written on `permitAcquireScript` (permit-acquire.ts). */
export const permitExtendScript = defineScript(
  'permit-extend',
  /* lua */ `
--[[ Extends a holder's slots on this node: gives each a new expiry, all or nothing, and only while every
     one of them holds our token unexpired by this node's clock, so a slot that ran out (and may have been
     taken by another holder since) is never revived. The key then lives as long as its longest live
     entry, as after a release: an extension to a shorter TTL shortens it, so that a semaphore whose last
     holder is gone does not outlive its slots (and its limit can change). Atomic.
     KEYS[1] resource key   ARGV[1] token   ARGV[2] TTL in milliseconds   ARGV[3..] the slots
     Returns 1 if extended, 0 if any of the slots is not ours or has expired (nothing changed). ]]
local key, token, ttlMs = KEYS[1], ARGV[1], tonumber(ARGV[2])
if redis.call('TYPE', key)['ok'] ~= 'hash' then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for i = 3, #ARGV do
  local value = redis.call('HGET', key, ARGV[i])
  if value == false then
    return 0
  end
  local colon = string.find(value, ':', 1, true)
  if string.sub(value, colon + 1) ~= token or tonumber(string.sub(value, 1, colon - 1)) <= now then
    return 0
  end
end
local value = (now + ttlMs) .. ':' .. token
for i = 3, #ARGV do
  redis.call('HSET', key, ARGV[i], value)
end
local longest = now + ttlMs
local all = redis.call('HGETALL', key)
for i = 2, #all, 2 do
  local colon = string.find(all[i], ':', 1, true)
  local expiresAt = colon and tonumber(string.sub(all[i], 1, colon - 1))
  if expiresAt and expiresAt > longest then
    longest = expiresAt
  end
end
redis.call('PEXPIRE', key, longest - now)
return 1
`,
);

/** What a permit-extend call answers. */
export type PermitExtendStatus = 'extended' | 'not-held';

/** Parses the permit-extend script's reply. */
export function parsePermitExtendReply(reply: unknown): PermitExtendStatus {
  if (reply === 1) return 'extended';
  if (reply === 0) return 'not-held';
  throw unexpectedReply('permit-extend', reply);
}
