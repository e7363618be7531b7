import { defineScript } from './lua-script.js';

/** Where a node wakes a waiting process: this prefix and its queue member (see {@link WAKE_QUEUE_LUA}). */
export const WAKE_CHANNEL_PREFIX = 'redlock:wake:';
export const wakeChannelOf = (member: string): string => WAKE_CHANNEL_PREFIX + member;

/**
 * What a lock key reserved for a waiting process holds before its member: `~`, which no lock token contains
 * (tokens are base64url), so no holder's release or extension ever matches a reservation.
 */
export const RESERVED_PREFIX = '~';

/** How long a wait queue outlives its latest refusal on a node, in milliseconds: its members' processes may be gone. */
export const WAIT_QUEUE_TTL_MS = 60_000;

/**
 * Lua shared by the scripts that admit or release a holder: the wait queue of a resource key, a sorted set
 * beside it (`<key>:w` if the key has a hash tag, else `{<key>}:w`: the key's cluster slot; none for a key
 * with a `}` outside a tag) of waiting processes' members (`<wake id of a Redlock>.<its queue>`). A waiting
 * call sends a ticket, `<since>:<member>`, `since` when it began to queue by its wall clock (ms): every node
 * orders the same waiters alike, so a release wakes the same process on every node. All under `redis.pcall`:
 * a user the ACL denies the queues or the channels still takes and releases holds, and waits on timers.
 * - `joinQueue(key, ticket, isFirst)`: a refused waiter queues at its `since`, or first (an intent holder, or a
 *   lock's waiter close to giving up, whose ticket's `since` is minus the milliseconds to reserve for it);
 * - `leaveQueue(key, ticket)`: a waiter granted, or a releaser, leaves;
 * - `wakeNext(key, count, canReserve)`: publishes on the channels of the first members until `count` of
 *   them heard (a negative count: all); a member nobody hears (its process gave up), or that the ACL denies
 *   the channel, is dropped. A member heard keeps its place until it is granted or passes the wake on, so
 *   every node keeps the same order and a release wakes the same process on every node, even after a woken
 *   attempt that asked one node alone. (Popped, the nodes' queues drifted apart and a release woke up to 5
 *   processes.) With `canReserve`, a member woken
 *   whose score is negative (a lock's waiter close to giving up) has the free key reserved for it, as
 *   `~<member>` for minus its score in milliseconds: only that member's acquire script takes it then, so a
 *   holder that takes the lock back at once cannot starve it (see `RESERVED_PREFIX`).
 */
export const WAKE_QUEUE_LUA = `local function queueOf(key)
  local open = string.find(key, '{', 1, true)
  local close = open and string.find(key, '}', open + 1, true)
  if close ~= nil and close > open + 1 then
    return key .. ':w'
  end
  if key == '' or string.find(key, '}', 1, true) ~= nil then
    return nil
  end
  return '{' .. key .. '}:w'
end
local function memberOf(ticket)
  local since, member = string.match(ticket or '', '^(-?%d+):(.+)$')
  return since, member or ticket or ''
end
local function joinQueue(key, ticket, isFirst)
  local queue = queueOf(key)
  local since, member = memberOf(ticket)
  if member == '' or since == nil or queue == nil then
    return
  end
  if isFirst then
    since = 0
  end
  if isFirst or tonumber(since) < 0 then
    redis.pcall('ZREM', queue, member)
  end
  redis.pcall('ZADD', queue, 'NX', since, member)
  redis.pcall('PEXPIRE', queue, ${WAIT_QUEUE_TTL_MS})
end
local function leaveQueue(key, ticket)
  local queue = queueOf(key)
  local _, member = memberOf(ticket)
  if member ~= '' and queue ~= nil then
    redis.pcall('ZREM', queue, member)
  end
end
local function wakeNext(key, count, canReserve)
  local queue = queueOf(key)
  local at = 0
  while queue ~= nil and count ~= 0 do
    local range = redis.pcall('ZRANGE', queue, at, at, 'WITHSCORES')
    local head = type(range) == 'table' and range[1]
    if type(head) ~= 'string' then
      return
    end
    local heard = redis.pcall('PUBLISH', '${WAKE_CHANNEL_PREFIX}' .. head, '1')
    if type(heard) ~= 'number' then
      -- Refused (an ACL without the channel): the member cannot hear from here; it leaves, and the wake counts.
      redis.pcall('ZREM', queue, head)
      count = count - 1
    elseif heard == 0 then
      redis.pcall('ZREM', queue, head)
    else
      local reserveMs = -(tonumber(range[2]) or 0)
      if canReserve and reserveMs > 0 then
        redis.call('SET', key, '${RESERVED_PREFIX}' .. head, 'PX', reserveMs, 'NX')
      end
      count = count - 1
      at = at + 1
    end
  end
end`;

/** Passes on a wake that reached a `Redlock` with no waiter left on that queue (see `MemberWakes`). */
export const passWakeScript = defineScript(
  'pass-wake',
  /* lua */ `
--[[ Passes a wake on: member ARGV[1] leaves the wait queue of each key, gives up a reservation of the key
     made for it, and the next member of each is woken.
     KEYS[1..n] resource keys   ARGV[1] the member (or its ticket) that was woken and waits no more
     Returns 1. ]]
${WAKE_QUEUE_LUA}
local _, member = memberOf(ARGV[1])
for i = 1, #KEYS do
  leaveQueue(KEYS[i], ARGV[1])
  if member ~= '' and redis.pcall('GET', KEYS[i]) == '${RESERVED_PREFIX}' .. member then
    redis.call('DEL', KEYS[i])
  end
  wakeNext(KEYS[i], 1, true)
end
return 1
`,
  '50221ac894c9082b97fc1eb33bc5d25e1aee62bc',
);

/** The ticket a waiting call sends for `member`, waiting since `sinceMs` on its wall clock (see {@link WAKE_QUEUE_LUA}). */
export function wakeTicketOf(member: string, sinceMs: number): string {
  return member === '' ? '' : `${Math.max(0, Math.floor(sinceMs))}:${member}`;
}

/**
 * A ticket's member and `since` (negative for an intent, see {@link intentTicketOf}), as `memberOf` reads
 * them in {@link WAKE_QUEUE_LUA}; a bare member (a pass-on's) has no `since`. For the in-memory nodes.
 */
export function ticketPartsOf(ticket: string): { readonly member: string; readonly since: number | undefined } {
  const match = /^(-?\d+):(.+)$/.exec(ticket);
  return match === null ? { member: ticket, since: undefined } : { member: match[2] as string, since: Number(match[1]) };
}

/**
 * The ticket of a lock's waiter close to giving up, for `member`: it queues first, and a release that wakes it
 * reserves the key for it for `reserveMs` (see {@link WAKE_QUEUE_LUA}).
 */
export function intentTicketOf(member: string, reserveMs: number): string {
  return member === '' ? '' : `-${Math.max(1, Math.ceil(reserveMs))}:${member}`;
}

/**
 * The queue member of a `Redlock`'s (`wakeId`) waiters on one set of resources (`queueId`): the wake id and
 * the queue id's 32-bit FNV-1a hash. Queues whose hashes collide share a channel: a wake wakes both.
 */
export function wakeMemberOf(wakeId: string, queueId: string): string {
  let hash = 0x811c9dc5;
  for (let index = 0; index < queueId.length; index += 1) hash = Math.imul(hash ^ queueId.charCodeAt(index), 0x01000193);
  return `${wakeId}.${(hash >>> 0).toString(36)}`;
}
