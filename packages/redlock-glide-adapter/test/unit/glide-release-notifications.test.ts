import { Decoder, GlideClientConfiguration, GlideClusterClientConfiguration } from '@valkey/valkey-glide';
import { describe, expect, it } from '@jest/globals';
import { WAKE_CHANNEL_PREFIX as CORE_WAKE_CHANNEL_PREFIX, wakeChannelOf } from '../../../redlock-core/src/scripts/wake-queue.js';
import { GLIDE_PATTERN_MODE, GLIDE_STRING_DECODER, type GlideStandalone } from '../../src/glide-client.js';
import { WAKE_CHANNEL_PREFIX } from '../../src/glide-release-notifications.js';
import { GlideAdapter, GlideReleaseNotifications } from '../../src/index.js';

/** A stand-in for a GlideClient without `getSubscriptions`, which the adapter then takes as subscribed. */
function standIn(): GlideStandalone {
  return { customCommand: async () => 'OK', close: () => undefined };
}

describe('the values the adapter repeats instead of importing them', () => {
  it('decodes replies with GLIDE\'s Decoder.String', () => {
    expect(GLIDE_STRING_DECODER).toBe(Decoder.String);
  });

  it('subscribes under GLIDE\'s Pattern mode, the same for standalone and cluster clients', () => {
    expect(GLIDE_PATTERN_MODE).toBe(GlideClientConfiguration.PubSubChannelModes.Pattern);
    expect(GLIDE_PATTERN_MODE).toBe(GlideClusterClientConfiguration.PubSubChannelModes.Pattern);
  });

  it('starts wake channels with the same prefix as the core, whose index does not export it', () => {
    expect(WAKE_CHANNEL_PREFIX).toBe(CORE_WAKE_CHANNEL_PREFIX);
  });
});

describe('GlideReleaseNotifications', () => {
  it('subscribes the client to every wake channel', () => {
    const notifications = new GlideReleaseNotifications();
    expect(notifications.pattern).toBe('redlock:wake:*');
    expect(notifications.pubsubSubscriptions.channelsAndPatterns[GLIDE_PATTERN_MODE]).toEqual(new Set(['redlock:wake:*']));
    expect(notifications.covers(wakeChannelOf('a1b2c3d4e5f6.1x2y3z'))).toBe(true);
    expect(notifications.covers('redlock:released:orders:42')).toBe(false);
    expect(notifications.covers('orders:42')).toBe(false);
  });

  it('accepts a keyPrefix, which no longer narrows anything: a wake channel names a process, not a key', () => {
    const notifications = new GlideReleaseNotifications({ keyPrefix: 'app[1]*:' });
    expect(notifications.pattern).toBe('redlock:wake:*');
    expect(notifications.covers(wakeChannelOf('a1b2c3d4e5f6.1x2y3z'))).toBe(true);
  });

  it.each([
    ['options that are not an object', null, 'Expected `options` to be an object, got `null`'],
    ['a keyPrefix that is not a string', { keyPrefix: 42 }, 'Expected `keyPrefix` to be a string, got `42`'],
  ])('refuses %s with a TypeError', (_, options, message) => {
    expect(() => new GlideReleaseNotifications(options as never)).toThrow(TypeError);
    expect(() => new GlideReleaseNotifications(options as never)).toThrow(message);
  });

  it('hands each message the pattern brings to the listeners of exactly its channel, and drops the others', async () => {
    const notifications = new GlideReleaseNotifications();
    const adapter = new GlideAdapter(standIn(), { notifications });
    const [mine, other] = [wakeChannelOf('a1b2c3d4e5f6.1'), wakeChannelOf('a1b2c3d4e5f6.10')];
    const heard: string[] = [];
    const stopMine = await adapter.subscribe!(mine, () => heard.push('mine'));
    await adapter.subscribe!(other, () => heard.push('other'));
    const deliver = (channel: string | Uint8Array): void => notifications.pubsubSubscriptions.callback({ channel });
    deliver(mine);
    // The Bytes decoder hands the channel over as a Buffer.
    deliver(Buffer.from(other));
    // Another process's wake, which the pattern brings too; and a channel that only starts like ours ('other' too).
    deliver(wakeChannelOf('f6e5d4c3b2a1.1'));
    deliver(`${mine}x`);
    expect(heard).toEqual(['mine', 'other']);
    await stopMine();
    deliver(mine);
    expect(heard).toEqual(['mine', 'other']);
  });

  it('refuses a subscription to a channel outside the pattern', async () => {
    const notifications = new GlideReleaseNotifications();
    const adapter = new GlideAdapter(standIn(), { notifications });
    await expect(adapter.subscribe!('redlock:released:orders:42', () => undefined)).rejects.toThrow(
      'Cannot subscribe to "redlock:released:orders:42": the client\'s release notifications cover redlock:wake:* only',
    );
  });
});
