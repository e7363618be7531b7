import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { type RedisAdapter, Redlock, type Unsubscribe } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { useRedisNodes } from '../support/redis-servers.js';

const redis = useRedisNodes(1);

/** A channel name of this test file's own. */
const channelNamed = (name: string): string => `subscription-registry-test:${name}:${randomUUID()}`;

/** Publishes on `channel` from a client of its own; resolves with the number of subscribed connections. */
const published = async (channel: string): Promise<number> => redis.createClient(0).publish(channel, '1');

/** The subscriber connection of a test, and adapters over it with clients of their own. */
function sharedSubscriber(): { readonly subscriber: Redis; adapter(): IoredisAdapter } {
  const subscriber = redis.createClient(0, { maxRetriesPerRequest: null });
  return { subscriber, adapter: () => new IoredisAdapter(redis.createClient(0), { subscriber }) };
}

/** Subscribes through `adapter`, which must have been given a subscriber. */
const subscribe = (adapter: IoredisAdapter, channel: string, onMessage: () => void = () => undefined): Promise<Unsubscribe> =>
  (adapter.subscribe as NonNullable<IoredisAdapter['subscribe']>)(channel, onMessage);

describe('adapters that share one subscriber connection', () => {
  it("keep a channel subscribed until the last adapter's listener leaves, then leave the connection as they found it", async () => {
    const { subscriber, adapter } = sharedSubscriber();
    const [first, second] = [adapter(), adapter()];
    const channel = channelNamed('last-listener');
    const heard: string[] = [];
    const leaveFirst = await subscribe(first, channel, () => heard.push('first'));
    const leaveSecond = await subscribe(second, channel, () => heard.push('second'));
    expect(await published(channel)).toBe(1); // one subscribed connection, however many adapters
    await waitFor(() => heard.length === 2);

    await leaveFirst();
    // The second adapter still listens on the shared connection: no UNSUBSCRIBE went out under it.
    expect(await published(channel)).toBe(1);
    await waitFor(() => heard.length === 3);
    expect(heard[2]).toBe('second');

    await leaveSecond();
    expect(await published(channel)).toBe(0);
    expect(subscriber.listenerCount('message')).toBe(0);
    expect(await subscriber.ping()).toBe('PONG'); // back in normal mode, and still open
  });

  it('keep the channel when one adapter leaves while another subscribes', async () => {
    const { adapter } = sharedSubscriber();
    const [first, second] = [adapter(), adapter()];
    const channel = channelNamed('leave-while-joining');
    const leaveFirst = await subscribe(first, channel);
    let heard = 0;
    const joining = subscribe(second, channel, () => (heard += 1));
    await leaveFirst();
    const leaveSecond = await joining;
    expect(await published(channel)).toBe(1);
    await waitFor(() => heard === 1);
    await leaveSecond();
    expect(await published(channel)).toBe(0);
  });

  it('subscribe again for a listener that arrives while the UNSUBSCRIBE of the last one is in flight', async () => {
    const { adapter } = sharedSubscriber();
    const [first, second] = [adapter(), adapter()];
    const channel = channelNamed('join-while-leaving');
    const leaveFirst = await subscribe(first, channel);
    let heard = 0;
    const leaving = leaveFirst();
    const leaveSecond = await subscribe(second, channel, () => (heard += 1));
    await leaving;
    expect(await published(channel)).toBe(1);
    await waitFor(() => heard === 1);
    await leaveSecond();
  });

  it('resolve a subscription only once the SUBSCRIBE in flight for the same channel has been answered', async () => {
    const { adapter } = sharedSubscriber();
    const shared = adapter();
    const channel = channelNamed('in-flight');
    const order: string[] = [];
    const subscriptions = [subscribe(shared, channel), subscribe(shared, channel)];
    subscriptions.forEach((subscription, index) => void subscription.then(() => order.push(`subscription ${index}`)));
    const [leaveFirst, leaveSecond] = await Promise.all(subscriptions);
    expect(order).toEqual(['subscription 0', 'subscription 1']);
    await leaveFirst!();
    await leaveSecond!();
    expect(await published(channel)).toBe(0);
  });

  it('reject with the error of a failed SUBSCRIBE, keep no listener, and subscribe on the next try', async () => {
    // Not connected yet and no offline queue: the first SUBSCRIBE fails at once, and starts connecting.
    const subscriber = redis.createClient(0, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: null });
    const adapter = new IoredisAdapter(redis.createClient(0), { subscriber });
    const channel = channelNamed('failed');
    await expect(subscribe(adapter, channel)).rejects.toThrow("Stream isn't writeable");
    expect(subscriber.listenerCount('message')).toBe(0);

    if (subscriber.status !== 'ready') await once(subscriber, 'ready');
    let heard = 0;
    const leave = await subscribe(adapter, channel, () => (heard += 1));
    expect(await published(channel)).toBe(1);
    await waitFor(() => heard === 1);
    await leave();
  });

  it('leave one message listener for 1,000 adapters, so Node never warns of a leak', async () => {
    const { subscriber } = sharedSubscriber();
    const client = redis.createClient(0);
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      if (warning.name === 'MaxListenersExceededWarning' && Reflect.get(warning, 'emitter') === subscriber) warnings.push(warning.message);
    };
    // Jest gives tests a copy of `process` that never sees Node's warnings; a function made by the
    // outer realm (that of the `node:events` module) reads the real one.
    const realProcess = (EventEmitter.constructor as FunctionConstructor)('return process')() as NodeJS.Process;
    realProcess.on('warning', onWarning);
    try {
      const adapters = Array.from({ length: 1_000 }, () => new IoredisAdapter(client, { subscriber }));
      const channels = Array.from({ length: 10 }, (_, index) => channelNamed(`many-${index}`));
      let heard = 0;
      const leaves = await Promise.all(
        adapters.map((adapter, index) => subscribe(adapter, channels[index % channels.length] as string, () => (heard += 1))),
      );
      expect(subscriber.listenerCount('message')).toBe(1);
      for (const channel of channels) expect(await published(channel)).toBe(1);
      await waitFor(() => heard === 1_000);

      await Promise.all(leaves.map((leave) => leave()));
      expect(subscriber.listenerCount('message')).toBe(0);
      for (const channel of channels) expect(await published(channel)).toBe(0);
      // Warnings are emitted on the next tick: give them one before looking.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      realProcess.off('warning', onWarning);
    }
  });
});

describe('two Redlocks whose adapters share one subscriber', () => {
  let prefix = '';
  beforeEach(() => {
    prefix = `subscription-registry-test:${randomUUID()}:`;
  });
  afterEach(async () => {
    const keys = await redis.createClient(0).keys(`${prefix}*`);
    expect(keys).toEqual([]);
  });

  it("wake a waiter of one by the release notification after the other's subscription to the channel ended", async () => {
    const { adapter } = sharedSubscriber();
    const [first, second] = [observed(adapter()), observed(adapter())];
    // A retry timer far beyond the bound below: only a release notification can wake the waiter in time.
    const options = { keyPrefix: prefix, retryDelayMs: 10_000, retryJitterMs: 0, nodeTimeoutMs: 1_000 };
    const [waiterRedlock, leaverRedlock] = [new Redlock([first.adapter], options), new Redlock([second.adapter], options)];
    const holder = new Redlock([new IoredisAdapter(redis.createClient(0))], { keyPrefix: prefix });
    const lock = await holder.acquire('orders:shared-subscriber', 30_000);

    const giveUp = new AbortController();
    const leaving = leaverRedlock.acquire('orders:shared-subscriber', 30_000, { signal: giveUp.signal });
    await second.subscribed;
    const waiting = waiterRedlock.acquire('orders:shared-subscriber', 30_000);
    await first.subscribed;
    giveUp.abort(new Error('gave up'));
    await expect(leaving).rejects.toThrow('gave up');
    // A second after its last waiter left, the leaver's Redlock ends its subscription to the channel.
    await second.unsubscribed;

    await lock.release();
    const next = await within(5_000, waiting, 'The waiter was not woken by the release notification within 5 s');
    expect(next.state).toBe('held');
    await next.release();
  });
});

/** An adapter that delegates to `inner` and tells when its first subscription began and ended. */
function observed(inner: IoredisAdapter): {
  readonly adapter: RedisAdapter;
  readonly subscribed: Promise<void>;
  readonly unsubscribed: Promise<void>;
} {
  let onSubscribed = (): void => undefined;
  let onUnsubscribed = (): void => undefined;
  const subscribed = new Promise<void>((resolve) => (onSubscribed = resolve));
  const unsubscribed = new Promise<void>((resolve) => (onUnsubscribed = resolve));
  const adapter: RedisAdapter = {
    evalsha: (sha1, keys, args) => inner.evalsha(sha1, keys, args),
    eval: (source, keys, args) => inner.eval(source, keys, args),
    client: inner.client,
    async subscribe(channel, onMessage) {
      const unsubscribe = await subscribe(inner, channel, onMessage);
      onSubscribed();
      return async () => {
        await unsubscribe();
        onUnsubscribed();
      };
    },
  };
  return { adapter, subscribed, unsubscribed };
}

/** Resolves like `promise`, or rejects with `message` if it takes longer than `timeoutMs`. */
async function within<T>(timeoutMs: number, promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` every 10 ms for at most 2 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let tries = 0; tries < 200 && !condition(); tries += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}
