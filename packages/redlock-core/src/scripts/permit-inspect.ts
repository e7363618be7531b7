import { defineScript, unexpectedReply } from './lua-script.js';
import { SEMAPHORE_LAYOUT_LUA } from './permit-acquire.js';

/**
 * Lua: the start of an inspect script over a hash, `isLayout` its layout's check: returns 0 for no key,
 * -2 for a key of another kind, else leaves `key`, its fields and values in `all`, and `now` by this node's clock.
 */
export function inspectStartLua(isLayout: string): string {
  return `local key = KEYS[1]
local keyType = redis.call('TYPE', key)['ok']
if keyType == 'none' then
  return 0
end
if keyType ~= 'hash' then
  return -2
end
local all = redis.call('HGETALL', key)
if not ${isLayout}(key, all) then
  return -2
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`;
}

/**
 * Reports the slots of the semaphore at KEYS[1] that this node holds taken, by its own clock, without
 * any token: inspection must never reveal one, which would let the reader release or extend another
 * holder's permits. Each slot comes with an opaque holder id, the first 12 hex digits of the SHA1 of
 * its holder's token, which tells holders apart across nodes and can do nothing else. A waiting
 * request's intent (field 'i') holds no slot and is not reported. Changes nothing.
 * KEYS[1] resource key
 * Returns 0 if there is no key, -2 if it is not a semaphore, else {limit, slot, holder id, remaining
 * milliseconds, slot, holder id, remaining milliseconds, ...}.
 *
 * The semaphore's layout is written on `permitAcquireScript` (permit-acquire.ts).
 */
export const permitInspectScript = defineScript(
  'permit-inspect',
  /* lua */ `
${SEMAPHORE_LAYOUT_LUA}
${inspectStartLua('isSemaphoreHash')}
local reply = {0}
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  if field == 'limit' then
    reply[1] = tonumber(value)
  elseif field ~= 'i' then
    local colon = string.find(value, ':', 1, true)
    local remainingMs = tonumber(string.sub(value, 1, colon - 1)) - now
    if remainingMs > 0 then
      reply[#reply + 1] = tonumber(field)
      reply[#reply + 1] = string.sub(redis.sha1hex(string.sub(value, colon + 1)), 1, 12)
      reply[#reply + 1] = remainingMs
    end
  end
end
return reply
`,
  '1e79412bae1c23ec13736da0c06ebbc648ffc62a',
);

/** One slot a node holds taken: its number, an opaque id of its holder, and the milliseconds it has left there. */
export interface TakenSlot { readonly slot: number; readonly holder: string; readonly remainingMs: number }

/** Parses the permit-inspect script's reply: `'free'`, `'foreign'`, or the limit and the slots taken. */
export function parsePermitInspectReply(reply: unknown): 'free' | 'foreign' | { readonly limit: number; readonly slots: readonly TakenSlot[] } {
  if (reply === 0) return 'free';
  if (reply === -2) return 'foreign';
  if (Array.isArray(reply) && reply.length % 3 === 1 && Number.isInteger(reply[0])) {
    const slots: TakenSlot[] = [];
    for (let index = 1; index < reply.length; index += 3) {
      const [slot, holder, remainingMs] = reply.slice(index, index + 3) as unknown[];
      if (!Number.isInteger(slot) || typeof holder !== 'string' || !Number.isInteger(remainingMs)) throw unexpectedReply('permit-inspect', reply);
      slots.push({ slot: slot as number, holder, remainingMs: remainingMs as number });
    }
    return { limit: reply[0] as number, slots };
  }
  throw unexpectedReply('permit-inspect', reply);
}
