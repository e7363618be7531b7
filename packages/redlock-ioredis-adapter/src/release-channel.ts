/**
 * The start of every release channel, as the core builds it (`releaseChannelOf` in redlock-core's
 * `scripts/release.ts`): the release script publishes on this prefix followed by the key as the node sees it.
 * The core does not export it, so it is repeated here; a test compares the two.
 */
export const RELEASE_CHANNEL_PREFIX = 'redlock:released:';

/**
 * The channel a node actually publishes when the core asks to subscribe to `channel`, for a client whose
 * ioredis `keyPrefix` is `keyPrefix`.
 *
 * The core names a release channel after the key it passes to the script (`redlock:released:orders:42`),
 * but ioredis puts its `keyPrefix` before every key of a command, KEYS of EVAL and EVALSHA included, and
 * before no channel: the script sees `app:orders:42` and publishes on `redlock:released:app:orders:42`. So
 * the prefix goes between the channel prefix and the key. Other channels are left as they are.
 */
export function publishedChannelOf(channel: string, keyPrefix: string): string {
  if (keyPrefix === '' || !channel.startsWith(RELEASE_CHANNEL_PREFIX)) return channel;
  return RELEASE_CHANNEL_PREFIX + keyPrefix + channel.slice(RELEASE_CHANNEL_PREFIX.length);
}
