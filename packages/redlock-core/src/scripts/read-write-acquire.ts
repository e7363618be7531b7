import type { ReadWriteAcquireStatus } from '../base/outcomes.js';
import { defineScript, indentedLua, isInsideRestartGraceLua, unexpectedReply } from './lua-script.js';
import { joinQueueLua, leaveQueueLua, QUEUE_OF_LUA, ticketLua } from './wake-queue.js';

/**
 * The layout, written once for the read-write scripts. A read-write lock is held as a Redlock lock is,
 * with a compatibility rule: a reader holds it on a quorum of nodes where no writer held it, the writer on a
 * quorum where no reader and no other writer held it, and any two quorums share a node, whose script
 * admits a writer only beside no one. On each node the lock is one hash at the resource key: field `rw`
 * (`1`) marks it as a read-write lock, `w` holds the writer as `<expiry on the node's clock, ms>:<token>`,
 * `r:<token>` each reader the same way, and `i` a waiting writer's intent, `<expiry>:<intent id>`: a
 * writer that finds readers there leaves it, and new readers are refused while it lives (until the
 * writer's next attempt can have come: see `writerIntentOf`), so a stream of readers cannot starve a
 * writer. The key lives as long as its longest entry. A lock or a semaphore on the same resource holds
 * another type or a hash without `rw`, and each finds the other foreign; so is any hash that does not keep
 * this layout (see {@link READ_WRITE_LAYOUT_LUA}).
 */
/**
 * Lua: `isReadWriteHash(key, all)`, whether the hash at `key`, whose fields and values are `all` (as HGETALL lists
 * them), keeps a read-write lock's layout: a TTL (every script that writes it sets one), `rw` set to `1`, and every
 * other field `w`, `i` or `r:<token>`, holding `<expiry>:<holder>`. Anything else is someone else's hash, which no
 * read-write script may change, and which must not fail a script that reads it.
 */
export const READ_WRITE_LAYOUT_LUA = `local function isReadWriteHash(key, all)
  if redis.call('PTTL', key) < 0 then
    return false
  end
  local isMarked = false
  for i = 1, #all, 2 do
    local field, value = all[i], all[i + 1]
    if field == 'rw' then
      isMarked = value == '1'
    elseif (field ~= 'w' and field ~= 'i' and string.sub(field, 1, 2) ~= 'r:') or string.match(value, '^%d+:.') == nil then
      return false
    end
  end
  return isMarked
end`;

/**
 * Takes the read-write lock at KEYS[1] for a reader (ARGV[3] 'read') or the writer (ARGV[3] 'write').
 * Entries expired by this node's clock do not count, so a holder that crashed frees the lock when its
 * TTL runs out. A reader is admitted unless a writer holds the lock or a writer's intent lives there; the
 * writer unless a writer or a reader holds it. A writer refused because readers hold it leaves its intent
 * (ARGV[5], one id for every attempt of one acquisition; '' for a single try, which leaves none) for
 * ARGV[6] milliseconds, unless another writer's intent lives there; once admitted it removes its own
 * intent. A waiting call sends its queue ticket (ARGV[7]): refused because others hold the lock, it joins the
 * key's wait queue, and admitted, it leaves it (see wake-queue.ts). Atomic.
 * KEYS[1] resource key   ARGV[1] token   ARGV[2] TTL in milliseconds   ARGV[3] 'read' or 'write'
 * ARGV[4] restart grace in milliseconds, '0' for none   ARGV[5] the writer's intent id ('' for a reader)
 * ARGV[6] how long the intent lives, in milliseconds   ARGV[7] the queue ticket, or ''
 * Returns 1 if admitted (a re-sent call finds its own entry and is admitted again), 0 if a writer holds
 * the lock, 2 (to a writer) if readers hold it, 3 (to a reader) if a writer waits for it, -1 if the node
 * is inside its restart grace, -2 if the key is not a read-write lock (nothing changed).
 */
export const readWriteAcquireScript = defineScript(
  'read-write-acquire',
  /* lua */ `
${READ_WRITE_LAYOUT_LUA}
${QUEUE_OF_LUA}
local key, token, ttlMs, mode = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3]
local restartGraceMs, intent, intentTtlMs = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
${ticketLua("ARGV[7] or ''")}
local keyType = redis.call('TYPE', key)['ok']
if keyType ~= 'none' and keyType ~= 'hash' then
  return -2
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local writer, readers, waiting, isOurIntent = false, false, false, false
local expired = {}
if keyType == 'hash' then
  local all = redis.call('HGETALL', key)
  if not isReadWriteHash(key, all) then
    return -2
  end
  for i = 1, #all, 2 do
    local field, value = all[i], all[i + 1]
    local colon = string.find(value, ':', 1, true)
    if field ~= 'rw' then
      local holder = string.sub(value, colon + 1)
      if tonumber(string.sub(value, 1, colon - 1)) <= now then
        expired[#expired + 1] = field
      elseif holder == token then
${indentedLua(leaveQueueLua('key'), 4)}
        return 1
      elseif field == 'w' then
        writer = true
      elseif field == 'i' then
        if holder == intent then
          isOurIntent = true
        else
          waiting = true
        end
      else
        readers = true
      end
    end
  end
end
if writer then
${indentedLua(joinQueueLua('key'))}
  return 0
end
if mode == 'read' and waiting then
${indentedLua(joinQueueLua('key'))}
  return 3
end
if mode == 'write' and readers then
${indentedLua(joinQueueLua('key'))}
  if not waiting and intent ~= '' then
    redis.call('HSET', key, 'i', (now + intentTtlMs) .. ':' .. intent)
    if redis.call('PTTL', key) < intentTtlMs then
      redis.call('PEXPIRE', key, intentTtlMs)
    end
  end
  return 2
end
if ${isInsideRestartGraceLua('restartGraceMs')} then
  return -1
end
local field = 'w'
if mode == 'read' then
  field = 'r:' .. token
end
${/* Expired entries go first: the writer's own field may hold an expired writer's entry. */ ''}for i = 1, #expired do
  redis.call('HDEL', key, expired[i])
end
redis.call('HSET', key, 'rw', '1', field, (now + ttlMs) .. ':' .. token)
if isOurIntent then
  redis.call('HDEL', key, 'i')
end
if redis.call('PTTL', key) < ttlMs then
  redis.call('PEXPIRE', key, ttlMs)
end
${indentedLua(leaveQueueLua('key'))}
return 1
`,
  'b95672147cef9c241ba233ec91768721501c5423',
);

/** Whether a read-write lock is taken for reading (shared) or writing (exclusive). */
export type ReadWriteMode = 'read' | 'write';

/** The hash field a holder's entry is kept in on every node (see `readWriteAcquireScript`). */
export function readWriteFieldOf(mode: ReadWriteMode, token: string): string {
  return mode === 'write' ? 'w' : `r:${token}`;
}

/** A waiting writer's intent: one id for every attempt of one acquisition, and how long it lives on a node. */
export interface WriterIntent { readonly id: string; readonly ttlMs: number }

/** What a reader or a single try leaves: no intent. */
export const NO_INTENT: WriterIntent = { id: '', ttlMs: 0 };

/**
 * The intent of a writer that waits for readers with a lock of `ttlMs` and retries `retryDelayMs` ±
 * `retryJitterMs` apart: it lives for the TTL plus the longest pause between attempts, so that the next
 * timed attempt finds it still keeping new readers out (an attempt takes less than a node timeout, which is
 * less than the TTL); with a TTL shorter than the pause, readers slipped in between attempts for ever.
 */
export function writerIntentOf(id: string, ttlMs: number, retryDelayMs: number, retryJitterMs: number): WriterIntent {
  return { id, ttlMs: Math.min(MAX_INTENT_TTL_MS, ttlMs + retryDelayMs + retryJitterMs) };
}

/** The longest an intent lives, in milliseconds: the longest TTL, 2³¹ − 1 (its expiry stays exact in Lua's numbers). */
const MAX_INTENT_TTL_MS = 2 ** 31 - 1;

/** The arguments of the read-write-acquire script after its key; `ticket` is a waiting call's queue ticket (see wake-queue.ts), or `''`. */
export function readWriteAcquireArgsOf(token: string, ttlMs: number, mode: ReadWriteMode, restartGraceMs: number, intent: WriterIntent, ticket: string): string[] {
  return [token, String(ttlMs), mode, String(restartGraceMs), intent.id, String(intent.ttlMs), ticket];
}

/** Parses the read-write-acquire script's reply. */
export function parseReadWriteAcquireReply(reply: unknown): ReadWriteAcquireStatus {
  if (reply === 1) return 'admitted';
  if (reply === 0) return 'writer-holds';
  if (reply === 2) return 'readers-hold';
  if (reply === 3) return 'writer-waiting';
  if (reply === -1) return 'restarting';
  if (reply === -2) return 'foreign';
  throw unexpectedReply('read-write-acquire', reply);
}
