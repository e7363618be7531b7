import { indentedLua } from './lua-script.js';

/** Where a node wakes a waiting process: this prefix and its queue member (see {@link wakeWaitersLua}). */
export const WAKE_CHANNEL_PREFIX = 'redlock:wake:';
export const wakeChannelOf = (member: string): string => WAKE_CHANNEL_PREFIX + member;

/**
 * What a lock key reserved for a waiting process holds before its member: `~`, which no lock token contains
 * (tokens are base64url), so no holder's release or extension ever matches a reservation.
 */
export const RESERVED_PREFIX = '~';

/**
 * What the queue members of a `Redlock` that hears wakes through a pattern begin with (see
 * `RedisAdapter.subscribesByPattern`): `+`, which no wake id contains (they are base64url).
 */
export const BY_PATTERN_MARK = '+';

/** How long a wait queue outlives its latest refusal on a node, in milliseconds: its members' processes may be gone. */
export const WAIT_QUEUE_TTL_MS = 60_000;

/** A reservation's milliseconds are the score's fraction in these units: at most `RESERVE_UNITS - 1` ms. */
export const RESERVE_UNITS = 4_096;

/** Lua: `queueOf(key)`, the name of `key`'s wait queue (see {@link ticketLua}), `nil` for none. */
export const QUEUE_OF_LUA = `local function queueOf(key)
  ${/* The usual key has no brace: one search. */ ''}if not string.find(key, '[{}]') then
    return key ~= '' and '{' .. key .. '}:w' or nil
  end
  local open = string.find(key, '{', 1, true)
  local close = open and string.find(key, '}', open + 1, true)
  if close ~= nil and close > open + 1 then
    return key .. ':w'
  end
  if string.find(key, '}', 1, true) ~= nil then
    return nil
  end
  return '{' .. key .. '}:w'
end`;

/** Whether the nodes keep a wait queue for resource key `key`: {@link QUEUE_OF_LUA}'s rule, in TypeScript. */
export function hasWaitQueue(key: string): boolean {
  if (!/[{}]/.test(key)) return key !== '';
  const open = key.indexOf('{');
  if (open !== -1 && key.indexOf('}', open + 1) > open + 1) return true;
  return !key.includes('}');
}

/**
 * Lua: reads the queue ticket `ticket` (a Lua expression) into `ticketPlace` (its place: digits, `''` for a
 * ticket that asks for one, `nil` for none), `ticketFraction` (`'.<digits>'` or `''`) and `ticketMember`
 * (`''` for none), for {@link joinQueueLua} and {@link leaveQueueLua}.
 *
 * The Lua of the wait queues is written inline where a script runs it (this, those two, and
 * {@link wakeWaitersLua} in the scripts that release a holder), after {@link QUEUE_OF_LUA}, the one function
 * they make at every run: Lua makes a function anew each time the code that defines it runs, and the
 * functions a lock's acquire script made at every run cost a node some 6,800 instructions of a refused
 * acquire's 63,000. The wait queue of a resource key is a sorted set beside it (`<key>:w` if the key has a
 * hash tag, else `{<key>}:w`: the key's cluster slot; none for a key with a `}` outside a tag) of waiting
 * processes' members (`<wake id of a Redlock>.<its queue>`), scored by their places. No clock sets a place,
 * so a process whose clock runs ahead or behind waits its turn like any other. A waiting call's ticket is
 * `:<member>` until it has a place: a refusing node queues the member one place after its queue's last (or
 * keeps the place it has there: a process's member keeps the place of its earlier waiting call) and reports
 * that place. Once a quorum of nodes reported one, the ticket is `<place>:<member>` with the highest of them,
 * and every node that refuses it sets that place (see `QueueTicket`): so every node orders the same waiters
 * alike, and a release wakes the same process on every node. A waiter that queued on a quorum before another
 * asked any node has the lower place (a quorum of the later one's nodes includes one where the earlier one
 * was last), as in Lamport's bakery; two that ask at once are ordered by their members. A waiter close to
 * giving up adds, as the place's fraction, a node timeout in milliseconds over {@link RESERVE_UNITS}: its place
 * does not change, it keeps it when woken, and a lock's release reserves the lock for it that long. All under
 * `redis.pcall`: a user the ACL denies the queues or the channels still takes and releases holds, and waits
 * on timers.
 * - {@link joinQueueLua}: a refused waiter queues as its ticket says; with `isFirst` (an intent holder of a
 *   semaphore or a read-write lock) it queues first;
 * - {@link leaveQueueLua}: a waiter granted (a fair one only once it releases), or a releaser, leaves;
 * - `wake(key, queue, ticket, count, isLock)`, the release scripts': the releaser's member leaves (its lease too), then it
 *   publishes on the channels of the first members until `count` of them heard (a negative count: all), and returns the
 *   first member heard (`''` for none); a
 *   member nobody hears (its process gave up), or that the ACL denies the channel, is dropped. At a lock's
 *   release (`isLock`) a member heard keeps its place until it is granted or heard no more (its process stopped
 *   waiting), so every node keeps the same order and a release wakes the same process on every node, even
 *   after a woken attempt that asked one node alone (popped, the nodes' queues drifted apart and a release
 *   woke up to 5 processes); and a free key is reserved for a woken member that asked for it, as `~<member>`
 *   for the milliseconds it asked: only that member's acquire script takes it then, so a holder that takes the
 *   lock back at once cannot starve it (see `RESERVED_PREFIX`). Oldest first among those too: with equal
 *   places, members close to giving up would be ordered by name, and the last starve.
 *   A member counts as heard when its own channel has a subscriber (`PUBSUB NUMSUB`): a pattern subscriber
 *   (a GLIDE client's `redlock:wake:*`, or a tool's `PSUBSCRIBE *`) hears every wake on the node, and would
 *   keep a process that stopped waiting first, taking every wake there while the waiters behind it wait for
 *   their timers. A member of a process that listens through a pattern itself (marked
 *   {@link BY_PATTERN_MARK}) counts as heard when anyone heard, gets its reservation, and leaves the queue:
 *   a live one queues again at its place where it is refused next; one that stopped waiting costs one wake.
 *   A semaphore's or a read-write lock's release takes the members it wakes off the queue, but those close
 *   to giving up: a woken waiter that lost the race queues again where it is refused, and the next release
 *   wakes the next one (8 processes on a semaphore of 3: about 11 client commands per acquisition, against 13
 *   keeping them all).
 */
export const ticketLua = (ticket: string): string => `local ticketPlace, ticketFraction, ticketMember = string.match(${ticket}, '^(-?%d*)(%.?%d*):(.+)$')
ticketMember = ticketMember or ${ticket}`;

/**
 * Lua: the waiter of the ticket read by {@link ticketLua} joins the wait queue of `key`, first where `isFirst`
 * holds (both Lua expressions; none: never first), else at the ticket's place (see {@link ticketLua}): a
 * ticket without one keeps the member's place on this node, or takes the one after the queue's last. With
 * `placeVar` (a Lua local the script declared), the member's place where it is finite goes into it, the
 * highest of the keys'. The queue lives {@link WAIT_QUEUE_TTL_MS} after a new member joined; a member already
 * queued renews that only once half of it is gone: a PEXPIRE at every refusal cost a node about 8,500 of the
 * 63,000 instructions of a refused lock acquire, a PTTL 4,600.
 */
export const joinQueueLua = (key: string, isFirst?: string, placeVar?: string): string => `do
  local queue = ticketPlace and queueOf(${key})
  if queue then
    local current = tonumber(redis.pcall('ZSCORE', queue, ticketMember))
    local score = -math.huge
    if ${isFirst === undefined ? 'false' : isFirst} then
    elseif ticketPlace ~= '' then
      score = tonumber(ticketPlace .. ticketFraction)
    else
      local place = current and math.floor(current)
      if place == nil then
        local last = redis.pcall('ZRANGE', queue, -1, -1, 'WITHSCORES')
        place = math.floor(math.max(type(last) == 'table' and tonumber(last[2]) or 0, 0)) + 1
      end
      score = place + (tonumber('0' .. ticketFraction) or 0)
    end
    if current ~= score then
      redis.pcall('ZADD', queue, score, ticketMember)
    end${placeVar === undefined ? '' : `
    if score > -math.huge and score < math.huge then
      ${placeVar} = math.max(${placeVar} or 0, math.floor(score))
    end`}
    local queueTtlMs = current ~= nil and redis.pcall('PTTL', queue)
    if type(queueTtlMs) ~= 'number' or queueTtlMs < ${WAIT_QUEUE_TTL_MS / 2} then
      redis.pcall('PEXPIRE', queue, ${WAIT_QUEUE_TTL_MS})
    end
  end
end`;

/**
 * Lua: the member of the ticket read by {@link ticketLua} leaves the wait queue of `key` (a Lua expression), and
 * with `isFair` (a Lua expression) its lease (see {@link fairTurnLua}).
 */
export const leaveQueueLua = (key: string, isFair?: string): string => `if ticketMember ~= '' then
  local queue = queueOf(${key})
  if queue then
    redis.pcall('ZREM', queue, ticketMember)${isFair === undefined ? '' : `
    if ${isFair} then
      redis.pcall('HDEL', ${leasesOf('queue')}, ticketMember)
    end`}
  end
end`;

/**
 * Lua for a fair acquisition (`acquire(…, { fair: true })`) of a free `key`: sets `aheadOfUs` (a Lua local the
 * script declared) to the member of the first live waiter in `key`'s wait queue when it is not the ticket's
 * (see {@link ticketLua}): while one waits, the key goes to no one else. A waiter is live while its process is:
 * a fair waiter while its lease has not run out (see {@link renewLeaseLua}) and, if it listened for wakes, its
 * channel still has a subscriber (a process that exits closes its connections: skipped at once); any other
 * waiter (the default's) while its channel has a subscriber, as a release judges it, or if it listens through
 * a pattern, and with `leaseMs` (a Lua expression), a waiter without a lease only until one that long runs out
 * from the first time a fair call found it first at a free key: a default waiter woken there takes a free key at
 * once, so one that has not for that long has stopped (a process paused, or a machine gone, its connections
 * open), and held up the fair waiters behind it until the queue expired (60 s). The dead ones ahead are dropped
 * on the way, and the live one first then is woken: the key is free,
 * and it may be waiting for a release that already came, or have become first since its attempt (a waiter
 * ahead moved back to its place from a quorum, or a split's grants were removed, which wakes nobody: eight
 * waiters that split the nodes at their first attempts all waited for a timed retry, 240-250 ms). With
 * `wakesOnlyPastDead`, the live one first is woken only if dead ones were dropped ahead of it (see
 * scripts/hand-off.ts). Uses `nodeNow` (declared by the script).
 */
export const fairTurnLua = (key: string, wakesOnlyPastDead = false, leaseMs?: string): string => `do
  local queue = queueOf(${key})
  local leases = queue and ${leasesOf('queue')}${wakesOnlyPastDead ? `
  local hasDropped = false` : ''}
  while queue do
    local range = redis.pcall('ZRANGE', queue, 0, 0)
    local head = type(range) == 'table' and range[1]
    if type(head) ~= 'string' or head == ticketMember then
      break
    end
    local channel = '${WAKE_CHANNEL_PREFIX}' .. head
    local listeners = redis.pcall('PUBSUB', 'NUMSUB', channel)
    ${/* Denied PUBSUB, nobody can tell: it counts as listening; so does a process that listens through a pattern. */ ''}local isListening = type(listeners) ~= 'table' or (tonumber(listeners[2]) or 0) > 0 or string.sub(head, 1, 1) == '${BY_PATTERN_MARK}'
    local lease = redis.pcall('HGET', leases, head)
    local expiry, listens = string.match(type(lease) == 'string' and lease or '', '^(%d+):([01])$')
    local isLive
    if expiry then
${indentedLua(NODE_NOW_LUA, 3)}
      isLive = tonumber(expiry) > nodeNow and (listens == '0' or isListening)
    else
      isLive = isListening${leaseMs === undefined ? '' : `
      if isLive then
${indentedLua(NODE_NOW_LUA, 4)}
        redis.pcall('HSET', leases, head, (nodeNow + ${leaseMs}) .. ':1')
        redis.pcall('PEXPIRE', leases, ${WAIT_QUEUE_TTL_MS})
      end`}
    end
    if isLive then
      aheadOfUs = head${wakesOnlyPastDead ? `
      if hasDropped then
        redis.pcall('PUBLISH', channel, '1')
      end` : `
      redis.pcall('PUBLISH', channel, '1')`}
      break
    end
    redis.pcall('ZREM', queue, head)
    redis.pcall('HDEL', leases, head)${wakesOnlyPastDead ? `
    hasDropped = true` : ''}
  end
end`;

/**
 * Lua: the fair waiter of the ticket read by {@link ticketLua}, refused, renews its lease beside `key`'s wait
 * queue: it is live until `leaseMs` from now on the node's clock, and listens for wakes there if `listens` is
 * `'1'` (Lua expressions). The waiter says so once its subscription to this node is in place: a subscriber seen
 * on its channel could be its previous call's, about to go, and the gap before the next one is in place read
 * as a process gone. Uses `nodeNow` (declared by the script).
 */
export const renewLeaseLua = (key: string, leaseMs: string, listens: string): string => `do
  local queue = ticketMember ~= '' and queueOf(${key})
  if queue then
${indentedLua(NODE_NOW_LUA, 2)}
    local leases = ${leasesOf('queue')}
    redis.pcall('HSET', leases, ticketMember, (nodeNow + ${leaseMs}) .. ':' .. (${listens} == '1' and '1' or '0'))
    redis.pcall('PEXPIRE', leases, ${WAIT_QUEUE_TTL_MS})
  end
end`;

/** Lua: `<leases of queue>`, the name of the fair waiters' leases beside wait queue `queue` (a Lua expression: see {@link fairTurnLua}). */
const leasesOf = (queue: string): string => `string.sub(${queue}, 1, -2) .. 'l'`;

/** Lua: `nodeNow`, the node's clock in milliseconds, read once per script run (the script declares `local nodeNow`). */
const NODE_NOW_LUA = `if nodeNow == nil then
  local time = redis.call('TIME')
  nodeNow = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end`;

/**
 * Lua: sets `isLive` (a Lua local) to true where `member` of `queue` is a fair waiter that cannot hear wakes
 * (its lease says it polls) and its lease has not run out: it keeps its place while it keeps asking; and
 * `hasLease` (another) to whether it has a lease at all.
 */
const pollingLeaseLua = (queue: string, member: string, isLive: string, hasLease: string): string => `local lease = redis.pcall('HGET', ${leasesOf(queue)}, ${member})
${hasLease} = type(lease) == 'string'
local expiry, listens = string.match(${hasLease} and lease or '', '^(%d+):([01])$')
if listens == '0' then
  local time = redis.call('TIME')
  ${isLive} = tonumber(expiry) > tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end`;

/** `wake(key, queue, ticket, count, isLock)`: see {@link ticketLua}. */
const WAKE_LUA = `local function wake(key, queue, ticket, count, isLock)
  if ticket ~= '' then
${indentedLua(ticketLua('ticket'), 2)}
${indentedLua(leaveQueueLua('key', 'true'), 2)}
  end
  local at, firstHeard = 0, ''
  while count ~= 0 do
    local range = redis.pcall('ZRANGE', queue, at, at, 'WITHSCORES')
    local head = type(range) == 'table' and range[1]
    if type(head) ~= 'string' then
      return firstHeard
    end
    local channel = '${WAKE_CHANNEL_PREFIX}' .. head
    local heard = redis.pcall('PUBLISH', channel, '1')
    local byPattern = string.sub(head, 1, 1) == '${BY_PATTERN_MARK}'
    ${/* A pattern subscriber hears every wake: only the member's own channel shows whether its process waits. */ ''}if type(heard) == 'number' and heard > 0 and not byPattern then
      local listeners = redis.pcall('PUBSUB', 'NUMSUB', channel)
      if type(listeners) == 'table' then
        heard = tonumber(listeners[2]) or 0
      end
    end
    local isHeard = type(heard) == 'number' and heard > 0
    local hasLease = false
    if not isHeard and isLock and type(heard) == 'number' then
${indentedLua(pollingLeaseLua('queue', 'head', 'isHeard', 'hasLease'), 3)}
      ${/* A fair waiter that polls: it is next, and takes the lock at its next attempt; no one else is woken. */ ''}heard = isHeard and 1 or heard
    elseif byPattern and isLock then
      ${/* A fair waiter that listens through a pattern keeps its place, as any fair one: others are first without it. */ ''}hasLease = type(redis.pcall('HGET', ${leasesOf('queue')}, head)) == 'string'
    end
    local score = tonumber(range[2]) or 0
    local reserveMs = score > -math.huge and math.floor((score % 1) * ${RESERVE_UNITS} + 0.5) or 0
    if isHeard and isLock and reserveMs > 0 then
      redis.call('SET', key, '${RESERVED_PREFIX}' .. head, 'PX', reserveMs, 'NX')
    end
    if isHeard and (not byPattern or hasLease) and (isLock or reserveMs > 0) then
      at = at + 1
    else
      redis.pcall('ZREM', queue, head)
      if hasLease then
        redis.pcall('HDEL', ${leasesOf('queue')}, head)
      end
    end
    if isHeard and firstHeard == '' then
      firstHeard = head
    end
    ${/* Refused (an ACL without the channel), the member cannot hear from here: it leaves, and the wake counts. */ ''}if type(heard) ~= 'number' or heard > 0 then
      count = count - 1
    end
  end
  return firstHeard
end`;

/**
 * The wake of the scripts that release a holder: Lua that calls `wake(key, queue, ticket, count, isLock)` (see
 * {@link ticketLua}) where a release freed `key`, given as Lua expressions: the key, the releaser's
 * ticket, how many members to wake, and whether it is a lock's; after {@link QUEUE_OF_LUA}. A release
 * without a ticket first asks whether the queue exists (PTTL), and nearly every release of an uncontended
 * hold finds none: nothing more is made or run. A Lua function is made anew at each run of the code that
 * defines it, so `wake` is made only past that question (made at every run, with the read it was called
 * through, it cost a node some 2,200 more instructions per release, of 41,200 with the SET). A releaser with
 * a ticket (it waited) leaves first: a process that won by a plain SET is still queued, and would only wake
 * itself. With `heardVar` (a Lua local the script declared, `''` until then), it sets the first member heard, if none was yet.
 */
export function wakeWaitersLua(key: string, ticket: string, count: string, isLock: boolean, heardVar?: string): string {
  const call = `wake(${key}, queue, ${ticket}, ${count}, ${isLock ? 'true' : 'false'})`;
  return `local queue = queueOf(${key})
${/* A PTTL costs a node about a fifth of what a ZRANGE does, and an ACL that allows the lock's commands
   allows it (an error reply, if not, goes on to the ZRANGE). */ ''}if queue ~= nil and (${ticket} ~= '' or redis.pcall('PTTL', queue) ~= -2) then
${indentedLua(WAKE_LUA)}
  ${heardVar === undefined ? call : `local heardHere = ${call}
  if ${heardVar} == '' then
    ${heardVar} = heardHere
  end`}
end`;
}

/**
 * The ticket a waiting call sends for `member`: at `place` once it has one, else asking the nodes for one (see
 * {@link ticketLua}); with `reserveMs` (a waiter close to giving up), keeping its place when woken, and asking
 * a lock's release that wakes it to reserve the key for it that long, at most 4,095 ms (see {@link wakeWaitersLua}).
 */
export function wakeTicketOf(member: string, place: number | undefined, reserveMs = 0): string {
  if (member === '') return '';
  const reserve = Math.min(RESERVE_UNITS - 1, Math.max(0, Math.ceil(reserveMs))) / RESERVE_UNITS;
  if (place !== undefined) return `${place + reserve}:${member}`;
  return `${reserve > 0 ? String(reserve).slice(1) : ''}:${member}`;
}

/**
 * A ticket's member, place and reservation in milliseconds, as {@link ticketLua} reads them: the place is
 * `'next'` for a ticket that asks for one, `undefined` for a bare member. For the in-memory nodes.
 */
export function ticketPartsOf(ticket: string): { readonly member: string; readonly place: number | 'next' | undefined; readonly reserveMs: number } {
  const match = /^(-?\d*)(\.?\d*):(.+)$/.exec(ticket);
  if (match === null) return { member: ticket, place: undefined, reserveMs: 0 };
  const [, place, fraction, member] = match as unknown as [string, string, string, string];
  const score = Number(`0${fraction}`);
  return { member, place: place === '' ? 'next' : Number(place), reserveMs: reserveMsOf(score) };
}

/**
 * The place a node reported in `reply` (see {@link joinQueueLua}), else `undefined`: a refusal's `{0, place}`,
 * or a fair grant's `{1, counter, place}` (see the acquire script).
 */
export function queuePlaceOf(reply: unknown): number | undefined {
  if (!Array.isArray(reply)) return undefined;
  const isPlaced = reply[0] === 0 ? reply.length === 2 : reply[0] === 1 && reply.length === 3;
  if (!isPlaced) return undefined;
  const place: unknown = reply[reply.length - 1];
  return typeof place === 'number' && Number.isSafeInteger(place) && place > 0 ? place : undefined;
}

/** The milliseconds a queue score asks to reserve for its member: its fraction, in {@link RESERVE_UNITS}. */
export function reserveMsOf(score: number): number {
  return Number.isFinite(score) ? Math.round((score - Math.floor(score)) * RESERVE_UNITS) : 0;
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
