import { defineScript, indentedLua, unexpectedReply } from './lua-script.js';
import { fairTurnLua, QUEUE_OF_LUA } from './wake-queue.js';

/**
 * Asks a node whether a fair lock's release was handed on (see lock/hand-off.ts): for each key that is free (no
 * lock and no reservation), the dead waiters first in its queue are dropped, and the live one first then is
 * woken again, as for a fair caller refused on a free key (see `fairTurnLua` in wake-queue.ts). Writes no lock key.
 * KEYS[1..n] resource keys
 * Returns 1 while a live waiter is first at a free key (the hand-off is still due), else 0: every key is taken,
 * or nobody waits at the free ones.
 */
export const handOffScript = defineScript(
  'hand-off',
  /* lua */ `
${QUEUE_OF_LUA}
local ticketMember, nodeNow = ''
local isDue = 0
for i = 1, #KEYS do
  if redis.pcall('EXISTS', KEYS[i]) == 0 then
    local aheadOfUs
${indentedLua(fairTurnLua('KEYS[i]'), 2)}
    if aheadOfUs ~= nil then
      isDue = 1
    end
  end
end
return isDue
`,
  '9d05ab8887a2b87b640e679a56f74105f339a6b0',
);

/** What a hand-off check found: a live waiter still first at a free key (`'due'`), or nothing more to do. */
export type HandOffStatus = 'due' | 'done';

/** Parses the hand-off script's reply. */
export function parseHandOffReply(reply: unknown): HandOffStatus {
  if (reply === 1) return 'due';
  if (reply === 0) return 'done';
  throw unexpectedReply('hand-off', reply);
}
