import { LABEL_OF_LUA } from './label.js';
import { defineScript, unexpectedReply } from './lua-script.js';

/**
 * Reports how long a resource key has left, and its holder's label, without its value: inspection must
 * never reveal an owner's token, which would let the reader release or extend someone else's lock. Every
 * lock key is a string with a TTL; a key without a TTL, or of another type, is not a lock and is reported
 * as such rather than as a lock that never ends.
 * KEYS[1] resource key   KEYS[2] its label key (see label.ts)
 * Returns {the key's remaining TTL in milliseconds, its holder's label or '', the fencing token the
 * label was written with or ''}, {-2, '', ''} if it does not exist, {-1, '', ''} if it is not a lock.
 */
export const inspectScript = defineScript(
  'inspect',
  /* lua */ `
${LABEL_OF_LUA}
local resource = KEYS[1]
local remainingMs = redis.call('PTTL', resource)
if remainingMs >= 0 and redis.call('TYPE', resource).ok ~= 'string' then
  return {-1, '', ''}
end
if remainingMs < 0 then
  return {remainingMs, '', ''}
end
local label, fence = labelOf(resource, KEYS[2])
return {remainingMs, label, fence}
`,
  '617a54279972909a4b33859231657a1d44dfafdb',
);

/**
 * A node's view of one resource: its remaining milliseconds, its holder's label (`''` for none), and the
 * fencing token that label was written with (`undefined` for none).
 */
export interface InspectReply {
  readonly remaining: number | 'free' | 'foreign';
  readonly label: string;
  readonly fencingToken: number | undefined;
}

/**
 * Parses the inspect script's reply: the key's remaining milliseconds, `'free'` if absent, `'foreign'` if
 * the key is not a lock (no TTL, or not a string), with the label of the lock's holder.
 */
export function parseInspectReply(reply: unknown): InspectReply {
  const [remainingMs, label, fence] = Array.isArray(reply) && reply.length === 3 ? (reply as unknown[]) : [];
  if (typeof label !== 'string' || typeof fence !== 'string' || !/^([1-9][0-9]*)?$/.test(fence)) throw unexpectedReply('inspect', reply);
  const fencingToken = fence === '' ? undefined : Number(fence);
  if (remainingMs === -2) return { remaining: 'free', label, fencingToken };
  if (remainingMs === -1) return { remaining: 'foreign', label, fencingToken };
  if (typeof remainingMs === 'number' && Number.isInteger(remainingMs) && remainingMs >= 0) return { remaining: remainingMs, label, fencingToken };
  throw unexpectedReply('inspect', reply);
}
