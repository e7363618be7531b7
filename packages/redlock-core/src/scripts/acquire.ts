import type { RedisAdapter } from '../base/adapter.js';
import type { RenewableCall, ReplyReader } from './reply-reader.js';
import { defineScript, errorMessageOf, indentedLua, isInsideRestartGraceLua, onNoScriptOf, readKeyLua, runScript, unexpectedReply } from './lua-script.js';
import { fairTurnLua, joinQueueLua, leaveQueueLua, QUEUE_OF_LUA, queuePlaceOf, renewLeaseLua, RESERVED_PREFIX, ticketLua } from './wake-queue.js';

/** What one node answered to an acquisition, by the script or by a plain SET. */
export type AcquireStatus = 'acquired' | 'held' | 'restarting' | 'foreign';

/**
 * Sets every resource key to our token, but only if none of them holds another owner's token: all
 * or nothing, so a multi-resource lock is never half-taken on a node. Atomic, so no other owner can slip in
 * between the check and the set. Keys that already hold our token count as granted: the script ran
 * before for this attempt (a client re-sent it after a reconnect), so the attempt counts the node and
 * cleans it up like any other.
 * A key that is neither missing nor ours is another owner's lock only if it is a string with a TTL, as
 * every lock key is; anything else (another type, a string without TTL) is not a lock and never goes
 * away by itself, so it is reported as foreign rather than held. That check runs only on this path: the
 * usual grant costs nothing more.
 * With a restart grace, a node that started less than that long ago grants nothing: if it restarted
 * without persistence it may have lost keys of locks that are still valid, and granting them again
 * would give a second owner a quorum (the spec's "delayed restart"). The grace comes from each client
 * (ARGV[3]): the node keeps none, so a client that sends none gets grants.
 * With fencing, the keys of the resources' fencing counters follow the resource keys, and a grant
 * also reports the highest counter: the first phase of handing out a fencing token. A counter key
 * that holds anything but a counter (a string of digits without a TTL, as the fence script writes) is
 * foreign too: it is never read as 0.
 * A waiting call sends its queue ticket: refused because another owner holds a key, it joins the wait
 * queue of each key (see wake-queue.ts) and the reply says its place there, and granted, it leaves them. A key a release reserved for the
 * ticket's member (~<member>, see wake-queue.ts) is free to it, and held to anyone else.
 * Fair (ARGV[6], a lease in milliseconds), a free key is granted only while no live waiter but the ticket's
 * is first in its queue (see `fairTurnLua` in wake-queue.ts), and the waiter renews its lease there, refused
 * or granted; a granted one stays first in the queue until its release takes it out: if its attempt fails on
 * the other nodes, it keeps its place here (taken out, it let the next waiter be first on some nodes, and
 * split them), and once its key is gone, it is live only while its lease is.
 * KEYS[1..n] resource keys, then with fencing KEYS[n+1..2n] their counter keys
 * ARGV[1] token   ARGV[2] TTL in milliseconds   ARGV[3] restart grace in milliseconds, '0' or absent
 * for none   ARGV[4] '1' with fencing, else '0' or absent   ARGV[5] the queue ticket, '' or absent
 * ARGV[6] fair: the waiter's lease in milliseconds, '' or absent for the default   ARGV[7] fair: '1' when the
 * waiter listens for wakes from this node (its subscription is in place), else '0'
 * Returns 1 if every key was set or already held our token ({1, highest counter} with fencing; fair, for a
 * ticket without a place, {1, highest counter or 0, place}: granted, it is queued there too), 0 if
 * any key holds another owner's token, or fair, another waiter is first ({0, place} when it queued a ticket
 * without a place: its highest place; a ticket with one is queued at it), -1 if the node is inside its restart grace, -2 if a key is foreign (nothing is
 * changed in these three cases, but for 0 the waiter's place in the queues).
 */
export const acquireScript = defineScript(
  'acquire',
  /* lua */ `
${QUEUE_OF_LUA}
local token, ttlMs, restartGraceMs, isFencing = ARGV[1], ARGV[2], tonumber(ARGV[3]) or 0, ARGV[4] == '1'
${ticketLua("ARGV[5] or ''")}
local fairLeaseMs = tonumber(ARGV[6] or '')
local reservedForUs = ticketMember ~= '' and '${RESERVED_PREFIX}' .. ticketMember or false
local resourceCount = isFencing and #KEYS / 2 or #KEYS
local missing = 0
local reserved = {}
local isRefused = false
local nodeNow
for i = 1, resourceCount do
${/* The length first, O(1) whatever the value: one longer than our token (or our reservation) is not ours
   and is never read into Lua, which for a value of 16 MB kept the node busy for about a second. An error
   reply (WRONGTYPE) for a key of another type. GET then reads at most that length: false when missing. */ ''}${indentedLua(readKeyLua('length', 'STRLEN', 'KEYS[i]'))}
  local isShort = type(length) == 'number' and length <= math.max(#token, reservedForUs and #reservedForUs or 0)
  local value = isShort and redis.call('GET', KEYS[i])
  if isShort and value == false then
    missing = missing + 1
  elseif reservedForUs and value == reservedForUs then
    missing = missing + 1
    reserved[i] = true
  elseif value ~= token then
    ${/* Not ours either way, and left alone: another owner's lock, or a key that is not a lock at all. */ ''}if type(length) ~= 'number' or redis.call('PTTL', KEYS[i]) == -1 then
      return -2
    end
    isRefused = true
    break
  end
end
local queuedPlace
${/* Fair, a free key goes only to the first live waiter in its queue, or to anyone while none waits. The caller
   takes its place first: granted, it stays there until its release; with a place from a quorum, it is the same
   on every node (a place kept from before, lower, made another waiter first on some nodes and split them). */ ''}if fairLeaseMs and not isRefused and missing > 0 then
  local aheadOfUs
  for i = 1, resourceCount do
${indentedLua(joinQueueLua('KEYS[i]', undefined, 'queuedPlace'), 2)}
${indentedLua(fairTurnLua('KEYS[i]', false, 'fairLeaseMs'), 2)}
  end
  isRefused = aheadOfUs ~= nil
  ${/* First, and so granted: it stays first until its release, live by its lease as a refused waiter is. Without
     one it was live while its channel had a subscriber: a holder paused past its TTL (or whose attempt was granted
     here and failed elsewhere), its connections open, held up every waiter behind it until it ran again. */ ''}if not isRefused then
    for i = 1, resourceCount do
${indentedLua(renewLeaseLua('KEYS[i]', 'fairLeaseMs', 'ARGV[7]'), 3)}
    end
  end
end
if isRefused then
  for j = 1, resourceCount do
${indentedLua(joinQueueLua('KEYS[j]', undefined, 'queuedPlace'), 2)}
    if fairLeaseMs then
${indentedLua(renewLeaseLua('KEYS[j]', 'fairLeaseMs', 'ARGV[7]'), 3)}
    end
  end
  ${/* A ticket with a place was queued there: the reply need not say it. */ ''}return queuedPlace and ticketPlace == '' and {0, queuedPlace} or 0
end
${/* Read only when about to grant. */ ''}if missing > 0 and ${isInsideRestartGraceLua('restartGraceMs')} then
  return -1
end
local highest = 0
if isFencing then
  for i = resourceCount + 1, #KEYS do
${indentedLua(readKeyLua('counter', 'GET', 'KEYS[i]'), 2)}
    if counter ~= false then
      if type(counter) ~= 'string' or not string.match(counter, '^[1-9][0-9]*$') or redis.call('PTTL', KEYS[i]) ~= -1 then
        return -2
      end
      highest = math.max(highest, tonumber(counter))
    end
  end
end
for i = 1, resourceCount do
  if reserved[i] then
    redis.call('DEL', KEYS[i])
  end
  redis.call('SET', KEYS[i], token, 'PX', ttlMs, 'NX')
  ${/* Fair, the member stays first until its release takes it out: an attempt that fails keeps its place here. */ ''}if not fairLeaseMs then
${indentedLua(leaveQueueLua('KEYS[i]'), 2)}
  end
end
${/* Fair, a ticket that asked for a place learns it from a grant too: its attempt may fail on the other nodes. */ ''}local grantedPlace = ticketPlace == '' and queuedPlace
if grantedPlace then
  return {1, highest, grantedPlace}
end
if isFencing then
  return {1, highest}
end
return 1
`,
  '4af966dd6649be8dded32d074f93974143c35692',
);

/**
 * Parses the acquire script's reply: `'acquired'`, `'held'` (another owner holds a key), `'restarting'`
 * (the node started less than the restart grace ago) or `'foreign'` (a key holds something that is not a
 * lock, or with fencing a counter key something that is not a counter).
 */
export function parseAcquireReply(reply: unknown): AcquireStatus {
  if (reply === 1 || fenceCounterOf(reply) !== undefined) return 'acquired';
  if (reply === 0 || queuePlaceOf(reply) !== undefined) return 'held';
  if (reply === -1) return 'restarting';
  if (reply === -2) return 'foreign';
  throw unexpectedReply('acquire', reply);
}

/** The highest fencing counter a fenced grant reported (`{1, counter}`, or a fair one's `{1, counter, place}`), else `undefined`. */
export function fenceCounterOf(reply: unknown): number | undefined {
  if (!Array.isArray(reply) || (reply.length !== 2 && reply.length !== 3) || reply[0] !== 1) return undefined;
  const counter: unknown = reply[1];
  return typeof counter === 'number' && Number.isSafeInteger(counter) && counter >= 0 ? counter : undefined;
}

/** Whether a node refused the acquisition: the script then changed nothing there, so nothing needs removing. */
export function isRefusal(status: string | undefined): boolean {
  return status === 'held' || status === 'restarting' || status === 'foreign';
}

/** Adapters without `trySet` whose server (before Redis 7.0) refused `SET … NX … GET`: they take every lock by the script. */
const withoutSetIfAbsent = new WeakSet<RedisAdapter>();
/** Whether {@link withoutSetIfAbsent} ever had an adapter: until one, every acquisition skips the lookup. */
let isAnyWithoutSetIfAbsent = false;

/** Whether a lock can be taken on `adapter` by a {@link SetReader}: it has `trySet`, or a `setIfAbsent` its server accepts. */
export function canSetIfAbsent(adapter: RedisAdapter): boolean {
  return adapter.trySet !== undefined || (adapter.setIfAbsent !== undefined && !(isAnyWithoutSetIfAbsent && withoutSetIfAbsent.has(adapter)));
}

/**
 * Takes the lock on one key by `SET key token NX PX ttlMs` (the adapter's `trySet`), one command where the
 * script runs three: granted on `OK`. On nil the key exists, and holds another owner's lock, a key that is
 * not a lock, or our own token (the command ran before for this attempt: a client re-sent it): the acquire
 * script then decides, atomically again, and grants a key freed meanwhile. So no node ever sends back what
 * a key holds: a foreign value may be megabytes, read back on every attempt (a 16 MB one made one
 * `acquire()` pull 897 MB from 5 nodes, and time out). Made once per attempt; each node call sends with it
 * and reads its reply with it (see `ReplyReader`). It keeps only its key, token and TTL, not the attempt: a
 * call still waiting for a far node keeps it alive.
 *
 * An adapter with only the older `setIfAbsent` gets `SET key token NX PX ttlMs GET`: granted when the key
 * was missing or already held our token; any other value (downloaded whole: why `trySet` replaced it), or
 * `WRONGTYPE`, goes to the script as above. A server that cannot combine `NX` with `GET` (a syntax error,
 * before Redis 7.0) gets the script, now and from then on. Any other rejection fails the call, as it would
 * have failed the script (`SET … NX PX` has no syntax error before Redis 7.0).
 */
export class SetReader implements ReplyReader<AcquireStatus> {
  /**
   * @param ticket - A waiting call's queue ticket, which the script queues where it is refused (see wake-queue.ts), or `''`.
   * @param parse - Reads the script's reply from node `nodeIndex`.
   */
  constructor(
    readonly key: string,
    readonly token: string,
    readonly ttlMs: number,
    readonly ticket = '',
    readonly parse: (reply: unknown, nodeIndex: number) => AcquireStatus = parseAcquireReply,
  ) {}

  /** Sends the SET to `adapter` (which must pass {@link canSetIfAbsent}). */
  send(adapter: RedisAdapter): Promise<unknown> {
    if (adapter.trySet !== undefined) return adapter.trySet(this.key, this.token, this.ttlMs);
    return (adapter.setIfAbsent as NonNullable<RedisAdapter['setIfAbsent']>).call(adapter, this.key, this.token, this.ttlMs);
  }

  read(reply: unknown, adapter: RedisAdapter, call: RenewableCall, nodeIndex: number): AcquireStatus | Promise<AcquireStatus> {
    if (adapter.trySet !== undefined) {
      if (reply === 'OK') return 'acquired';
      if (reply === null) return this.#byScript(adapter, call, nodeIndex);
    } else {
      if (reply === null || reply === this.token) return 'acquired';
      if (typeof reply === 'string') return this.#byScript(adapter, call, nodeIndex);
    }
    throw unexpectedReply('acquire', reply);
  }

  recover(error: unknown, adapter: RedisAdapter, call: RenewableCall, nodeIndex: number): Promise<AcquireStatus> {
    if (adapter.trySet !== undefined) throw error;
    const message = errorMessageOf(error);
    if (SYNTAX_ERROR_PATTERN.test(message)) {
      withoutSetIfAbsent.add(adapter);
      isAnyWithoutSetIfAbsent = true;
    } else if (!WRONG_TYPE_PATTERN.test(message)) {
      throw error;
    }
    return this.#byScript(adapter, call, nodeIndex);
  }

  /**
   * The acquire script for the key: no restart grace, no fencing (see `acquireArgsOf`). It follows a
   * command the node just answered, so it is alive: the call gets a fresh timeout for the script, as for
   * the EVAL after `NOSCRIPT`. Else a node more than half its timeout away would time out on every lock
   * another owner holds (its two round trips), and a waiter would report it unreachable and back off.
   */
  #byScript(adapter: RedisAdapter, call: RenewableCall, nodeIndex: number): Promise<AcquireStatus> {
    call.renewTimeout(nodeIndex);
    const args = acquireArgsOf(this.token, this.ttlMs, 0, false, this.ticket);
    return runScript(adapter, acquireScript, [this.key], args, onNoScriptOf(call, nodeIndex), (reply) => this.parse(reply, nodeIndex));
  }
}

/**
 * The acquire script's arguments. The script reads a missing restart grace as none, missing fencing as
 * off and a missing ticket as none: the usual lock sends fewer arguments for the client to encode and the
 * script to unpack. `ticket` is a waiting call's queue ticket (see wake-queue.ts), `''` for none;
 * `fairLeaseMs`, a fair call's lease (0: the default), and whether it listens for the node's wakes.
 */
export function acquireArgsOf(token: string, ttlMs: number, restartGraceMs: number, isFencing: boolean, ticket = '', fairLeaseMs = 0, listens = false): string[] {
  if (fairLeaseMs > 0) return [token, String(ttlMs), String(restartGraceMs), isFencing ? '1' : '0', ticket, String(fairLeaseMs), listens ? '1' : '0'];
  if (ticket !== '') return [token, String(ttlMs), String(restartGraceMs), isFencing ? '1' : '0', ticket];
  return isPlainAcquire(restartGraceMs, isFencing) ? [token, String(ttlMs)] : [token, String(ttlMs), String(restartGraceMs), isFencing ? '1' : '0'];
}

/** Whether an acquisition is the usual lock: no restart grace and no fencing, so two arguments fewer. */
export function isPlainAcquire(restartGraceMs: number, isFencing: boolean): boolean {
  return restartGraceMs === 0 && !isFencing;
}

/** The server's `WRONGTYPE` error code as a word, however the client wrapped it (see `isNoScriptError`). */
const WRONG_TYPE_PATTERN = /(?:^|[^A-Za-z0-9_])WRONGTYPE(?![A-Za-z0-9_])/;

/** What a server before Redis 7.0 answers to `SET` with both `NX` and `GET`, with or without the `ERR` code. */
const SYNTAX_ERROR_PATTERN = /(?:^|[^A-Za-z0-9_])syntax error/i;
