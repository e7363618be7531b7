import type { PermitAcquireStatus } from '../base/outcomes.js';
import { createLockToken } from '../base/token.js';
import { defineScript, indentedLua, isInsideRestartGraceLua, unexpectedReply } from './lua-script.js';
import { joinQueueLua, leaveQueueLua, QUEUE_OF_LUA, ticketLua } from './wake-queue.js';
import { NO_INTENT, type WriterIntent, writerIntentOf } from './read-write-acquire.js';

/**
 * The most permits a semaphore may have: a node's script reads every slot of the semaphore on each call,
 * so one call's cost on a node grows with the limit.
 */
export const MAX_PERMIT_LIMIT = 1_000;

/**
 * The layout, written once for the three permit scripts. A semaphore of limit L is L slots, each a mutex
 * held as a Redlock lock is held: a holder of k permits holds k slots, each on a quorum of nodes, so no
 * more than L holders can have validity at once (a count per node would not do: with a quorum of 3 of 5
 * nodes, 5 holders of a limit of 3 can each find 3 nodes with room). On each node the semaphore is one
 * hash at the resource key: field `limit` holds L, every client of the resource must agree on it, and
 * field `<slot>` (1 to L) holds `<expiry on the node's clock, ms>:<token>` while taken. Field `i` holds a
 * waiting request's intent, `<expiry>:<intent id>`, the id naming its permits (`<k>:<random>`): a request
 * for k > 1 permits that finds too few free leaves it, and while it lives (until the request's next
 * attempt can have come: see `permitIntentOf`) another request is admitted only where it leaves k slots
 * free, so a stream of 1-permit holders cannot starve it (k free at once would otherwise rarely be seen).
 * The key lives as long as its longest live entry: taking slots or leaving an intent lengthens it, an
 * extension (permit-extend.ts) and a release (permit-release.ts) set it to the longest entry still live,
 * and a release removes it with the last. A lock on the same resource is a string at the same key, so
 * each finds the other foreign and neither can overcommit the other; so is any hash that does not keep
 * this layout (see {@link SEMAPHORE_LAYOUT_LUA}).
 */
/**
 * Lua: `isSemaphoreHash(key, all)`, the TTL in ms (a true value) of the hash at `key`, whose fields and values are
 * `all` (as HGETALL lists them), if it keeps a semaphore's layout, else `false`. The layout: a TTL (every script
 * that writes it sets one), a positive integer `limit`, field `i` (if there) holding `<expiry>:<permits>:<random>`,
 * and every other field a slot from 1 to the limit holding `<expiry>:<token>`. Anything else is someone else's
 * hash (a user's, with a `limit` field of its own): no permit script may change it or fail on reading it.
 */
export const SEMAPHORE_LAYOUT_LUA = `local function isSemaphoreHash(key, all)
  local ttlMs = redis.call('PTTL', key)
  if ttlMs < 0 then
    return false
  end
  local limit = nil
  for i = 1, #all, 2 do
    if all[i] == 'limit' then
      limit = tonumber(all[i + 1])
    end
  end
  if limit == nil or limit < 1 or limit % 1 ~= 0 then
    return false
  end
  for i = 1, #all, 2 do
    local field = all[i]
    if field == 'i' then
      if string.match(all[i + 1], '^%d+:%d+:.') == nil then
        return false
      end
    elseif field ~= 'limit' then
      ${/* A slot in canonical form: digits without a leading zero (what tostring would write), at most the limit. */ ''}if string.find(field, '^[1-9]%d*$') == nil or tonumber(field) > limit or string.find(all[i + 1], '^%d+:.') == nil then
        return false
      end
    end
  end
  return ttlMs
end`;

/**
 * Takes ARGV[3] free slots of the semaphore at KEYS[1] for a holder, all or none, and reports the slots
 * still free. With ARGV[6] > 0, it looks at the slots in the order ARGV[6], ARGV[6]+1, ... (wrapping
 * around): nodes that see the same slots free take the same ones, and the holder needs a quorum of
 * nodes that gave the same slots. With ARGV[6] = 0 it takes exactly the slots ARGV[10..], where every
 * one of them is free or already ours, and frees our other slots: the second round of an attempt whose
 * nodes gave different slots, asking for slots the answers showed free on a quorum. A slot is free when
 * missing or expired by this node's clock, so a holder that crashed frees its slots when their TTL runs
 * out. While another request's intent lives there (field 'i', for k permits), a request is admitted
 * only if it leaves k slots free. A request refused for want of free slots leaves its intent (ARGV[7],
 * one id for every attempt of one acquisition; '' for none: a request for 1 permit or a single try) for
 * ARGV[8] milliseconds, or refreshes it, unless another request's intent lives there; once admitted it
 * removes its own intent. A waiting request sends its queue ticket (ARGV[9]): refused, it joins the key's
 * wait queue (first while its intent lives there: the others make room for it), and admitted, it leaves
 * it (see wake-queue.ts).
 * Atomic, so two holders cannot take one slot. A semaphore whose recorded limit differs is refused with
 * that limit. A key that is not a semaphore (a lock, another type, a hash that does not keep the
 * layout) is foreign, left alone.
 * KEYS[1] resource key   ARGV[1] token   ARGV[2] TTL in milliseconds   ARGV[3] permits   ARGV[4] limit
 * ARGV[5] restart grace in milliseconds, '0' for none   ARGV[6] the first slot to look at, 1 to limit,
 * or 0   ARGV[7] the request's intent id, '<ARGV[3]>:<random>' (any other is ignored), or ''
 * ARGV[8] how long the intent lives, in milliseconds   ARGV[9] the queue ticket, or ''
 * ARGV[10..] with 0, the slots to take
 * Returns {1, n, slot 1, ..., slot n, free slot, ...} with the n slots now ours (a re-sent first call
 * gets those it took) and the slots still free; {0, free slot, ...} when too few are free, or just {0}
 * when another request's intent keeps them (nothing changed but our intent, left or refreshed, and our
 * place in the queue); -1 if
 * the node is inside its restart grace, -2 if the key is foreign, {-3, limit} for a semaphore of another
 * limit (nothing changed in these cases).
 */
export const permitAcquireScript = defineScript(
  'permit-acquire',
  /* lua */ `
${SEMAPHORE_LAYOUT_LUA}
${QUEUE_OF_LUA}
local key, token = KEYS[1], ARGV[1]
${ticketLua("ARGV[9] or ''")}
local ttlMs, permits, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local restartGraceMs, first = tonumber(ARGV[5]), tonumber(ARGV[6])
local intent, intentTtlMs = ARGV[7], tonumber(ARGV[8])
${/* The intent's entry names its permits, which others keep free: an id that names others would lie. */ ''}if intent ~= '' and string.match(intent, '^(%d+):.') ~= tostring(permits) then
  intent = ''
end
local keyType = redis.call('TYPE', key)['ok']
if keyType ~= 'none' and keyType ~= 'hash' then
  return -2
end
${/* By field, and the slots' by number; the key's TTL, in milliseconds. */ ''}local fields, bySlot, keyTtlMs = {}, {}, -1
if keyType == 'hash' then
  local all = redis.call('HGETALL', key)
  keyTtlMs = isSemaphoreHash(key, all)
  if not keyTtlMs then
    return -2
  end
  for i = 1, #all, 2 do
    fields[all[i]] = all[i + 1]
    local slot = tonumber(all[i])
    if slot ~= nil then
      bySlot[slot] = all[i + 1]
    end
  end
  if tonumber(fields['limit']) ~= limit then
    return {-3, tonumber(fields['limit'])}
  end
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
${/* By slot: 'ours', 'free' (missing or expired), or nil (another holder's). */ ''}local stateOf, ours = {}, {}
for slot = 1, limit do
  local value = bySlot[slot]
  if value == nil then
    stateOf[slot] = 'free'
  else
    local colon = string.find(value, ':', 1, true)
    if string.sub(value, colon + 1) == token then
      stateOf[slot] = 'ours'
      ours[#ours + 1] = slot
    elseif tonumber(string.sub(value, 1, colon - 1)) <= now then
      stateOf[slot] = 'free'
    end
  end
end
${/* A live intent: ours, or another request's, which keeps its permits' worth of slots free. */ ''}local isOurIntent, kept = false, 0
if fields['i'] ~= nil then
  local expiresAt, waiting = string.match(fields['i'], '^(%d+):(%d+):')
  if tonumber(expiresAt) > now then
    if intent ~= '' and string.sub(fields['i'], #expiresAt + 2) == intent then
      isOurIntent = true
    else
      kept = tonumber(waiting)
    end
  end
end
${/* A re-sent first call gets the slots it took; otherwise the slots to take, in order. */ ''}local isResent = first > 0 and #ours > 0
local wanted = {}
if isResent then
  wanted = ours
elseif first > 0 then
  for step = 0, limit - 1 do
    local slot = (first - 1 + step) % limit + 1
    if stateOf[slot] == 'free' and #wanted < permits then
      wanted[#wanted + 1] = slot
    end
  end
else
  for i = 10, #ARGV do
    local slot = tonumber(ARGV[i])
    if stateOf[slot] ~= nil then
      wanted[#wanted + 1] = slot
    end
  end
end
local isWanted = {}
for i = 1, #wanted do
  isWanted[wanted[i]] = true
end
${/* The slots free once we take ours (our other slots are freed): another's intent keeps that many. */ ''}local freeAfter = 0
for slot = 1, limit do
  if stateOf[slot] ~= nil and not isWanted[slot] then
    freeAfter = freeAfter + 1
  end
end
if #wanted < permits or (not isResent and freeAfter < kept) then
  local isIntentKept = intent ~= '' and kept == 0 and keyType == 'hash'
  if isIntentKept then
    redis.call('HSET', key, 'i', (now + intentTtlMs) .. ':' .. intent)
    if keyTtlMs < intentTtlMs then
      redis.call('PEXPIRE', key, intentTtlMs)
    end
  end
${indentedLua(joinQueueLua('key', 'isIntentKept'))}
  local reply = {0}
  for slot = 1, limit do
    if stateOf[slot] == 'free' and kept == 0 then
      reply[#reply + 1] = slot
    end
  end
  return reply
end
if not isResent then
  if ${isInsideRestartGraceLua('restartGraceMs')} then
    return -1
  end
  ${/* One HSET: the limit of a new semaphore (a hash holds it already), and our slots. */ ''}local value, entries = (now + ttlMs) .. ':' .. token, keyType == 'hash' and {} or {'limit', limit}
  for i = 1, #wanted do
    entries[#entries + 1] = wanted[i]
    entries[#entries + 1] = value
  end
  redis.call('HSET', key, unpack(entries))
  for i = 1, #ours do
    if not isWanted[ours[i]] then
      redis.call('HDEL', key, ours[i])
      stateOf[ours[i]] = 'free'
    end
  end
  if isOurIntent then
    redis.call('HDEL', key, 'i')
  end
  if keyTtlMs < ttlMs then
    redis.call('PEXPIRE', key, ttlMs)
  end
${indentedLua(leaveQueueLua('key'))}
end
local reply = {1, #wanted}
for i = 1, #wanted do
  reply[#reply + 1] = wanted[i]
end
for slot = 1, limit do
  if stateOf[slot] == 'free' and not isWanted[slot] then
    reply[#reply + 1] = slot
  end
end
return reply
`,
  '9112d3da69398709e12f10e4ed151f1f61885b10',
);

/**
 * The arguments of the permit-acquire script after its key: from `firstSlot` on, or with `slots`, exactly
 * those (the second round of an attempt); `intent` is left, and `ticket` queued, where too few slots are free.
 */
export function permitAcquireArgsOf(
  token: string,
  ttlMs: number,
  permits: number,
  limit: number,
  restartGraceMs: number,
  firstSlot: number,
  intent: WriterIntent,
  ticket: string,
  slots: readonly number[] = [],
): string[] {
  return [token, String(ttlMs), String(permits), String(limit), String(restartGraceMs), String(firstSlot), intent.id, String(intent.ttlMs), ticket, ...slots.map(String)];
}

/**
 * The intent of a request for `permits` permits that waits for free slots, made as a writer's (see
 * `writerIntentOf`: it lives until the next timed attempt can have come), with a fresh id that names the
 * permits, `<permits>:<random>`, as its entry must (see `permitAcquireScript`). A request for 1 permit
 * leaves none: it needs one slot free at once, which every release gives.
 */
export function permitIntentOf(permits: number, ttlMs: number, retryDelayMs: number, retryJitterMs: number): WriterIntent {
  return permits > 1 ? writerIntentOf(`${permits}:${createLockToken()}`, ttlMs, retryDelayMs, retryJitterMs) : NO_INTENT;
}

/**
 * What a node answered: the slots it gave when it admitted, the slots still free there (when it admitted or
 * had too few free: see {@link freeSlotsOf}), or the limit it holds the semaphore with.
 */
export interface PermitAcquireReply {
  readonly status: PermitAcquireStatus;
  readonly slots?: readonly number[];
  /** The reply itself, whose items from {@link freeFrom} on are the slots still free there. */
  readonly reply?: readonly unknown[];
  readonly freeFrom?: number;
  readonly recordedLimit?: number;
}

/**
 * The slots still free on the node that answered `answer`, read from its reply only when asked: a second
 * round's plan asks, the usual admission never does (copying them cost a semaphore's acquire+release some
 * 1,500 of its 53,000 instructions).
 */
export function freeSlotsOf(answer: Pick<PermitAcquireReply, 'reply' | 'freeFrom'>): readonly number[] {
  const { reply, freeFrom } = answer;
  return reply === undefined || freeFrom === undefined ? NO_SLOTS : slotsIn(reply, freeFrom, reply.length);
}

/** Parses the permit-acquire script's reply; `limit` bounds the slots a node may name. */
export function parsePermitAcquireReply(reply: unknown, permits: number, limit: number): PermitAcquireReply {
  if (reply === -1) return { status: 'restarting' };
  if (reply === -2) return { status: 'foreign' };
  if (Array.isArray(reply)) {
    // Indexed, not destructured: destructuring runs the array's iterator.
    const code: unknown = reply[0];
    const first: unknown = reply[1];
    if (code === -3 && reply.length === 2 && Number.isInteger(first) && (first as number) > 0) return { status: 'other-limit', recordedLimit: first as number };
    if (code === 0 && areSlots(reply, 1, limit)) return { status: 'full', reply, freeFrom: 1 };
    if (code === 1 && first === permits && areSlots(reply, 2, limit)) return { status: 'admitted', slots: slotsIn(reply, 2, 2 + permits), reply, freeFrom: 2 + permits };
  }
  throw unexpectedReply('permit-acquire', reply);
}

/** No slots: what a node that gave none answers with, one array for every such answer. */
export const NO_SLOTS: readonly number[] = [];

/**
 * The items of `reply` from `start` to `end`, which {@link areSlots} found to be slots, in an array of small
 * integers: one slot, the usual, as an array literal, which is cheaper than `slice()` (a builtin call that
 * copies the reply's own element kind) and than `push()` into an empty array (its first growth).
 */
function slotsIn(reply: readonly unknown[], start: number, end: number): number[] {
  if (end - start === 1) return [reply[start] as number];
  const slots: number[] = [];
  for (let index = start; index < end; index += 1) slots.push(reply[index] as number);
  return slots;
}

/** By slot, whether {@link areSlots} saw it in the reply it reads: all zero between its calls. */
const seenSlots = new Uint8Array(MAX_PERMIT_LIMIT + 1);

/** Whether the items of `reply` from `start` on are distinct slots of a semaphore of `limit`. */
function areSlots(reply: readonly unknown[], start: number, limit: number): boolean {
  let end = start;
  for (; end < reply.length; end += 1) {
    const slot = reply[end];
    if (!Number.isInteger(slot) || (slot as number) < 1 || (slot as number) > limit || seenSlots[slot as number] === 1) break;
    seenSlots[slot as number] = 1;
  }
  for (let index = start; index < end; index += 1) seenSlots[reply[index] as number] = 0;
  return end === reply.length;
}
