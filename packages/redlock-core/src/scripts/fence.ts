import { defineScript, unexpectedReply } from './lua-script.js';

/**
 * The key of a resource's fencing counter: the resource key with `:fence`, in the same Redis Cluster slot.
 * A key without a hash tag is hashed whole, so wrapping it in braces (`{key}:fence`) keeps its slot; a key
 * with a tag keeps that tag at its front.
 */
export function fenceKeyOf(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  const hasTag = close > open + 1;
  return hasTag || key.includes('}') ? `${key}:fence` : `{${key}}:fence`;
}

export const fenceScript = defineScript(
  'fence',
  /* lua */ `
--[[ Raises each resource's fencing counter to at least the new token, never lowers it: the second
     phase of handing out a fencing token, so that every later acquisition reads a value at least this
     high from any quorum. The counters have no TTL: they must outlive every lock.
     KEYS[1..n] fencing counter keys   ARGV[1] the new fencing token
     Returns 1. ]]
local token = tonumber(ARGV[1])
for i = 1, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i])) or 0
  if current < token then
    redis.call('SET', KEYS[i], ARGV[1])
  end
end
return 1
`,
);

/** Parses the fence script's reply. */
export function parseFenceReply(reply: unknown): 'fenced' {
  if (reply === 1) return 'fenced';
  throw unexpectedReply('fence', reply);
}
