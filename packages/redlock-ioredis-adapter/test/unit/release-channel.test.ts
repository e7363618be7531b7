import { describe, expect, it } from '@jest/globals';
import { releaseChannelOf } from '../../../redlock-core/src/scripts/release.js';
import { publishedChannelOf, RELEASE_CHANNEL_PREFIX } from '../../src/release-channel.js';

describe('publishedChannelOf', () => {
  it('starts from the same channel prefix as the core, which does not export it', () => {
    expect(releaseChannelOf('orders:42')).toBe(`${RELEASE_CHANNEL_PREFIX}orders:42`);
  });

  it('puts the keyPrefix between the channel prefix and the key, where the release script puts it', () => {
    expect(publishedChannelOf(releaseChannelOf('orders:42'), 'app:')).toBe(releaseChannelOf('app:orders:42'));
  });

  it('leaves the channel as it is without a keyPrefix', () => {
    expect(publishedChannelOf(releaseChannelOf('orders:42'), '')).toBe(releaseChannelOf('orders:42'));
  });

  it('leaves any other channel as it is', () => {
    expect(publishedChannelOf('news', 'app:')).toBe('news');
  });
});
