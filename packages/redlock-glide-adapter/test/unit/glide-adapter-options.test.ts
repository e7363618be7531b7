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

  describe('over a client that subscribes after it was created (GLIDE 2.3 and later)', () => {
    /** A stand-in that can subscribe later, recording each (un)subscription; `failNext` makes the next SUBSCRIBE time out. */
    function subscribingStandIn() {
      const calls: string[] = [];
      let failNext = false;
      const client = {
        ...standIn(),
        getSubscriptions: async () => ({ desiredSubscriptions: { 1: new Set(['redlock:wake:*']) } }),
        subscribe: async (channels: Iterable<string>) => {
          calls.push(`subscribe ${[...channels].join()}`);
          if (failNext) {
            failNext = false;
            throw new Error('timed out');
          }
        },
        unsubscribe: async (channels: Iterable<string> | null) => void calls.push(`unsubscribe ${[...(channels ?? [])].join()}`),
        punsubscribe: async (patterns: Iterable<string> | null) => void calls.push(`punsubscribe ${[...(patterns ?? [])].join()}`),
      };
      return { client, calls, failNextSubscribe: () => void (failNext = true) };
    }

    it('subscribes to a channel at its first listener and unsubscribes after its last, dropping the pattern once', async () => {
      const { client, calls } = subscribingStandIn();
      const notifications = new GlideReleaseNotifications();
      const adapter = new GlideAdapter(client, { notifications });
      expect(adapter.subscribesByPattern).toBe(false);
      const heard: string[] = [];
      const first = await adapter.subscribe!('redlock:wake:a', () => heard.push('first'));
      const second = await adapter.subscribe!('redlock:wake:a', () => heard.push('second'));
      const other = await adapter.subscribe!('redlock:wake:b', () => heard.push('other'));
      // A message that came through the pattern before it was dropped is not dispatched a second time.
      notifications.pubsubSubscriptions.callback({ channel: 'redlock:wake:a', pattern: 'redlock:wake:*' });
      notifications.pubsubSubscriptions.callback({ channel: 'redlock:wake:a', pattern: null });
      expect(heard).toEqual(['first', 'second']);
      await first();
      expect(calls).toEqual(['punsubscribe redlock:wake:*', 'subscribe redlock:wake:a', 'subscribe redlock:wake:b']);
      await Promise.all([second(), other()]);
      expect(calls.slice(3).sort()).toEqual(['unsubscribe redlock:wake:a', 'unsubscribe redlock:wake:b']);
    });

    it('takes back a SUBSCRIBE that timed out, which GLIDE would make later: nobody listens on that channel', async () => {
      const { client, calls, failNextSubscribe } = subscribingStandIn();
      const adapter = new GlideAdapter(client, { notifications: new GlideReleaseNotifications() });
      failNextSubscribe();
      await expect(adapter.subscribe!('redlock:wake:a', () => undefined)).rejects.toThrow('timed out');
      await new Promise((resolve) => setImmediate(resolve));
      expect(calls).toEqual(['punsubscribe redlock:wake:*', 'subscribe redlock:wake:a', 'unsubscribe redlock:wake:a']);
      // The next listener subscribes again.
      await adapter.subscribe!('redlock:wake:a', () => undefined);
      expect(calls.at(-1)).toBe('subscribe redlock:wake:a');
    });

    it('shares one check and one set of channels between the adapters of one client', async () => {
      const { client, calls } = subscribingStandIn();
      const notifications = new GlideReleaseNotifications();
      const [one, two] = [new GlideAdapter(client, { notifications }), new GlideAdapter(client, { notifications })];
      const unsubscribe = await one.subscribe!('redlock:wake:a', () => undefined);
      // The pattern is gone by now: a check of the second adapter's own would find the client unsubscribed.
      await (await two.subscribe!('redlock:wake:a', () => undefined))();
      await unsubscribe();
      expect(calls).toEqual(['punsubscribe redlock:wake:*', 'subscribe redlock:wake:a', 'unsubscribe redlock:wake:a']);
    });
  });
});
