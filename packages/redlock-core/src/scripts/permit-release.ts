import { defineScript, indentedLua, unexpectedReply } from './lua-script.js';
import { QUEUE_OF_LUA, wakeWaitersLua } from './wake-queue.js';

/**
 * The source of a permit-release script, waking the next waiting processes when `announces` (see
 * wake-queue.ts). It frees a holder's entries in the semaphore or read-write lock at KEYS[1] (their layouts
 * are written on the permit-acquire and read-write-acquire scripts): every field that holds token ARGV[1],
 * or ARGV[2] when not empty (a waiting writer's or request's intent), but the fields ARGV[4..] if given.
 * Once it freed one, the key lives as long as its longest live entry: it is removed with the expired ones
 * when none is live, so neither a holder gone long ago nor a long TTL since released keeps the marker (the
 * field without a holder, which holds a semaphore's limit) alive. Announcing, in the same step, so a waiter
 * cannot miss it, the releaser's member (its ticket, ARGV[3]) leaves the key's wait queue and waiting
 * processes are woken: of a semaphore, as many as entries were freed; of a read-write lock, every one (the
 * readers among them may all get in). Quiet, it wakes nobody: a failed attempt's entries, or those a holder
 * was given beyond the ones it holds on a quorum. Only fields that hold our token are touched, so a late
 * release can never free another holder's. Atomic.
 * KEYS[1] resource key   ARGV[1] token   ARGV[2] a second holder to free, or ''
 * ARGV[3] the releaser's queue ticket, or ''   ARGV[4..] the fields to keep, if any
 * Returns 1 if any of our fields was freed, 0 if none was there.
 */
function permitReleaseSource(announces: boolean): string {
  return /* lua */ `${announces ? `
${QUEUE_OF_LUA}` : ''}
local key, token, other = KEYS[1], ARGV[1], ARGV[2]
local kept = {}
for i = 4, #ARGV do
  kept[ARGV[i]] = true
end
local freed, longest, isReadWrite = 0, nil, false
if redis.call('TYPE', key)['ok'] == 'hash' then
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local field, value = all[i], all[i + 1]
    local colon = string.find(value, ':', 1, true)
    if field == 'rw' then
      isReadWrite = true
    end
    if colon ~= nil then
      local holder = string.sub(value, colon + 1)
      local expiresAt = tonumber(string.sub(value, 1, colon - 1))
      if not kept[field] and (holder == token or (other ~= '' and holder == other)) then
        freed = freed + redis.call('HDEL', key, field)
      elseif expiresAt ~= nil and (longest == nil or expiresAt > longest) then
        longest = expiresAt
      end
    end
  end
  ${/* At the latest entry's expiry, on this node's clock (no TIME needed): at once if every entry expired. */ ''}if freed > 0 then
    if longest == nil then
      redis.call('DEL', key)
    else
      redis.call('PEXPIREAT', key, longest)
    end
  end
end${
    announces
      ? `
if freed > 0 then
${indentedLua(wakeWaitersLua('key', 'ARGV[3]', 'isReadWrite and -1 or freed', false))}
end`
      : ''
  }
if freed > 0 then
  return 1
end
return 0
`;
}

/** Releases held permits or a held read-write lock: frees its entries and wakes waiting processes. */
export const permitReleaseScript = defineScript('permit-release', permitReleaseSource(true), 'e690760151e585192d6214b40096812fde7798b5');

/** Frees a failed attempt's entries, or a holder's extra ones, waking nobody. */
export const quietPermitReleaseScript = defineScript('permit-release', permitReleaseSource(false), '93f6a7e31da0d1824779efee80fd2446fc353083');

/** Parses the permit-release script's reply: `'released'` if any of our slots was freed, else `'not-held'`. */
export function parsePermitReleaseReply(reply: unknown): 'released' | 'not-held' {
  if (reply === 1) return 'released';
  if (reply === 0) return 'not-held';
  throw unexpectedReply('permit-release', reply);
}
