import { describe, expect, it } from '@jest/globals';
import { type GlideStandalone, GlideAdapter, GlideReleaseNotifications } from '../../src/index.js';

/** A stand-in for a GlideClient: records the commands and answers each with `reply`. */
function standIn(reply: unknown = 'OK'): GlideStandalone & { readonly sent: unknown[][] } {
  const sent: unknown[][] = [];
  return {
    sent,
    customCommand: async (...call: unknown[]) => {
      sent.push(call);
      return reply;
    },
    close: () => undefined,
  };
}

describe('GlideAdapter options', () => {
  it.each([
    ['null', null],
    ['an object without customCommand', { get: async () => null }],
    ['a string', 'redis://127.0.0.1:6379'],
  ])('refuses %s as the client with a TypeError', (_, client) => {
    expect(() => new GlideAdapter(client as never)).toThrow(TypeError);
    expect(() => new GlideAdapter(client as never)).toThrow(/^Expected `client` to be a GlideClient or GlideClusterClient/);
  });

  it('refuses options that are not an object, and notifications that are not a GlideReleaseNotifications', () => {
    expect(() => new GlideAdapter(standIn(), null as never)).toThrow('Expected `options` to be an object, got `null`');
    expect(() => new GlideAdapter(standIn(), { notifications: { pattern: 'redlock:wake:*' } as never })).toThrow(
      'Expected `notifications` to be a GlideReleaseNotifications, got `[object Object]`',
    );
  });

  it.each([
    [{ notification: new GlideReleaseNotifications() }, 'Unknown option `notification` in the options of GlideAdapter: it takes `notifications`'],
    [{ subscriber: standIn() }, 'Unknown option `subscriber` in the options of GlideAdapter'],
  ])('refuses an unknown option with a TypeError: %p', (options, message) => {
    expect(() => new GlideAdapter(standIn(), options as never)).toThrow(TypeError);
    expect(() => new GlideAdapter(standIn(), options as never)).toThrow(message);
  });

  it('refuses an unknown option of GlideReleaseNotifications, such as a misspelt keyPrefix', () => {
    expect(() => new GlideReleaseNotifications({ keyprefix: 'lock:' } as never)).toThrow(
      'Unknown option `keyprefix` in the options of GlideReleaseNotifications: it takes `keyPrefix`',
    );
  });

  it('refuses the notifications of one client for an adapter of another, but not for a second adapter of the same', () => {
    const notifications = new GlideReleaseNotifications();
    const client = standIn();
    new GlideAdapter(client, { notifications });
    expect(() => new GlideAdapter(client, { notifications })).not.toThrow();
    expect(() => new GlideAdapter(standIn(), { notifications })).toThrow(TypeError);
    expect(() => new GlideAdapter(standIn(), { notifications })).toThrow('create one GlideReleaseNotifications per client');
  });

  it('has the subscribe capability only with notifications, and says it hears wakes through a pattern', () => {
    const plain = new GlideAdapter(standIn());
    expect([plain.subscribe, plain.subscribesByPattern]).toEqual([undefined, undefined]);
    const adapter = new GlideAdapter(standIn(), { notifications: new GlideReleaseNotifications() });
    expect(adapter.subscribe).toBeInstanceOf(Function);
    expect(adapter.subscribesByPattern).toBe(true);
  });

  it('sends EVALSHA and EVAL as raw commands decoded as strings, routed by the first key on a cluster', async () => {
    const client = standIn(7);
    const adapter = new GlideAdapter(client);
    expect(await adapter.evalsha('abc', ['k1', 'k2'], ['a'])).toBe(7);
    expect(await adapter.eval('return 7', [], [])).toBe(7);
    expect(client.sent).toEqual([
      [['EVALSHA', 'abc', '2', 'k1', 'k2', 'a'], { decoder: 1 }],
      [['EVAL', 'return 7', '0'], { decoder: 1 }],
    ]);

    const cluster = { ...standIn(1), pubsubShardChannels: () => undefined };
    await new GlideAdapter(cluster).eval('return 1', ['{a}:1', '{a}:2'], ['x']);
    await new GlideAdapter(cluster).eval('return 1', [], []);
    expect(cluster.sent).toEqual([
      [['EVAL', 'return 1', '2', '{a}:1', '{a}:2', 'x'], { decoder: 1, route: { type: 'primarySlotKey', key: '{a}:1' } }],
      [['EVAL', 'return 1', '0'], { decoder: 1 }],
    ]);
  });

  it.each(['evalsha', 'eval'] as const)('rejects %s with what the client threw, never throwing itself', async (method) => {
    const thrown = new Error('client bug');
    const adapter = new GlideAdapter({
      customCommand: () => {
        throw thrown;
      },
      close: () => undefined,
    });
    let pending: Promise<unknown> | undefined;
    expect(() => {
      pending = adapter[method]('script', ['key'], ['arg']);
    }).not.toThrow();
    await expect(pending).rejects.toBe(thrown);
  });
});
