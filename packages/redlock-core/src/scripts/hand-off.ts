import { defineScript, indentedLua, unexpectedReply } from './lua-script.js';
import { fairTurnLua, QUEUE_OF_LUA } from './wake-queue.js';

/**
 * Asks a node whether a fair lock's release was handed on to the waiting process it woke (see lock/hand-off.ts).
 * At the first key that is free (no lock and no reservation) with that process first in its queue, the process
 * is still due to take it: if it is dead (see `fairTurnLua` in wake-queue.ts), it is dropped with the dead ones
 * behind it, and the live one first then is woken, and due in its place. Writes no lock key, and wakes nobody
 * while the awaited process lives.
 * KEYS[1..n] resource keys   ARGV[1] the queue member of the process awaited
 * Returns the member of the process due to take the lock, `''` for none: it took it, or nobody waits.
 */
export const handOffScript = defineScript(
  'hand-off',
  /* lua */ `
${QUEUE_OF_LUA}
local ticketMember, nodeNow = ''
local due = ''
for i = 1, #KEYS do
  if redis.pcall('EXISTS', KEYS[i]) == 0 then
    local queue = queueOf(KEYS[i])
    local range = queue and redis.pcall('ZRANGE', queue, 0, 0)
    if type(range) == 'table' and range[1] == ARGV[1] then
      local aheadOfUs
${indentedLua(fairTurnLua('KEYS[i]', true), 3)}
      due = aheadOfUs or ''
      break
    end
  end
end
return due
`,
  '4d38a1ede871c295562c92e7d3b2aeb1884b186c',
);

/** Parses the hand-off script's reply: the member of the process due to take the lock, `''` for none. */
export function parseHandOffReply(reply: unknown): string {
  if (typeof reply === 'string') return reply;
  throw unexpectedReply('hand-off', reply);
}
