import { Decoder, GlideClientConfiguration, GlideClusterClientConfiguration } from '@valkey/valkey-glide';
import { describe, expect, it } from '@jest/globals';
import { releaseChannelOf } from '../../../redlock-core/src/scripts/release.js';
import { GLIDE_PATTERN_MODE, GLIDE_STRING_DECODER } from '../../src/glide-client.js';
import { RELEASE_CHANNEL_PREFIX } from '../../src/glide-release-notifications.js';
import { GlideReleaseNotifications } from '../../src/index.js';

describe('the GLIDE values the adapter repeats instead of importing GLIDE', () => {
  it('decodes replies with GLIDE\'s Decoder.String', () => {
    expect(GLIDE_STRING_DECODER).toBe(Decoder.String);
  });

  it('subscribes under GLIDE\'s Pattern mode, the same for standalone and cluster clients', () => {
    expect(GLIDE_PATTERN_MODE).toBe(GlideClientConfiguration.PubSubChannelModes.Pattern);
    expect(GLIDE_PATTERN_MODE).toBe(GlideClusterClientConfiguration.PubSubChannelModes.Pattern);
  });

  it('starts release channels with the same prefix as the core, which does not export it', () => {
    expect(releaseChannelOf('orders:42')).toBe(`${RELEASE_CHANNEL_PREFIX}orders:42`);
  });
});

describe('GlideReleaseNotifications', () => {
  it('subscribes the client to every release channel by default', () => {
    const notifications = new GlideReleaseNotifications();
    expect(notifications.pattern).toBe('redlock:released:*');
    expect(notifications.pubsubSubscriptions.channelsAndPatterns[GLIDE_PATTERN_MODE]).toEqual(new Set(['redlock:released:*']));
    expect(notifications.covers(releaseChannelOf('orders:42'))).toBe(true);
    expect(notifications.covers('orders:42')).toBe(false);
  });

  it('narrows the pattern to a keyPrefix, with glob characters escaped', () => {
    const notifications = new GlideReleaseNotifications({ keyPrefix: 'app[1]*:' });
    expect(notifications.pattern).toBe('redlock:released:app\\[1\\]\\*:*');
    expect(notifications.covers(releaseChannelOf('app[1]*:orders:42'))).toBe(true);
    expect(notifications.covers(releaseChannelOf('app1:orders:42'))).toBe(false);
    expect(notifications.covers(releaseChannelOf('other:orders:42'))).toBe(false);
  });

  it.each([
    ['options that are not an object', null, 'Expected `options` to be an object, got `null`'],
    ['a keyPrefix that is not a string', { keyPrefix: 42 }, 'Expected `keyPrefix` to be a string, got `42`'],
  ])('refuses %s with a TypeError', (_, options, message) => {
    expect(() => new GlideReleaseNotifications(options as never)).toThrow(TypeError);
    expect(() => new GlideReleaseNotifications(options as never)).toThrow(message);
  });
});
