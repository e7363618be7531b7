import { defineScript, unexpectedReply } from './lua-script.js';
import { RELEASE_CHANNEL_PREFIX } from './release.js';

/** The source of a permit-release script, announcing the release on the key's release channel when `announces`. */
function permitReleaseSource(announces: boolean): string {
  return /* lua */ `
--[[ Frees a holder's entries in the semaphore or read-write lock at KEYS[1] (their layouts are written on
     the permit-acquire and read-write-acquire scripts): every field that holds token ARGV[1], or ARGV[2]
     when not empty (a waiting writer's or request's intent), but the fields ARGV[3..] if given. Once it
     freed one, the key lives as long as its longest live entry: it is removed with the expired ones when
     none is live, so neither a holder gone long ago nor a long TTL since released keeps the marker (the
     field without a holder, which holds a semaphore's limit) alive${
       announces
         ? `; announces
     the release on the key's release channel in the same step, so a waiter cannot miss it`
         : `; announces
     nothing: a failed attempt's entries, or those a holder was given beyond the ones it holds on a quorum`
     }. Only fields that hold our token are touched, so a late release can never free another holder's.
     Atomic.
     KEYS[1] resource key   ARGV[1] token   ARGV[2] a second holder to free, or ''
     ARGV[3..] the fields to keep, if any
     Returns 1 if any of our fields was freed, 0 if none was there. ]]
local key, token, other = KEYS[1], ARGV[1], ARGV[2]
local kept = {}
for i = 3, #ARGV do
  kept[ARGV[i]] = true
end
local freed, longest = 0, nil
if redis.call('TYPE', key)['ok'] == 'hash' then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local field, value = all[i], all[i + 1]
    local colon = string.find(value, ':', 1, true)
    if colon ~= nil then
      local holder = string.sub(value, colon + 1)
      local expiresAt = tonumber(string.sub(value, 1, colon - 1))
      if not kept[field] and (holder == token or (other ~= '' and holder == other)) then
        freed = freed + redis.call('HDEL', key, field)
      elseif expiresAt > now and (longest == nil or expiresAt > longest) then
        longest = expiresAt
      end
    end
  end
  if freed > 0 then
    if longest == nil then
      redis.call('DEL', key)
    else
      redis.call('PEXPIRE', key, longest - now)
    end
  end
end${
    announces
      ? `
-- pcall: a user the ACL denies the channel still releases; its waiters wake on their timers.
redis.pcall('PUBLISH', '${RELEASE_CHANNEL_PREFIX}' .. key, '1')`
      : ''
  }
if freed > 0 then
  return 1
end
return 0
`;
}

/** Releases held permits or a held read-write lock: frees its entries and announces the release to waiters. */
export const permitReleaseScript = defineScript('permit-release', permitReleaseSource(true), '757427ed675319d04a927b394e30abf4b6b714e6');

/** Frees a failed attempt's entries, or a holder's extra ones, announcing nothing. */
export const quietPermitReleaseScript = defineScript('permit-release', permitReleaseSource(false), 'a9d361ad4448c6f8a475cd447cd6cd4876d1a267');

/** Parses the permit-release script's reply: `'released'` if any of our slots was freed, else `'not-held'`. */
export function parsePermitReleaseReply(reply: unknown): 'released' | 'not-held' {
  if (reply === 1) return 'released';
  if (reply === 0) return 'not-held';
  throw unexpectedReply('permit-release', reply);
}
