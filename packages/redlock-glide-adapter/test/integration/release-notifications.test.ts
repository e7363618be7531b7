import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { GlideClient, GlideClientConfiguration, ProtocolVersion } from '@valkey/valkey-glide';
import { useTestNodes } from 'redlock-adapter-test-kit';
import { Redlock } from 'redlock-core';
import { GlideAdapter, GlideReleaseNotifications } from '../../src/index.js';
import { addressOf, JEST, REQUEST_TIMEOUT_MS } from '../support/glide-factory.js';

/** A retry delay far beyond {@link WAKE_LIMIT_MS}: only a release notification can wake a waiter in time. */
const RETRY_DELAY_MS = 15_000;
/** How soon after the release a notified waiter must hold the lock, in milliseconds; generous for a loaded machine. */
const WAKE_LIMIT_MS = 5_000;

const nodes = useTestNodes(JEST, 1);
let opened: GlideClient[] = [];
afterEach(() => {
  for (const client of opened.splice(0)) client.close();
});

/** A GLIDE client to the node, with `configuration` on top of the address and request timeout; closed after the test. */
async function connected(configuration: Partial<GlideClientConfiguration> = {}): Promise<GlideClient> {
  const client = await GlideClient.createClient({ addresses: [addressOf(nodes.urls[0] as string)], requestTimeout: REQUEST_TIMEOUT_MS, ...configuration });
  opened.push(client);
  return client;
}

/** How many connections of the node are subscribed to patterns (`PUBSUB NUMPAT`). */
async function patternCount(): Promise<number> {
  return Number(await nodes.command(0, ['PUBSUB', 'NUMPAT']));
}

/** The members queued for `resource` on the node, head first. */
async function queued(resource: string): Promise<string[]> {
  return (await nodes.command(0, ['ZRANGE', `{${resource}}:w`, '0', '-1'])) as string[];
}

/** How many connections subscribe to `channel` itself (`PUBSUB NUMSUB`). */
async function subscriberCount(channel: string): Promise<number> {
  const [, count] = (await nodes.command(0, ['PUBSUB', 'NUMSUB', channel])) as [string, number];
  return Number(count);
}

/** The patterns `client` is subscribed to, as GLIDE reports them. */
async function patternsOf(client: GlideClient): Promise<string[]> {
  const { actualSubscriptions } = await client.getSubscriptions();
  return [...(actualSubscriptions[GlideClientConfiguration.PubSubChannelModes.Pattern] ?? [])].map(String);
}

/** Resolves once `condition` holds, checking every 10 ms for at most 5 s. */
async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  const end = performance.now() + 5_000;
  while (!(await condition())) {
    if (performance.now() > end) throw new Error('The condition did not hold within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * An adapter over a new client with release notifications; `asBefore23`, over a view of the client without
 * its `subscribe`, `unsubscribe` and `punsubscribe`, as GLIDE before 2.3 has them: it hears through the pattern.
 */
async function byPattern(asBefore23: boolean): Promise<GlideAdapter> {
  const notifications = new GlideReleaseNotifications();
  const client = await connected({ pubsubSubscriptions: notifications.pubsubSubscriptions });
  const hidden = new Set<PropertyKey>(['subscribe', 'unsubscribe', 'punsubscribe']);
  const view = asBefore23
    ? new Proxy(client, {
        get: (target, name) => {
          const value: unknown = hidden.has(name) ? undefined : Reflect.get(target, name, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      })
    : client;
  return new GlideAdapter(view, { notifications });
}

/**
 * Holds `resource` with a Redlock of its own, waits for it through `waiter` (retry delay far beyond the
 * wake limit), releases, and resolves with how long after the release the waiter held the lock, in ms.
 */
async function handOff(waiter: GlideAdapter, resource: string, keyPrefix = ''): Promise<number> {
  const holding = new Redlock([new GlideAdapter(await connected())], { keyPrefix });
  const waiting = new Redlock([waiter], { keyPrefix, retryDelayMs: RETRY_DELAY_MS, retryJitterMs: 0 });
  const lock = await holding.acquire(resource, 30_000);
  const next = waiting.acquire(resource, 30_000);
  // Long enough for the waiter's first attempt and its subscription (already active on the client).
  await new Promise((resolve) => setTimeout(resolve, 300));
  await lock.release();
  const releasedAt = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const tooLate = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`The waiter was not woken within ${WAKE_LIMIT_MS} ms`)), WAKE_LIMIT_MS);
  });
  try {
    const taken = await Promise.race([next, tooLate]);
    const wokenAfterMs = performance.now() - releasedAt;
    await taken.release();
    return wokenAfterMs;
  } finally {
    clearTimeout(timer);
    await Promise.all([holding.close(), waiting.close()]);
  }
}

describe('GlideReleaseNotifications on a real node', () => {
  it('subscribes the client to the wake pattern on the connection it already has', async () => {
    const before = await patternCount();
    const notifications = new GlideReleaseNotifications();
    await connected({ pubsubSubscriptions: notifications.pubsubSubscriptions });
    expect(await patternCount()).toBe(before + 1);
  });

  it('wakes a waiter by the release notification when the Redlock has a keyPrefix, long before its retry timer', async () => {
    const notifications = new GlideReleaseNotifications();
    const waiter = new GlideAdapter(await connected({ pubsubSubscriptions: notifications.pubsubSubscriptions }), { notifications });
    expect(await handOff(waiter, `orders:${randomUUID()}`, 'glide-test:')).toBeLessThan(RETRY_DELAY_MS / 3);
  });

  it('still wakes a waiter with notifications made with the deprecated keyPrefix, which narrows nothing', async () => {
    const notifications = new GlideReleaseNotifications({ keyPrefix: 'another-prefix:' });
    const waiter = new GlideAdapter(await connected({ pubsubSubscriptions: notifications.pubsubSubscriptions }), { notifications });
    expect(await handOff(waiter, `orders:${randomUUID()}`, 'glide-test:')).toBeLessThan(RETRY_DELAY_MS / 3);
  });

  it('makes the node count the client as hearing every wake while it holds the pattern, listened for or not', async () => {
    const notifications = new GlideReleaseNotifications();
    await connected({ pubsubSubscriptions: notifications.pubsubSubscriptions });
    // The waiter of this member stopped waiting long ago: no listener anywhere, yet PUBLISH counts one.
    expect(Number(await nodes.command(0, ['PUBLISH', `redlock:wake:gone.${randomUUID()}`, '1']))).toBeGreaterThanOrEqual(1);
  });

  it('subscribes to each waiting process\'s own channel and drops the pattern (GLIDE 2.3 and later): a process that stopped waiting is skipped', async () => {
    const resource = `orders:${randomUUID()}`;
    const holding = new Redlock([new GlideAdapter(await connected())]);
    const notifications = new GlideReleaseNotifications();
    const client = await connected({ pubsubSubscriptions: notifications.pubsubSubscriptions });
    const adapter = new GlideAdapter(client, { notifications });
    expect(adapter.subscribesByPattern).toBe(false);
    expect(await patternsOf(client)).toEqual(['redlock:wake:*']);
    const quitting = new Redlock([adapter], { retryDelayMs: 50, retryJitterMs: 0 });
    try {
      const lock = await holding.acquire(resource, 30_000);
      const waiting = quitting.acquire(resource, 30_000, { waitMs: 500 });
      // Listening on its own channel, the pattern gone: the node sees that it waits, and sends it only its wakes.
      await waitUntil(async () => (await queued(resource)).length === 1);
      const [member] = await queued(resource);
      expect(member).toMatch(/^[\w-]+\.[0-9a-z]+$/);
      expect(await subscriberCount(`redlock:wake:${member}`)).toBe(1);
      expect(await patternsOf(client)).toEqual([]);
      await expect(waiting).rejects.toThrow();
      // Gone: unsubscribed, so the release drops it and wakes the next process at once.
      await waitUntil(async () => (await subscriberCount(`redlock:wake:${member}`)) === 0);
      const next = new Redlock([await byPattern(false)], { retryDelayMs: RETRY_DELAY_MS, retryJitterMs: 0 });
      const nextLock = next.acquire(resource, 30_000);
      await waitUntil(async () => (await queued(resource)).length === 2);
      const releasedAt = performance.now();
      await lock.release();
      await (await nextLock).release();
      expect(performance.now() - releasedAt).toBeLessThan(RETRY_DELAY_MS / 3);
      await next.close();
    } finally {
      await Promise.all([holding.close(), quitting.close()]);
    }
  });

  it('wakes a process that listens through the pattern (GLIDE before 2.3) once, and takes it off the queue: it keeps no place', async () => {
    const resource = `orders:${randomUUID()}`;
    const holding = new Redlock([new GlideAdapter(await connected())]);
    const oldGlide = await byPattern(true);
    expect(oldGlide.subscribesByPattern).toBe(true);
    const quitting = new Redlock([oldGlide], { retryDelayMs: 50, retryJitterMs: 0 });
    try {
      const lock = await holding.acquire(resource, 30_000);
      // Queued on the node, then gone: the node cannot tell, since the pattern hears every wake.
      await expect(quitting.acquire(resource, 30_000, { waitMs: 300 })).rejects.toThrow();
      expect(await queued(resource)).toEqual([expect.stringMatching(/^\+/)]);
      await lock.release();
      expect(await queued(resource)).toEqual([]);
      // Before, it kept the head and took this release's wake too, and every one after.
      expect(await handOff(await byPattern(true), resource)).toBeLessThan(RETRY_DELAY_MS / 3);
    } finally {
      await Promise.all([holding.close(), quitting.close()]);
    }
  });

  it('rejects a subscription to a channel outside the pattern, naming the pattern', async () => {
    const notifications = new GlideReleaseNotifications();
    const adapter = new GlideAdapter(await connected({ pubsubSubscriptions: notifications.pubsubSubscriptions }), { notifications });
    await expect(adapter.subscribe!('redlock:released:other:orders:42', () => undefined)).rejects.toThrow(
      'Cannot subscribe to "redlock:released:other:orders:42": the client\'s release notifications cover redlock:wake:* only',
    );
  });

  it('rejects subscriptions and warns once when the client was created without the notifications, and still hands over on the timer', async () => {
    const warnings: unknown[][] = [];
    const emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation((...args: unknown[]) => void warnings.push(args));
    try {
      const notifications = new GlideReleaseNotifications();
      const adapter = new GlideAdapter(await connected(), { notifications });
      const channel = `redlock:wake:${randomUUID()}`;
      await expect(adapter.subscribe!(channel, () => undefined)).rejects.toThrow(
        'Cannot subscribe to release notifications: the GLIDE client does not subscribe to redlock:wake:*',
      );
      await expect(adapter.subscribe!(channel, () => undefined)).rejects.toThrow('`pubsubSubscriptions: notifications.pubsubSubscriptions`');
      expect(warnings).toEqual([
        [expect.stringContaining('the GLIDE client does not subscribe to redlock:wake:*'), { type: 'RedlockWarning', code: 'REDLOCK_GLIDE_NOT_SUBSCRIBED' }],
      ]);

      const redlock = new Redlock([adapter], { retryDelayMs: 200, retryJitterMs: 0 });
      const holder = new Redlock([new GlideAdapter(await connected())]);
      const lock = await holder.acquire('orders:timer', 1_000);
      const next = redlock.acquire('orders:timer', 1_000);
      await lock.release();
      await (await next).release();
      await redlock.close();
    } finally {
      emitWarning.mockRestore();
    }
  });

  it('is refused by GLIDE itself on a RESP2 client, which cannot receive pub/sub messages', async () => {
    const notifications = new GlideReleaseNotifications();
    await expect(connected({ protocol: ProtocolVersion.RESP2, pubsubSubscriptions: notifications.pubsubSubscriptions })).rejects.toThrow(
      'PubSub subscriptions require RESP3 protocol',
    );
  });

  it('exposes the client, so Redlock refuses one client in two adapters', async () => {
    const client = await connected();
    const adapter = new GlideAdapter(client);
    expect(adapter.client).toBe(client);
    const other = new GlideAdapter(await connected());
    expect(() => new Redlock([adapter, new GlideAdapter(client), other])).toThrow(
      'got the same client at `nodes[0]` and `nodes[1]`',
    );
  });
});
