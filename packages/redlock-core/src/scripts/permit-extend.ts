import { type ExtendStatus, parseExtendReply } from './extend.js';
import { defineScript } from './lua-script.js';
import { SEMAPHORE_LAYOUT_LUA } from './permit-acquire.js';
import { READ_WRITE_LAYOUT_LUA } from './read-write-acquire.js';

/**
 * Extends a holder's entries in the hash of a semaphore or a read-write lock on this node: gives each a
 * new expiry, all or nothing, and only while every one of them holds our token unexpired by this node's
 * clock, so an entry that ran out (and may have been taken by another holder since) is never revived.
 * Entries that are all missing, on a key that is absent or keeps the layout (a semaphore: with our limit),
 * are told apart: the node lost them (it restarted empty). With re-seeding on, they are set again with our
 * token and the new expiry, only where they cannot sit beside a holder they exclude on this node: a
 * semaphore's slots are then free here (they are missing), and the recorded limit is ours (set when the
 * key is absent; a waiting request's intent does not stop them: it guards admissions, and the holder
 * was admitted); a writer is set only where no live reader is, a reader only where no live writer and
 * no live writer's intent is (the intent keeps new readers out, so it keeps ours out too). The client
 * asks for re-seeding only once a quorum of nodes has extended, so a hold that is gone stays gone; the
 * restart grace does not apply, as it guards grants to new holders. The key then lives as long as its
 * longest live entry, as after a release: an extension to a shorter TTL shortens it, so that a hash
 * whose last holder is gone does not outlive its entries (and a semaphore's limit can change). Atomic,
 * so nobody can slip in between the checks and the writes.
 * KEYS[1] resource key   ARGV[1] token   ARGV[2] TTL in milliseconds   ARGV[3] '1' to re-seed, else '0'
 * ARGV[4] the layout: the semaphore's limit, or 'rw' for a read-write lock
 * ARGV[5..] our fields: a semaphore's slots, a read-write lock's 'w' or 'r:<token>'
 * Returns 1 if every entry held our token unexpired and was extended; 2 if every entry was missing
 * (set again when re-seeding; else nothing changed); 0 if any entry is another holder's or has expired,
 * some are missing and some are not, the key is not of the layout (a semaphore: of another limit), or a
 * re-seed would put ours beside a holder they exclude (nothing changed in these cases).
 *
 * The layouts are written on `permitAcquireScript` (permit-acquire.ts) and `readWriteAcquireScript`
 * (read-write-acquire.ts). A re-seed gives a holder that a quorum still holds its entries back on a node
 * that lost them, as `extendScript` does a lock's keys: it admits no new holder, so the restart grace does
 * not apply, but it writes only where the layout's rule would let our entries sit beside the node's.
 */
export const permitExtendScript = defineScript(
  'permit-extend',
  /* lua */ `
${SEMAPHORE_LAYOUT_LUA}
${READ_WRITE_LAYOUT_LUA}
local key, token, ttlMs, reseed, layout = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', ARGV[4]
local keyType = redis.call('TYPE', key)['ok']
if keyType ~= 'none' and keyType ~= 'hash' then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local missing = 0
for i = 5, #ARGV do
  local value = redis.call('HGET', key, ARGV[i])
  if value == false then
    missing = missing + 1
  else
    local colon = string.find(value, ':', 1, true)
    if colon == nil or string.sub(value, colon + 1) ~= token or tonumber(string.sub(value, 1, colon - 1)) <= now then
      return 0
    end
  end
end
if missing > 0 then
  if missing < #ARGV - 4 then
    return 0
  end
  if keyType == 'hash' then
    local all = redis.call('HGETALL', key)
    if layout == 'rw' then
      if not isReadWriteHash(key, all) then
        return 0
      end
    elseif not isSemaphoreHash(key, all) or tonumber(redis.call('HGET', key, 'limit')) ~= tonumber(layout) then
      return 0
    end
    if not reseed then
      return 2
    end
    ${/* A read-write lock's live entries that ours would sit beside; a semaphore's slots of ours are free. */ ''}if layout == 'rw' then
      local isWriter = ARGV[5] == 'w'
      for i = 1, #all, 2 do
        local field, value = all[i], all[i + 1]
        if field ~= 'rw' and tonumber(string.sub(value, 1, string.find(value, ':', 1, true) - 1)) > now then
          if (isWriter and string.sub(field, 1, 2) == 'r:') or (not isWriter and (field == 'w' or field == 'i')) then
            return 0
          end
        end
      end
    end
  elseif not reseed then
    return 2
  end
  if layout == 'rw' then
    redis.call('HSET', key, 'rw', '1')
  else
    redis.call('HSET', key, 'limit', layout)
  end
end
${/* A re-seed never shortens an entry of ours (see extendScript): every one here is ours and live, or missing. */ ''}for i = 5, #ARGV do
  local expiresAt = now + ttlMs
  local current = reseed and redis.call('HGET', key, ARGV[i])
  if current then
    expiresAt = math.max(expiresAt, tonumber(string.sub(current, 1, string.find(current, ':', 1, true) - 1)))
  end
  redis.call('HSET', key, ARGV[i], expiresAt .. ':' .. token)
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
if missing > 0 then
  return 2
end
return 1
`,
  '546c860eb87d1b0af5cea54413571dad36c79271',
);

/** The layout of the hash whose entries a permit-extend call extends: a semaphore of `limit`, or a read-write lock. */
export type HashLayout = { readonly kind: 'semaphore'; readonly limit: number } | { readonly kind: 'read-write' };

/** The arguments of the permit-extend script after its key: `fields` of `token` to `ttlMs`, re-seeding them if `isReseeding`. */
export function permitExtendArgsOf(token: string, ttlMs: number, isReseeding: boolean, layout: HashLayout, fields: readonly string[]): string[] {
  return [token, String(ttlMs), isReseeding ? '1' : '0', layout.kind === 'semaphore' ? String(layout.limit) : 'rw', ...fields];
}

/** Parses the permit-extend script's reply, as the extend script's (`'missing'`: every entry of ours is gone there). */
export function parsePermitExtendReply(reply: unknown): ExtendStatus {
  return parseExtendReply(reply, 'permit-extend');
}
