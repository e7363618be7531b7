import { defineScript, unexpectedReply } from './lua-script.js';

/**
 * Counts the connections subscribed to a release channel on one node. Sent only by waiters whose woken
 * attempt found the lock taken, at most a few times a second per channel (see `ReleaseCrowd`): a release
 * never pays for it.
 */
export const listenersScript = defineScript(
  'listeners',
  /* lua */ `
--[[ Counts the subscribers of one pub/sub channel on this node. Reads only.
     No KEYS.   ARGV[1] the channel
     Returns the number of connections subscribed to it. ]]
return redis.call('PUBSUB', 'NUMSUB', ARGV[1])[2]
`,
);

/** Parses the listeners script's reply: a count. */
export function parseListenersReply(reply: unknown): number {
  if (typeof reply !== 'number' || !Number.isSafeInteger(reply) || reply < 0) throw unexpectedReply('listeners', reply);
  return reply;
}
