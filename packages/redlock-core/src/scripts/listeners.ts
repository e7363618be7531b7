import { defineScript, unexpectedReply } from './lua-script.js';
import { RELEASE_CHANNEL_PREFIX } from './release.js';

/**
 * Counts the connections subscribed to a release channel on one node. Sent only by waiters whose woken attempt found
 * the lock taken, at most a few times a second per channel (see `KeyWatch.crowdRestMs`): a release never pays for it.
 */
export const listenersScript = defineScript(
  'listeners',
  /* lua */ `
--[[ Counts the subscribers of a lock key's release channel on this node. Reads only.
     KEYS[1] the lock key, as the release script gets it: its channel is named the same way there
             (a client that prefixes keys, such as ioredis with keyPrefix, prefixes it in both)
     Returns the number of connections subscribed to the channel. ]]
return redis.call('PUBSUB', 'NUMSUB', '${RELEASE_CHANNEL_PREFIX}' .. KEYS[1])[2]
`,
  '799669c612460f276dc217cc04907e63cb812ced',
);

/** Parses the listeners script's reply: a count. */
export function parseListenersReply(reply: unknown): number {
  if (typeof reply !== 'number' || !Number.isSafeInteger(reply) || reply < 0) throw unexpectedReply('listeners', reply);
  return reply;
}
