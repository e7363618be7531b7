import { defineScript, indentedLua, unexpectedReply } from './lua-script.js';
import { leaveQueueLua, QUEUE_OF_LUA, ticketLua, wakeWaitersLua } from './wake-queue.js';

/**
 * A fair waiter leaves the wait queue of each key, and its lease (see `fairTurnLua` in wake-queue.ts): one that
 * gives up, at once, so that the waiters behind it do not wait for its lease to run out; one that won the lock,
 * on the nodes that did not grant it (a grant takes it out), where it would be first, and live, until its
 * next call. Giving up (ARGV[2] '1'), where it was first and the key is free, a release may have woken it for
 * nothing: the next waiter is woken as a release wakes it.
 * KEYS[1..n] resource keys   ARGV[1] the waiter's queue ticket   ARGV[2] '1' to wake the next, else '0'
 * Returns 1.
 */
export const leaveQueueScript = defineScript(
  'leave-queue',
  /* lua */ `
${QUEUE_OF_LUA}
${ticketLua('ARGV[1]')}
for i = 1, #KEYS do
  local queue = queueOf(KEYS[i])
  local range = queue and redis.pcall('ZRANGE', queue, 0, 0)
  local wasFirst = ARGV[2] == '1' and type(range) == 'table' and range[1] == ticketMember
${indentedLua(leaveQueueLua('KEYS[i]', 'true'))}
  if wasFirst and redis.pcall('EXISTS', KEYS[i]) == 0 then
${indentedLua(wakeWaitersLua('KEYS[i]', "''", '1', true), 2)}
  end
end
return 1
`,
  '2ea4c42c7a799b4e35cb6fde3a099992fe66864e',
);

/** Parses the leave script's reply: it always left. */
export function parseLeaveQueueReply(reply: unknown): 'released' {
  if (reply !== 1) throw unexpectedReply('leave-queue', reply);
  return 'released';
}
