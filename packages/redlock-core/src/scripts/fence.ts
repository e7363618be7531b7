import { defineScript, indentedLua, readKeyLua, unexpectedReply } from './lua-script.js';

/**
 * What every fencing counter key ends with, and so what no lock key may end with (`resolveResources`
 * rejects such resources): lock keys and counter keys live in namespaces that never meet, so a fenced
 * acquisition can never write its counter over another owner's lock.
 */
export const FENCE_KEY_SUFFIX = ':fencing-counter';

/**
 * The key of a resource's fencing counter: the resource key with {@link FENCE_KEY_SUFFIX}, in the same
 * Redis Cluster slot. A key without a hash tag is hashed whole, so wrapping it in braces
 * (`{key}:fencing-counter`) keeps its slot; a key with a tag keeps that tag at its front. (`a` and `{a}`
 * share one counter that way, which is harmless: a counter only rises, so each one's tokens still do.)
 */
export function fenceKeyOf(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  const hasTag = close > open + 1;
  return hasTag || key.includes('}') ? key + FENCE_KEY_SUFFIX : `{${key}}${FENCE_KEY_SUFFIX}`;
}

/**
 * Raises each resource's fencing counter to at least the new token, never lowers it: the second
 * phase of handing out a fencing token, so that every later acquisition reads a value at least this
 * high from any quorum. The counters have no TTL: they must outlive every lock. A key that holds
 * anything but a counter this script wrote (a string of digits without a TTL) is not ours to
 * overwrite: then nothing is changed, all or nothing, as for the resource keys.
 * KEYS[1..n] fencing counter keys   ARGV[1] the new fencing token
 * Returns 1, or -2 if any key holds something that is not a counter (nothing is changed then).
 */
export const fenceScript = defineScript(
  'fence',
  /* lua */ `
local token = tonumber(ARGV[1])
local raise = {}
for i = 1, #KEYS do
${/* One read per key: false when missing, an error reply (WRONGTYPE) for a key of another type. */ ''}${indentedLua(readKeyLua('value', 'GET', 'KEYS[i]'))}
  if value == false then
    raise[#raise + 1] = KEYS[i]
  elseif type(value) ~= 'string' or not string.match(value, '^[1-9][0-9]*$') or redis.call('PTTL', KEYS[i]) ~= -1 then
    return -2
  elseif tonumber(value) < token then
    raise[#raise + 1] = KEYS[i]
  end
end
for i = 1, #raise do
  redis.call('SET', raise[i], ARGV[1])
end
return 1
`,
  'd3a8c20c4de6b7161be8a7b0e4bed5268e017ef6',
);

/** Parses the fence script's reply: `'fenced'`, or `'foreign'` (a counter key holds something else). */
export function parseFenceReply(reply: unknown): 'fenced' | 'foreign' {
  if (reply === 1) return 'fenced';
  if (reply === -2) return 'foreign';
  throw unexpectedReply('fence', reply);
}
