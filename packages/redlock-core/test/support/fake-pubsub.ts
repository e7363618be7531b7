import type { Unsubscribe } from '../../src/index.js';
import { listenersScript } from '../../src/scripts/listeners.js';
import { permitReleaseScript } from '../../src/scripts/permit-release.js';
import { releaseChannelOf, releaseScript } from '../../src/scripts/release.js';
import type { FakeClock } from './fake-clock.js';
import { FakeNode } from '../../src/testing/fake-adapter.js';
import { FakeKeyspace } from '../../src/testing/fake-keyspace.js';
import { grantingNode } from '../../src/testing/fake-nodes.js';

/** The pub/sub side of one fake server: channels and their subscribers, shared by its connections. */
class FakeBus {
  readonly subscribers = new Map<string, Set<() => void>>();
  /**
   * Listeners of other processes that never act, counted per channel rather than called: a test with
   * 100,000 of them would otherwise spend seconds calling nothing at every message.
   */
  readonly idleListeners = new Map<string, number>();
  readonly published: string[] = [];

  publish(channel: string): void {
    this.published.push(channel);
    for (const subscriber of [...(this.subscribers.get(channel) ?? [])]) subscriber();
  }

  /** How many subscriptions are active on every channel together. */
  get subscriptionCount(): number {
    return [...this.subscribers.values()].reduce((count, set) => count + set.size, 0);
  }
}

const busOf = new WeakMap<FakeKeyspace, FakeBus>();

function bus(keyspace: FakeKeyspace): FakeBus {
  let found = busOf.get(keyspace);
  if (found === undefined) {
    found = new FakeBus();
    busOf.set(keyspace, found);
  }
  return found;
}

/**
 * A {@link FakeNode} that also offers the optional `subscribe` capability. The release script announces
 * each key (deleted or not) when its reply is sent (the real script publishes as it deletes; the difference is
 * the node's reply latency, which these tests keep at 0 where it matters).
 */
export class PubSubFakeNode extends FakeNode {
  /** Every SUBSCRIBE this connection sent. */
  readonly subscribeCalls: string[] = [];
  /** Makes `subscribe` reject, as a node that refuses SUBSCRIBE would. */
  subscribeError: Error | undefined;
  /** Makes `subscribe` never settle, as a hung node would. */
  isSubscribeHanging = false;
  /** Makes the listeners script throw synchronously, as a faulty adapter might. */
  isCountThrowing = false;
  /** How long a SUBSCRIBE takes to be in place (and `subscribe` to resolve), as on a slow node: 0 by default. */
  subscribeDelayMs = 0;
  readonly #clock: FakeClock;

  constructor(clock: FakeClock, keyspace: FakeKeyspace = new FakeKeyspace(clock)) {
    super(clock, keyspace);
    this.#clock = clock;
  }

  override async evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    // The listeners script counts a channel's subscribers on this server (PUBSUB NUMSUB).
    if (sha1 === listenersScript.sha1) {
      const { subscribers, idleListeners } = bus(this.keyspace);
      const channel = releaseChannelOf(keys[0] ?? '');
      return (subscribers.get(channel)?.size ?? 0) + (idleListeners.get(channel) ?? 0);
    }
    return this.#announce(sha1, keys, await super.evalsha(sha1, keys, args));
  }

  /** The listeners script by EVAL throws at once with {@link isCountThrowing}: not async, so it can. */
  override eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    if (this.isCountThrowing && source === listenersScript.source) throw new Error('a faulty adapter');
    return this.#evalAsync(source, keys, args);
  }

  async #evalAsync(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    if (source === listenersScript.source) return this.evalsha(listenersScript.sha1, keys, args);
    const announcing = [releaseScript, permitReleaseScript].find((script) => script.source === source);
    return this.#announce(announcing?.sha1 ?? '', keys, await super.eval(source, keys, args));
  }

  subscribe(channel: string, onMessage: () => void): Promise<Unsubscribe> {
    this.subscribeCalls.push(channel);
    if (this.subscribeError !== undefined) return Promise.reject(this.subscribeError);
    if (this.isSubscribeHanging) return new Promise(() => undefined);
    if (this.subscribeDelayMs > 0) {
      const delayMs = this.subscribeDelayMs;
      return new Promise<void>((resolve) => this.#clock.setTimeout(() => resolve(), delayMs)).then(() => this.#subscribeNow(channel, onMessage));
    }
    return this.#subscribeNow(channel, onMessage);
  }

  #subscribeNow(channel: string, onMessage: () => void): Promise<Unsubscribe> {
    const subscribers = bus(this.keyspace).subscribers;
    const set = subscribers.get(channel) ?? new Set();
    subscribers.set(channel, set);
    set.add(onMessage);
    return Promise.resolve(async () => {
      set.delete(onMessage);
    });
  }

  /** Subscribes `count` listeners of other processes to `channel` on this node's server, which never act. */
  addIdleListeners(channel: string, count: number): void {
    const { idleListeners } = bus(this.keyspace);
    idleListeners.set(channel, (idleListeners.get(channel) ?? 0) + count);
  }

  /** Publishes on `channel` of this node's server, as any client of the server can: a forged announcement. */
  publish(channel: string): void {
    bus(this.keyspace).publish(channel);
  }

  /** Channels published on this node's server, in order. */
  get published(): readonly string[] {
    return bus(this.keyspace).published;
  }

  /** Subscriptions active on this node's server. */
  get subscriptionCount(): number {
    return bus(this.keyspace).subscriptionCount;
  }

  /** A second connection to the same server, also able to subscribe. */
  override connectAnotherClient(): PubSubFakeNode {
    return new PubSubFakeNode(this.#clock, this.keyspace);
  }

  /**
   * The release script announces each of its keys, and a permit's release its semaphore's key (the quiet
   * ones, for a failed attempt's keys, none).
   */
  #announce(sha1: string, keys: readonly string[], reply: unknown): unknown {
    if ((sha1 === releaseScript.sha1 || sha1 === permitReleaseScript.sha1) && typeof reply === 'number') {
      for (const key of keys) bus(this.keyspace).publish(releaseChannelOf(key));
    }
    return reply;
  }
}

/** A healthy pub/sub-capable node with every script cached. */
export function pubSubNode(clock: FakeClock): PubSubFakeNode {
  return new PubSubFakeNode(clock, grantingNode(clock).keyspace);
}
