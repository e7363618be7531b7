import { defineScript, unexpectedReply } from './lua-script.js';
import { RELEASE_CHANNEL_PREFIX } from './release.js';

/** The source of a permit-release script, announcing the release on the key's release channel when `announces`. */
function permitReleaseSource(announces: boolean): string {
  return /* lua */ `
--[[ Frees a holder's slots of the semaphore at KEYS[1] (the layout is written on the permit-acquire
     script), all but the slots ARGV[2..] if given, and removes the key once no slot is left in it${
       announces
         ? `; announces
     the release on the key's release channel in the same step, so a waiter cannot miss it`
         : `; announces
     nothing: a failed attempt's slots, or those a holder was given beyond the ones it holds on a quorum`
     }. Only slots that hold our token are touched, so a late release can never free another holder's.
     Atomic.
     KEYS[1] resource key   ARGV[1] token   ARGV[2..] the slots to keep, if any
     Returns 1 if any of our slots was freed, 0 if none was there. ]]
local key, token = KEYS[1], ARGV[1]
local kept = {}
for i = 2, #ARGV do
  kept[ARGV[i]] = true
end
local freed = 0
if redis.call('TYPE', key)['ok'] == 'hash' then
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local field, value = all[i], all[i + 1]
    if field ~= 'limit' and not kept[field] and string.sub(value, string.find(value, ':', 1, true) + 1) == token then
      freed = freed + redis.call('HDEL', key, field)
    end
  end
  if freed > 0 and redis.call('HLEN', key) == 1 then
    redis.call('DEL', key)
  end
end${
    announces
      ? `
redis.call('PUBLISH', '${RELEASE_CHANNEL_PREFIX}' .. key, '1')`
      : ''
  }
if freed > 0 then
  return 1
end
return 0
`;
}

/** Releases a held permit: frees its slots and announces the release to waiters. */
export const permitReleaseScript = defineScript('permit-release', permitReleaseSource(true));

/** Frees a failed attempt's slots, or a holder's extra ones, announcing nothing. */
export const quietPermitReleaseScript = defineScript('permit-release', permitReleaseSource(false));

/** Parses the permit-release script's reply: `'released'` if any of our slots was freed, else `'not-held'`. */
export function parsePermitReleaseReply(reply: unknown): 'released' | 'not-held' {
  if (reply === 1) return 'released';
  if (reply === 0) return 'not-held';
  throw unexpectedReply('permit-release', reply);
}
