import { defineScript, unexpectedReply } from './lua-script.js';

export const inspectScript = defineScript(
  'inspect',
  /* lua */ `
--[[ Reports how long a resource key has left, without its value: inspection must never reveal an
     owner's token, which would let the reader release or extend someone else's lock.
     KEYS[1] resource key
     Returns the key's remaining TTL in milliseconds, -1 if it has none, -2 if it does not exist. ]]
local resource = KEYS[1]
return redis.call('PTTL', resource)
`,
);

/** Parses the inspect script's reply: the key's remaining milliseconds, `Infinity` without a TTL, `undefined` if absent. */
export function parseInspectReply(reply: unknown): number | undefined {
  if (reply === -2) return undefined;
  if (reply === -1) return Infinity;
  if (typeof reply === 'number' && Number.isInteger(reply) && reply >= 0) return reply;
  throw unexpectedReply('inspect', reply);
}
