import { describe, expect, it } from '@jest/globals';
import { type Clock, type Lock, LockAcquireError, Redlock, type RedlockOptions } from '../../src/index.js';
import { WAKE_REST_MS } from '../../src/acquire/retry.js';
import { waitForRetry } from '../../src/acquire/wait-loop.js';
import type { Waiter } from '../../src/acquire/wait-queue.js';
import { LINGER_ANNOUNCEMENTS, leadNodeIndexOf, SUBSCRIPTION_LINGER_MS } from '../../src/nodes/release-notifications.js';
import { createNodeSet } from '../../src/nodes/node-state.js';
import { nodeDistanceMsFor, nodeTimeoutMsFor } from '../../src/nodes/node-latency.js';
import { resolveNodes } from '../../src/settings/resolve-nodes.js';
import { resolveOptions } from '../../src/settings/resolve-options.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNodes } from '../../src/testing/fake-nodes.js';
import { type PubSubFakeNode, pubSubNode } from '../support/fake-pubsub.js';

/** The lead node of `keys` over the nodes of `set`, by each node's current distance, as the wait loop picks it. */
function leadNodeIndexInSet(set: ReturnType<typeof createNodeSet>, keys: readonly string[]): number {
  return leadNodeIndexOf(keys, set.nodes.map((node) => nodeDistanceMsFor(node, set.options)));
}

/** The lead node of `keys` for clients that see all `nodeCount` nodes equally near (the hash of the smallest key modulo the count). */
function sharedLeadNodeOf(keys: readonly string[], nodeCount: number): number {
  return leadNodeIndexOf(keys, Array<number>(nodeCount).fill(50));
}

/** Five pub/sub-capable nodes, a holder's Redlock and a waiter's, each over connections of its own. */
function setup(options: RedlockOptions = {}): { clock: FakeClock; nodes: PubSubFakeNode[]; holder: Redlock; waiter: Redlock } {
  const clock = new FakeClock();
  const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
  const holder = new Redlock(nodes, { clock, retryCount: 0 });
  const waiter = new Redlock(
    nodes.map((node) => node.connectAnotherClient()),
    { clock, retryDelayMs: 200, retryJitterMs: 0, ...options },
  );
  return { clock, nodes, holder, waiter };
}

/** A waiter over connections of its own, with its connection to the lead node of "orders:42" changed by `changeLead`. */
function waiterWithLead(clock: FakeClock, nodes: readonly PubSubFakeNode[], changeLead: (connection: PubSubFakeNode) => void): Redlock {
  const connections = nodes.map((node) => node.connectAnotherClient());
  changeLead(connections[leadNodeIndexOf(['orders:42'], [50, 50, 50, 50, 50])]!);
  return new Redlock(connections, { clock, retryDelayMs: 200, retryJitterMs: 0 });
}

/** Awaits `releasing`, and expects `waiting` to get the lock within 5 ms, long before its retry timer. */
async function expectHandOffAtRelease(clock: FakeClock, releasing: Promise<unknown>, waiting: Promise<Lock>): Promise<void> {
  await clock.runUntilSettled(releasing);
  const releasedAtMs = clock.now();
  const { value: lock } = await within(clock, 10, waiting);
  expect(lock?.state).toBe('held');
  expect(clock.now() - releasedAtMs).toBeLessThanOrEqual(5);
  await clock.runUntilSettled((lock as Lock).release());
}

/**
 * Awaits `releasing`, expects `waiting` to get its hold within `windowMs`, releases that hold, and returns
 * how long after the release it came, in milliseconds.
 */
async function handOffMsAfter(clock: FakeClock, releasing: Promise<unknown>, waiting: Promise<{ release(): Promise<unknown> }>, windowMs: number): Promise<number> {
  await clock.runUntilSettled(releasing);
  const releasedAtMs = clock.now();
  const { value, atMs } = await within(clock, windowMs, waiting);
  expect(value).toBeDefined();
  await clock.runUntilSettled(value!.release());
  return atMs - releasedAtMs;
}

/** 1 for the lead node of `resource` (on five nodes with equal timeouts), 0 for the others. */
/** A client's own connections to `nodes`, node `nearNodeIndex` nearer (a shorter timeout): its lead node. */
function connectionsNearTo(nodes: readonly PubSubFakeNode[], nearNodeIndex: number): { adapter: PubSubFakeNode; timeoutMs: number }[] {
  return nodes.map((node, nodeIndex) => ({ adapter: node.connectAnotherClient(), timeoutMs: nodeIndex === nearNodeIndex ? 30 : 80 }));
}

/**
 * Five pub/sub nodes, a holder over them (which sees every node as near), and a waiter over connections of
 * its own whose lead node for `resource` is near (a 30 ms timeout, the others 80 ms) and not the holder's
 * lead node (`announce`, for the node where clients that see every node alike would listen).
 */
function waiterLedBesideAnnounce(resource: string, retryDelayMs = 5_000) {
  const clock = new FakeClock();
  const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
  const holder = new Redlock(nodes, { clock, retryCount: 0 });
  const announce = sharedLeadNodeOf([resource], nodes.length);
  const lead = (announce + 2) % nodes.length;
  const connections = connectionsNearTo(nodes, lead);
  const waiter = new Redlock(connections, { clock, retryDelayMs, retryJitterMs: 0 });
  return { clock, nodes, holder, announce, lead, connections, waiter };
}

function leadOnly(resource: string): number[] {
  const lead = leadNodeIndexOf([resource], [50, 50, 50, 50, 50]);
  return [0, 1, 2, 3, 4].map((nodeIndex) => (nodeIndex === lead ? 1 : 0));
}

/** Runs the fake clock until `promise` settles or `ms` of virtual time passed. */
async function within<T>(clock: FakeClock, ms: number, promise: Promise<T>): Promise<{ value?: T; error?: unknown; atMs: number }> {
  let result: { value?: T; error?: unknown } | undefined;
  promise.then(
    (value) => (result = { value }),
    (error: unknown) => (result = { error }),
  );
  const deadline = clock.now() + ms;
  while (result === undefined && clock.now() < deadline) await clock.advance(1);
  return { ...result, atMs: clock.now() };
}

describe('prompt hand-off through release notifications', () => {
  it('acquires the moment the holder releases, not at its next retry timer', async () => {
    const { clock, holder, waiter } = setup();
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(37);
    // Well before the 200 ms retry timer: the release notification woke the waiter.
    await expectHandOffAtRelease(clock, held.release(), waiting);
  });

  it('hands a lock of several resources over to a waiter that lists them in another order', async () => {
    // Two resources whose own lead and announce nodes differ, so that only a choice made from both finds them.
    const resources = ['account:1', 'account:2', 'account:3', 'account:4'];
    const nodesOf = (resource: string): number[] => {
      const announce = sharedLeadNodeOf([resource], 5);
      return [leadNodeIndexOf([resource], [50, 50, 50, 50, 50]), announce, (announce + 1) % 5];
    };
    const pair = resources.flatMap((a) => resources.map((b) => [a, b] as const)).find(([a, b]) => a < b && !nodesOf(b).includes(nodesOf(a)[0]!));
    expect(pair).toBeDefined();
    const [first, second] = pair!;
    const { clock, holder, waiter } = setup();
    const held = await clock.runUntilSettled(holder.acquire([first, second], 10_000));
    // A transfer back: the same lock, the resources the other way round.
    const waiting = waiter.acquire([second, first], 10_000);
    await clock.advance(37);
    await expectHandOffAtRelease(clock, held.release(), waiting);
  });

  it('falls back to the retry timer when the nodes cannot notify', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const holder = new Redlock(nodes, { clock, retryCount: 0 });
    const waiter = new Redlock(
      nodes.map((node) => node.connectAnotherClient()),
      { clock, retryDelayMs: 200, retryJitterMs: 0 },
    );
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(37);
    await clock.runUntilSettled(held.release());
    const { value: lock, atMs } = await within(clock, 500, waiting);
    expect(lock?.state).toBe('held');
    expect(atMs).toBe(200);
  });

  it('subscribes only after the lock was found held, on the lead node once per resource, and unsubscribes a while after the end', async () => {
    const { clock, nodes, holder, waiter } = setup();
    const onLeadOnly = leadOnly('orders:42');
    const free = await clock.runUntilSettled(waiter.acquire('free', 10_000));
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0, 0, 0]);
    await clock.runUntilSettled(free.release());

    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const first = waiter.acquire('orders:42', 10_000);
    const second = waiter.acquire('orders:42', 10_000);
    await clock.advance(10);
    // Two waiters of one Redlock share one subscription, on the node they would ask first.
    expect(nodes.map((node) => node.subscriptionCount)).toEqual(onLeadOnly);
    await clock.runUntilSettled(held.release());
    const firstLock = await clock.runUntilSettled(Promise.race([first, second]));
    await clock.runUntilSettled(firstLock.release());
    const both = await clock.runUntilSettled(Promise.all([first, second]));
    await clock.runUntilSettled(both.find((lock) => lock !== firstLock)!.release());
    // The subscriptions outlive the last waiter a little, in case the resource is contended again soon.
    await clock.advance(SUBSCRIPTION_LINGER_MS - 1);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual(onLeadOnly);
    await clock.advance(1);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0, 0, 0]);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('keeps the subscriptions for a waiter that comes back within the linger time', async () => {
    const { clock, nodes, holder, waiter } = setup();
    const waiterConnections = nodes.map((node) => node.connectAnotherClient());
    const sameWaiter = new Redlock(waiterConnections, { clock, retryDelayMs: 200, retryJitterMs: 0 });
    for (let round = 0; round < 3; round += 1) {
      const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
      const waiting = sameWaiter.acquire('orders:42', 10_000);
      await clock.advance(10);
      await clock.runUntilSettled(held.release());
      await clock.runUntilSettled((await clock.runUntilSettled(waiting)).release());
      await clock.advance(SUBSCRIPTION_LINGER_MS / 2);
    }
    expect(waiterConnections.map((connection) => connection.subscribeCalls.length)).toEqual(leadOnly('orders:42'));
    await clock.advance(SUBSCRIPTION_LINGER_MS);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0, 0, 0]);
    void waiter;
  });

  it('ends a lingering subscription early once it heard as many releases as re-subscribing costs, with no waiter here', async () => {
    const { clock, nodes, holder, waiter } = setup();
    const onLeadOnly = leadOnly('orders:42');
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(10);
    await clock.runUntilSettled(held.release());
    await clock.runUntilSettled((await clock.runUntilSettled(waiting)).release());
    // Lingering: releases (the waiter's own first) are heard here for nobody until re-subscribing would have cost less.
    for (let release = 2; release <= LINGER_ANNOUNCEMENTS; release += 1) {
      expect(nodes.map((node) => node.subscriptionCount)).toEqual(onLeadOnly);
      await clock.runUntilSettled((await clock.runUntilSettled(holder.acquire('orders:42', 10_000))).release());
      await clock.advance(1);
    }
    expect(clock.now()).toBeLessThan(SUBSCRIPTION_LINGER_MS);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0, 0, 0]);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('wakes each waiter once per release, and lets it ask the lead node alone whether the lock is still free', async () => {
    const { clock, nodes, holder } = setup();
    const lead = leadNodeIndexOf(['orders:42'], [50, 50, 50, 50, 50]);
    const waiters = Array.from({ length: 4 }, () => {
      const connections = nodes.map((node) => node.connectAnotherClient());
      return { connections, redlock: new Redlock(connections, { clock, retryDelayMs: 1_000, retryJitterMs: 0 }) };
    });
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const waiting = waiters.map(({ redlock }) => redlock.acquire('orders:42', 10_000));
    await clock.advance(10);
    const before = waiters.map(({ connections }) => connections.map((connection) => connection.acquireRequests().length));
    await clock.runUntilSettled(held.release());
    await clock.advance(5);
    const after = waiters.map(({ connections }) => connections.map((connection) => connection.acquireRequests().length));
    const sent = after.map((counts, waiterIndex) => counts.map((count, nodeIndex) => count - before[waiterIndex]![nodeIndex]!));
    // One waiter won the lead node and then asked the others; the rest asked the lead node once, and no one else.
    const winners = sent.filter((counts) => counts.every((count) => count === 1));
    const losers = sent.filter((counts) => counts.some((count, nodeIndex) => nodeIndex !== lead && count === 0));
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(3);
    for (const counts of losers) expect(counts).toEqual(counts.map((_, nodeIndex) => (nodeIndex === lead ? 1 : 0)));
    // Nobody cleaned up: the losers set nothing.
    expect(waiters.flatMap(({ connections }) => connections.map((connection) => connection.callsTo('release').length))).toEqual(Array(20).fill(0));
    // Each release hands the lock on to one more waiter, until every waiter had it.
    const holders = new Set<Lock>();
    for (let handOff = 0; handOff < 4; handOff += 1) {
      const pending = waiting.map((promise) => promise.then((lock) => (holders.has(lock) ? new Promise<Lock>(() => undefined) : lock)));
      const next = await clock.runUntilSettled(Promise.race(pending));
      expect(next.state).toBe('held');
      holders.add(next);
      await clock.runUntilSettled(next.release());
    }
    expect(holders.size).toBe(4);
  });

  it.each(['signal', 'waitMs'] as const)(
    'asks no other node in a woken attempt whose lead node hangs once its %s ended, and removes what it set',
    async (how) => {
      const clock = new FakeClock();
      const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
      const holder = new Redlock(nodes, { clock, retryCount: 0 });
      const connections = nodes.map((node) => node.connectAnotherClient());
      const waiter = new Redlock(connections, { clock, retryDelayMs: 5_000, retryJitterMs: 0 });
      const lead = leadNodeIndexOf(['orders:42'], [50, 50, 50, 50, 50]);
      const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
      const controller = new AbortController();
      const waiting = waiter.acquire('orders:42', 10_000, how === 'signal' ? { signal: controller.signal } : { waitMs: 100 });
      await clock.advance(90);
      const asked = connections.map((connection) => connection.acquireRequests().length);
      // A wake (here forged: nothing was released) while the lead node hangs.
      connections[lead]!.hang();
      nodes[lead]!.publish('redlock:released:orders:42');
      await clock.advance(10);
      controller.abort(new Error('stop'));
      const { error } = await within(clock, 1_000, waiting);
      // Once the lead node's call timed out and its cleanup was sent: the promise of no key left behind.
      expect(error).toBeDefined();
      if (how === 'waitMs') {
        expect((error as LockAcquireError).attempts.at(-1)?.nodes.map((node) => 'error' in node && node.error.message.includes('was not asked yet'))).toEqual([0, 1, 2, 3, 4].map((nodeIndex) => nodeIndex !== lead));
        // The summary tells them from the lead node, which timed out.
        expect((error as LockAcquireError).message).toContain('cut off by the wait: 4 not asked, 1 timed out');
      }
      // The woken attempt asked the lead node only, and nothing after the end.
      const askedAfter = connections.map((connection) => connection.acquireRequests().length);
      expect(askedAfter).toEqual(asked.map((count, nodeIndex) => (nodeIndex === lead ? count + 1 : count)));
      connections[lead]!.resume();
      await clock.advance(1_000);
      // The holder's lock is untouched everywhere.
      expect(nodes.map((node) => node.keyspace.get('orders:42'))).toEqual(Array(5).fill(held.token));
    },
  );

  it('wakes the waiters of a lock that was granted without its lead node when it is released', async () => {
    const { clock, nodes, holder, waiter } = setup();
    const lead = leadNodeIndexOf(['orders:42'], [50, 50, 50, 50, 50]);
    // The lead node refuses the holder (a stale key about to expire): it locks on the other four.
    nodes[lead]!.keyspace.set('orders:42', 'stale', 5);
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    await clock.advance(10);
    expect(nodes[lead]!.keyspace.get('orders:42')).toBeUndefined();
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(100);
    // The release announces itself on the lead node too, where it has nothing to delete.
    await expectHandOffAtRelease(clock, held.release(), waiting);
  });

  it('hands off between clients whose lead nodes differ (each near its own datacenter): each hears the release on its own', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const equalLead = sharedLeadNodeOf(['orders:42'], 5);
    const holderLead = (equalLead + 2) % 5;
    const waiterLead = (equalLead + 3) % 5;
    const holder = new Redlock(connectionsNearTo(nodes, holderLead), { clock, retryCount: 0 });
    const waiter = new Redlock(connectionsNearTo(nodes, waiterLead), { clock, retryDelayMs: 200, retryJitterMs: 0 });
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(37);
    // The waiter listens on its own lead node, and nowhere else.
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 1, 2, 3, 4].map((nodeIndex) => (nodeIndex === waiterLead ? 1 : 0)));
    // Every node announces its own release: the waiter hears its lead node's.
    await clock.runUntilSettled(held.release());
    expect(nodes.map((node) => node.published.length)).toEqual([1, 1, 1, 1, 1]);
    await expectHandOffAtRelease(clock, Promise.resolve(), waiting);
  });

  it('acts on a release heard on its lead node while another node does not answer its SUBSCRIBE', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const announceNodeIndex = sharedLeadNodeOf(['orders:42'], 5);
    const lead = (announceNodeIndex + 2) % 5;
    // Both near the same lead node; the announce node is far, so the largest node timeout is long.
    const connections = (): { adapter: PubSubFakeNode; timeoutMs: number }[] =>
      nodes.map((node, nodeIndex) => ({ adapter: node.connectAnotherClient(), timeoutMs: nodeIndex === lead ? 30 : nodeIndex === announceNodeIndex ? 300 : 80 }));
    const holder = new Redlock(connections(), { clock, retryCount: 0 });
    const waiterConnections = connections();
    waiterConnections[announceNodeIndex]!.adapter.isSubscribeHanging = true;
    const waiter = new Redlock(waiterConnections, { clock, retryDelayMs: 1_000, retryJitterMs: 0 });
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(20);
    // Announced on the holder's lead node, the waiter's too: heard there, though the waiter is not yet ready.
    await expectHandOffAtRelease(clock, held.release(), waiting);
  });

  it('looks once more when its subscriptions are in place, after a wake ended its wait for them', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const other = new Redlock(nodes, { clock, retryCount: 0 });
    // The waiter's SUBSCRIBEs take 100 ms on every node.
    const connections = nodes.map((node) => Object.assign(node.connectAnotherClient(), { subscribeDelayMs: 100, latencyMs: 1 }));
    const waiter = new Redlock(connections, { clock, retryDelayMs: 2_000, retryJitterMs: 0 });
    const first = await clock.runUntilSettled(waiter.acquire('r', 10_000, { retryCount: 0 }));
    const waiting = waiter.acquire('r', 10_000);
    await clock.advance(10);
    // A local release wakes the waiter while it waits for its subscriptions; another process takes the lock first.
    void first.release();
    await clock.advance(0.5);
    const taken = await clock.runUntilSettled(other.acquire('r', 10_000));
    // Released before the subscriptions are in place: its announcement reaches nobody.
    await clock.advance(30);
    await clock.runUntilSettled(taken.release());
    const releasedAtMs = clock.now();
    const { value: lock, atMs } = await within(clock, 3_000, waiting);
    expect(lock?.state).toBe('held');
    // At the look once subscribed (100 ms), not at the 2 s retry timer.
    expect(atMs - releasedAtMs).toBeLessThan(100);
  });

  it('looks again when its subscriptions come after their wait timed out: a release between the two is not missed', async () => {
    const { clock, nodes, holder } = setup();
    // The waiter's SUBSCRIBEs take 100 ms, twice its nodes' 50 ms timeout: its wait for them times out first.
    const connections = nodes.map((node) => Object.assign(node.connectAnotherClient(), { subscribeDelayMs: 100, latencyMs: 1 }));
    const waiter = new Redlock(connections, { clock, retryDelayMs: 2_000, retryJitterMs: 0 });
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    // Past the look at the timed-out wait (some 55 ms), before the subscriptions are in place (some 105 ms).
    await clock.advance(70);
    await clock.runUntilSettled(held.release());
    const releasedAtMs = clock.now();
    const { value: lock, atMs } = await within(clock, 3_000, waiting);
    expect(lock?.state).toBe('held');
    // When the subscriptions came, not at the 2 s retry timer.
    expect(atMs - releasedAtMs).toBeLessThan(100);
  });

  it('watches every other node when the lead node cannot subscribe, and still acquires at the release', async () => {
    const { clock, nodes, holder } = setup();
    const waiter = waiterWithLead(clock, nodes, (lead) => (lead.subscribeError = new Error('ERR unknown command')));
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(37);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual(leadOnly('orders:42').map((isLead) => 1 - isLead));
    await expectHandOffAtRelease(clock, held.release(), waiting);
  });

  it('wakes on any node and asks every node when the lead node does not answer', async () => {
    const { clock, nodes, holder } = setup();
    const waiter = waiterWithLead(clock, nodes, (lead) => (lead.isDown = true));
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(37);
    await expectHandOffAtRelease(clock, held.release(), waiting);
  });

  it('does not count attempts woken by a release against retryCount', async () => {
    // The lock changes hands 20 times while the waiter, allowed 2 timed retries, keeps trying.
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const waiterConnections = nodes.map((node) => node.connectAnotherClient());
    const waiter = new Redlock(waiterConnections, { clock, retryCount: 2, retryDelayMs: 1_000, retryJitterMs: 0 });
    const others = Array.from({ length: 2 }, () => new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryCount: 0 }));
    let lock = await clock.runUntilSettled(others[0]!.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(5);
    for (let handOff = 0; handOff < 20; handOff += 1) {
      // The fake runs a command as it is sent and announces a release with its reply, so the next owner
      // takes the lock before the woken waiter's attempt arrives: the waiter loses every race.
      const release = lock.release();
      const next = others[handOff % 2]!.acquire('orders:42', 10_000);
      await clock.runUntilSettled(release);
      lock = await clock.runUntilSettled(next);
      await clock.advance(5);
    }
    await clock.runUntilSettled(lock.release());
    const { value: acquired, error, atMs } = await within(clock, 50, waiting);
    expect(error).toBeUndefined();
    // Every release woke it, and it asked the lead node each time (a look that is no attempt: nothing was set).
    const lead = leadNodeIndexOf(['orders:42'], [50, 50, 50, 50, 50]);
    expect(waiterConnections[lead]!.acquireRequests().length).toBeGreaterThan(20);
    expect(atMs).toBeLessThan(1_000);
    await clock.runUntilSettled((acquired as Lock).release());
  });

  it('still gives up after its timed retries when no release comes', async () => {
    const { clock, nodes, holder, waiter } = setup({ retryCount: 2, retryDelayMs: 100 });
    await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const { error, atMs } = await within(clock, 1_000, waiter.acquire('orders:42', 10_000));
    expect(error).toBeInstanceOf(LockAcquireError);
    // The first attempt, then the two timed retries; the look right after subscribing asked the lead node only.
    expect((error as LockAcquireError).attempts).toHaveLength(3);
    expect(atMs).toBe(200);
    await clock.advance(SUBSCRIPTION_LINGER_MS);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0, 0, 0]);
  });

  it('falls back to the timer when subscribing fails or hangs', async () => {
    const { clock, nodes, holder } = setup();
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const hangingWaiter = new Redlock(
      nodes.map((node) => Object.assign(node.connectAnotherClient(), { isSubscribeHanging: true })),
      { clock, retryDelayMs: 200, retryJitterMs: 0, nodeTimeoutMs: 50 },
    );
    const failingWaiter = new Redlock(
      nodes.map((node) => Object.assign(node.connectAnotherClient(), { subscribeError: new Error('ERR unknown command') })),
      { clock, retryDelayMs: 200, retryJitterMs: 0 },
    );
    const hanging = hangingWaiter.acquire('orders:42', 10_000);
    const failing = failingWaiter.acquire('orders:42', 10_000);
    await clock.advance(100);
    await clock.runUntilSettled(held.release());
    const [a, b] = await Promise.all([within(clock, 500, hanging), within(clock, 500, failing)]);
    const locks = [a.value, b.value].filter((lock): lock is Lock => lock !== undefined);
    expect(locks).toHaveLength(1);
    await clock.runUntilSettled(locks[0]!.release());
  });

  it('announces the release of a held lock, but not the cleanup of a failed attempt', async () => {
    const { clock, nodes, holder, waiter } = setup({ retryCount: 0 });
    // Someone else holds 3 nodes: the waiter wins 2, fails, and removes its 2 keys without announcing it.
    for (const node of nodes.slice(2)) node.keyspace.set('orders:42', 'someone-else', 10_000);
    const { error } = await within(clock, 100, waiter.acquire('orders:42', 10_000));
    expect(error).toBeInstanceOf(LockAcquireError);
    expect(nodes.map((node) => node.published)).toEqual(Array(5).fill([]));
    for (const node of nodes.slice(2)) node.keyspace.delete('orders:42');
    const lock = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    await clock.runUntilSettled(lock.release());
    // Every node announces its own release: a waiter listens to its lead node, whichever that is.
    expect(nodes.map((node) => node.published)).toEqual(Array(5).fill(['redlock:released:orders:42']));
  });
});

/** `clock`, but its timers fire `earlyMs` before their time (at once if they are shorter). */
function timersEarlyBy(clock: FakeClock, earlyMs: number): Clock {
  return {
    now: () => clock.now(),
    wallNow: () => clock.wallNow(),
    setTimeout: (callback, ms) => clock.setTimeout(callback, ms - earlyMs),
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
}

describe('prompt hand-off of semaphores and read-write locks', () => {
  /** A holder's and a waiter's claim of one kind on "jobs", each Redlock over connections of its own. */
  type Claim = (redlock: Redlock, ttlMs: number) => Promise<{ release(): Promise<unknown> }>;
  const kinds: readonly { kind: string; claim: Claim }[] = [
    { kind: 'semaphore', claim: (redlock, ttlMs) => redlock.semaphore('jobs', { limit: 1 }).acquire(ttlMs) },
    { kind: 'read-write lock', claim: (redlock, ttlMs) => redlock.readWriteLock('jobs').acquireWrite(ttlMs) },
  ];

  for (const { kind, claim } of kinds) {
    it(`a ${kind}'s waiter looks once more when its subscriptions are in place: a release before that is not missed`, async () => {
      const clock = new FakeClock();
      const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
      const holder = new Redlock(nodes, { clock, retryCount: 0 });
      // The waiter's SUBSCRIBEs take 100 ms on every node.
      const connections = nodes.map((node) => Object.assign(node.connectAnotherClient(), { subscribeDelayMs: 100 }));
      const waiter = new Redlock(connections, { clock, retryDelayMs: 2_000, retryJitterMs: 0 });
      const held = await clock.runUntilSettled(claim(holder, 10_000));
      const waiting = claim(waiter, 10_000);
      await clock.advance(10);
      // Released while the waiter subscribes: its announcement reaches nobody. The waiter gets it at the look
      // once subscribed (100 ms after the first attempt), not at the 2 s retry timer.
      expect(await handOffMsAfter(clock, held.release(), waiting, 3_000)).toBeLessThan(100);
    });

    it(`a ${kind}'s waiter listens on its lead node only, and no other node that is slow to subscribe`, async () => {
      const { clock, holder, announce, lead, connections, waiter } = waiterLedBesideAnnounce('jobs', 2_000);
      // The node every client of equal nodes would lead on is far (an 80 ms timeout; its SUBSCRIBE takes
      // 60 ms), the waiter's lead node near (30 ms).
      connections[announce]!.adapter.subscribeDelayMs = 60;
      const held = await clock.runUntilSettled(claim(holder, 10_000));
      const waiting = claim(waiter, 10_000);
      await clock.advance(500);
      expect(connections.map((connection) => connection.adapter.subscribeCalls.length > 0)).toEqual([0, 1, 2, 3, 4].map((nodeIndex) => nodeIndex === lead));
      await clock.runUntilSettled(held.release());
      const { value } = await within(clock, 100, waiting);
      expect(value).toBeDefined();
      await clock.runUntilSettled(value!.release());
    });

    it(`a ${kind}'s waiter watches every node once its lead node stops answering, and acquires at the release`, async () => {
      const clock = new FakeClock();
      const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
      const holder = new Redlock(nodes, { clock, retryCount: 0 });
      const connections = nodes.map((node) => node.connectAnotherClient());
      const waiter = new Redlock(connections, { clock, retryDelayMs: 1_000, retryJitterMs: 0 });
      const held = await clock.runUntilSettled(claim(holder, 10_000));
      const waiting = claim(waiter, 10_000);
      await clock.advance(50);
      // The waiter listens on its lead node only.
      const listened = nodes.flatMap((node, nodeIndex) => (node.subscriptionCount > 0 ? [nodeIndex] : []));
      expect(listened).toHaveLength(1);
      // That node goes down; its timed retry at 1 s finds it so, and the release at 1.5 s is heard on another node.
      nodes[listened[0]!]!.isDown = true;
      connections[listened[0]!]!.isDown = true;
      await clock.advance(1_450);
      // At the release, not at the next timed retry (2 s).
      expect(await handOffMsAfter(clock, held.release(), waiting, 2_000)).toBeLessThan(50);
    });
  }
});

describe('forged announcements on the release channel', () => {
  /**
   * A holder near node `holderLead` that keeps "orders:42" for 10 s, a waiter (`retryCount` retries, 200 ms
   * apart) near `waiterLead`, and a storm: a PUBLISH on the announce node every millisecond for `stormMs`,
   * as anyone who can reach the node can send; it stops by itself. `idleListeners` more connections (other
   * processes that never act) listen on the announce node.
   */
  async function storm(
    waiterLead: (announceNodeIndex: number) => number,
    stormMs: number,
    waiterClockOf: (clock: FakeClock) => Clock = (clock) => clock,
    idleListeners = 0,
    retryCount = 3,
  ) {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const announceNodeIndex = sharedLeadNodeOf(['orders:42'], 5);
    nodes[announceNodeIndex]!.addIdleListeners('redlock:released:orders:42', idleListeners);
    const lead = waiterLead(announceNodeIndex);
    const holder = new Redlock(nodes, { clock, retryCount: 0 });
    const connections = connectionsNearTo(nodes, lead);
    const waiter = new Redlock(connections, { clock: waiterClockOf(clock), retryCount, retryDelayMs: 200, retryJitterMs: 0 });
    await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const startedAtMs = clock.now();
    const forge = (): void => {
      nodes[announceNodeIndex]!.publish('redlock:released:orders:42');
      if (clock.now() - startedAtMs < stormMs) clock.setTimeout(forge, 1);
    };
    forge();
    const leadCalls = (): number => connections[lead]!.adapter.acquireRequests().length;
    const forgeOnce = (): void => nodes[announceNodeIndex]!.publish('redlock:released:orders:42');
    return { clock, waiting: waiter.acquire('orders:42', 10_000), leadCalls, startedAtMs, forgeOnce, connections, announceNodeIndex };
  }

  it('still gives up after its timed retries when its lead node is not the announce node', async () => {
    const { clock, waiting, leadCalls, startedAtMs } = await storm((announceNodeIndex) => (announceNodeIndex + 3) % 5, 5_000);
    const { error, atMs } = await within(clock, 2_000, waiting);
    expect(error).toBeInstanceOf(LockAcquireError);
    // The first attempt and three timed retries, each at its time: no wake postponed one.
    expect((error as LockAcquireError).attempts).toHaveLength(4);
    expect(atMs - startedAtMs).toBe(600);
    // Woken attempts ask the lead node patiently for 15 ms (half its 30 ms timeout), then rest 9 × 15 ms:
    // at most 5 of them in 600 ms, 16 calls each, besides the 4 timed attempts.
    expect(leadCalls()).toBeLessThanOrEqual(4 + 5 * 16);
  });

  it('rests woken attempts when its lead node is the announce node: one per 4 ms at most', async () => {
    const { clock, waiting, leadCalls, startedAtMs } = await storm((announceNodeIndex) => announceNodeIndex, 5_000);
    const { error, atMs } = await within(clock, 2_000, waiting);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect(atMs - startedAtMs).toBe(600);
    // A forged wake costs one call on the lead node, and the next waits WAKE_REST_MS: not one per message.
    expect(leadCalls()).toBeLessThanOrEqual(4 + 600 / WAKE_REST_MS + 1);
    expect(leadCalls()).toBeGreaterThan(600 / WAKE_REST_MS / 2);
  });

  it('spreads woken attempts when many listen: it rests while a quarter as many releases come', async () => {
    // 80 listening, a release every millisecond: a woken attempt that failed rests 80 × 1 / 4 = 20 ms ± 50%,
    // so the 80 would send about four attempts per release between them, instead of one each.
    const { clock, waiting, leadCalls, startedAtMs } = await storm((announceNodeIndex) => announceNodeIndex, 5_000, undefined, 79);
    const { error, atMs } = await within(clock, 2_000, waiting);
    expect(error).toBeInstanceOf(LockAcquireError);
    // The timed retries are where they were: a rest never postpones one.
    expect((error as LockAcquireError).attempts).toHaveLength(4);
    expect(atMs - startedAtMs).toBe(600);
    // Resting 10-30 ms (alone it would rest 4 ms: over 150 calls).
    expect(leadCalls()).toBeLessThanOrEqual(4 + 600 / 10 + 2);
    // Still woken, once per rest: the wakes are spread, not silenced.
    expect(leadCalls()).toBeGreaterThan(600 / 30 / 2);
  });

  it('reads the pace of the releases that follow a quiet spell, not the spell: it does not rest through them', async () => {
    const { clock, waiting, leadCalls, forgeOnce } = await storm((announceNodeIndex) => announceNodeIndex, 0, undefined, 79, 20);
    // Once the waiter listens, one announcement, a second of quiet (timed retries only), then one every
    // millisecond for 150 ms.
    await clock.advance(10);
    forgeOnce();
    await clock.advance(1_000);
    const before = leadCalls();
    for (let elapsedMs = 0; elapsedMs < 150; elapsedMs += 1) {
      forgeOnce();
      await clock.advance(1);
    }
    // Rests of 10-30 ms from the start, as without the quiet spell; read from it, the first would be the
    // 200 ms cap: one woken attempt in the burst (and at most one timed retry).
    expect(leadCalls() - before).toBeGreaterThanOrEqual(4);
    expect(leadCalls() - before).toBeLessThanOrEqual(1 + 150 / 10 + 2);
    void waiting.catch(() => undefined);
  });

  it('rests as alone when the listeners cannot be counted, even by an adapter that throws', async () => {
    const { clock, waiting, leadCalls, startedAtMs, connections, announceNodeIndex } = await storm((announceNodeIndex) => announceNodeIndex, 5_000, undefined, 79);
    // The waiter's own connection to the announce node (its lead node here), where it counts.
    connections[announceNodeIndex]!.adapter.isCountThrowing = true;
    const { error, atMs } = await within(clock, 2_000, waiting);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect(atMs - startedAtMs).toBe(600);
    // Rests of 4 ms, as in the storm without listeners.
    expect(leadCalls()).toBeGreaterThan(600 / WAKE_REST_MS / 2);
  });

  it('rests at most its retry delay however many listen, and gives up on time', async () => {
    const { clock, waiting, leadCalls, startedAtMs } = await storm((announceNodeIndex) => announceNodeIndex, 5_000, undefined, 100_000);
    const { error, atMs } = await within(clock, 2_000, waiting);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).attempts).toHaveLength(4);
    expect(atMs - startedAtMs).toBe(600);
    // One woken attempt per 200 ms retry delay at most, besides the 4 timed ones.
    expect(leadCalls()).toBeLessThanOrEqual(4 + 600 / 200 + 2);
    expect(leadCalls()).toBeGreaterThanOrEqual(4 + 1);
  });

  it('never rests a local release: the next call of the same Redlock gets the lock at once', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const announceNodeIndex = sharedLeadNodeOf(['orders:42'], 5);
    const local = new Redlock(connectionsNearTo(nodes, (announceNodeIndex + 3) % 5), { clock, retryDelayMs: 200, retryJitterMs: 0 });
    // A single try does not queue: to the queued call, its lock is held by another owner.
    const held = (await clock.runUntilSettled(local.tryAcquire('orders:42', 10_000))) as Lock;
    const waiting = local.acquire('orders:42', 10_000);
    await clock.advance(20);
    // A forged announcement wakes an attempt that fails: the next attempt rests a few milliseconds.
    nodes[announceNodeIndex]!.publish('redlock:released:orders:42');
    await clock.advance(20);
    await expectHandOffAtRelease(clock, held.release(), waiting);
  });

  it.each([
    ['', (clock: FakeClock): Clock => clock],
    // Node's timers count from the event loop's cached time, so one can fire before the clock reads its end.
    [' on a clock whose timers fire half a millisecond early', (clock: FakeClock): Clock => timersEarlyBy(clock, 0.5)],
  ])('wakes once at the end of a rest for every announcement that came during it, and at once after%s', async (_, waiterClockOf) => {
    const { clock, waiting, leadCalls, forgeOnce } = await storm((announceNodeIndex) => announceNodeIndex, 0, waiterClockOf);
    // The first attempt, subscribing and the look after it are done; the timed retry is due at 200 ms.
    await clock.advance(10);
    const before = leadCalls();
    // Three messages at once wake one attempt, which finds the lock held: wakes rest 4 ms from now.
    for (let message = 0; message < 3; message += 1) forgeOnce();
    await clock.advance(0);
    expect(leadCalls()).toBe(before + 1);
    for (let message = 0; message < 3; message += 1) forgeOnce();
    await clock.advance(WAKE_REST_MS - 1);
    expect(leadCalls()).toBe(before + 1);
    await clock.advance(1);
    expect(leadCalls()).toBe(before + 2);
    // Once that attempt's own rest has passed, the next message wakes the waiter at once.
    await clock.advance(WAKE_REST_MS);
    forgeOnce();
    await clock.advance(0);
    expect(leadCalls()).toBe(before + 3);
    void waiting.catch(() => undefined);
  });
});

describe("a waiter's own looks", () => {
  it('neither asks its lead node patiently nor holds back a release: a hung announce node costs no hand-off time', async () => {
    const { clock, holder, announce, lead, connections, waiter } = waiterLedBesideAnnounce('orders:42');
    // The announce node's SUBSCRIBE never completes: the watch's wait for it ends at its timer, the waiter
    // subscribes on every other node, and looks once those subscriptions are in place.
    connections[announce]!.adapter.isSubscribeHanging = true;
    const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(150);
    // Its first attempt, then the look: the lead node was asked once by each (not every millisecond).
    const leadCalls = connections[lead]!.adapter.callsTo('acquire');
    expect(new Set(leadCalls.map((call) => call.args[0])).size).toBe(2);
    expect(leadCalls.length).toBeLessThanOrEqual(3);
    // A release now is heard (on the other nodes) and handed off at once: no rest after the looks.
    await expectHandOffAtRelease(clock, held.release(), waiting);
  });

  it.each([
    ['semaphore', (redlock: Redlock): Promise<{ release(): Promise<unknown> }> => redlock.semaphore('jobs', { limit: 1 }).acquire(10_000)],
    ["read-write lock's writer", (redlock: Redlock): Promise<{ release(): Promise<unknown> }> => redlock.readWriteLock('jobs').acquireWrite(10_000)],
  ] as const)('of a %s rest no release after them where the announce node hangs', async (_, claim) => {
    const { clock, holder, announce, lead, connections, waiter } = waiterLedBesideAnnounce('jobs');
    // The lead node 10 ms away: a woken attempt that failed there would rest announcements for 90 ms.
    connections[lead]!.adapter.requestLatencyMs = 5;
    connections[lead]!.adapter.latencyMs = 5;
    connections[announce]!.adapter.isSubscribeHanging = true;
    const held = await clock.runUntilSettled(claim(holder));
    const waiting = claim(waiter);
    // Its first attempt (10 ms), the look when the wait for its subscriptions ends (at 80 ms), and the look
    // when they are in place, on the other nodes: released 20 ms after those looks.
    await clock.advance(130);
    // The lead node's round trip, and no rest after the looks.
    expect(await handOffMsAfter(clock, held.release(), waiting, 1_000)).toBeLessThanOrEqual(15);
  });
});

describe('waitForRetry', () => {
  /** A wake source whose wake the test triggers by hand. */
  function manualWatch(): Pick<Waiter, 'onWake'> & { release(): void } {
    let waiting: (() => void) | undefined;
    return {
      onWake(callback) {
        waiting = callback;
        return () => {
          waiting = undefined;
        };
      },
      release() {
        waiting?.();
      },
    };
  }

  it('resolves false after the delay on the clock, not before', async () => {
    const clock = new FakeClock();
    let how: boolean | undefined;
    void waitForRetry(clock, 200, undefined, undefined).then((result) => (how = result));
    await clock.advance(199);
    expect(how).toBeUndefined();
    await clock.advance(1);
    expect(how).toBe(false);
  });

  it('resolves true at a release notification and clears its timer', async () => {
    const clock = new FakeClock();
    const watch = manualWatch();
    const waiting = waitForRetry(clock, 1000, watch, undefined);
    await clock.advance(10);
    watch.release();
    await expect(waiting).resolves.toBe(true);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('rejects with signal.reason as soon as the signal aborts, and clears its timer and its watch', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const reason = new Error('stop');
    const watch = manualWatch();
    const waiting = waitForRetry(clock, 1000, watch, controller.signal);
    await clock.advance(10);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    watch.release(); // ignored: the wait is over
    expect(clock.now()).toBe(10);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('rejects at once, without a timer, when the signal is already aborted', async () => {
    const clock = new FakeClock();
    const reason = new Error('already');
    await expect(waitForRetry(clock, 1000, undefined, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(clock.pendingTimerCount).toBe(0);
  });
});

describe('leadNodeIndexOf', () => {
  it('picks the same node for the same keys, among the nodes with the shortest timeout', () => {
    const timeouts = [50, 100, 50, 50, 100];
    for (const key of ['a', 'orders:42', 'jobs:nightly', '🔒']) {
      const lead = leadNodeIndexOf([key], timeouts);
      // The smallest key decides: any key after it changes nothing.
      expect(leadNodeIndexOf([key, '\uffff'], timeouts)).toBe(lead);
      expect([0, 2, 3]).toContain(lead);
    }
  });

  it('spreads resources over the nodes', () => {
    const leads = new Set(Array.from({ length: 100 }, (_, index) => leadNodeIndexOf([`orders:${index}`], [50, 50, 50, 50, 50])));
    expect(leads).toEqual(new Set([0, 1, 2, 3, 4]));
  });

  it('is the 32-bit FNV-1a hash of the smallest key modulo the node count where every node is as near: the same node for every client', () => {
    // Hashes 0xa2a70d0a, 0x80d69dec, 0xe40c292c and 0xdd2d280e: each 2^31 or more, taken as unsigned.
    const expected = { 'redlock:orders:42': [1, 2, 5], 'redlock:jobs:nightly': [0, 0, 6], a: [1, 0, 5], '🔒': [2, 0, 2] };
    // A key after every one of them in code-unit order, listed first or last: the smallest key decides.
    const larger = '\uffff';
    for (const [key, nodeIndexes] of Object.entries(expected)) {
      expect([3, 5, 7].map((nodeCount) => sharedLeadNodeOf([key, larger], nodeCount))).toEqual(nodeIndexes);
      expect([3, 5, 7].map((nodeCount) => sharedLeadNodeOf([larger, key], nodeCount))).toEqual(nodeIndexes);
      expect([3, 5, 7].map((nodeCount) => leadNodeIndexOf([key], new Array<number>(nodeCount).fill(50)))).toEqual(nodeIndexes);
    }
  });
});

describe('leadNodeIndexIn', () => {
  /** A node set of 5 fake nodes with its options, and a way to feed one node's latency an answer. */
  function nodeSet(options: RedlockOptions = {}) {
    const set = createNodeSet(resolveNodes(grantingNodes(new FakeClock(), 5)), resolveOptions(options));
    const answer = (nodeIndex: number, rttMs: number, startedAtMs: number): void => set.nodes[nodeIndex]!.latency.recordAnswer(rttMs, startedAtMs);
    return { set, answer };
  }

  it("follows the nodes' distances: worked out again once one changed", () => {
    const { set, answer } = nodeSet();
    const keys = ['redlock:orders:42'];
    const announce = sharedLeadNodeOf(keys, 5);
    const leadNow = (): number => {
      const lead = leadNodeIndexInSet(set, keys);
      expect(lead).toBe(leadNodeIndexOf(keys, set.nodes.map((node) => nodeDistanceMsFor(node, set.options))));
      return lead;
    };
    // No answer yet, every node as far as can be; then every node 1 ms away: the announce node leads.
    expect(leadNow()).toBe(announce);
    for (let nodeIndex = 0; nodeIndex < 5; nodeIndex += 1) answer(nodeIndex, 1, 0);
    expect(leadNow()).toBe(announce);
    // The announce node slows down to 300 ms: a near node leads, and again when asked again.
    answer(announce, 300, 10);
    const near = leadNow();
    expect(near).not.toBe(announce);
    expect(leadNow()).toBe(near);
    // The announce node answers fast again: only one slow answer is left in its window, and it leads again.
    answer(announce, 1, 20);
    expect(leadNow()).toBe(announce);
    // It times out (a call was given its timeout first): the doubling takes it out of the nearest.
    set.nodes[announce]!.latency.timeoutMs(10_000, 1);
    set.nodes[announce]!.latency.recordTimeout();
    expect(leadNow()).not.toBe(announce);
  });

  it('is a node of the nearest datacenter, the same for clients side by side, whatever the TTL puts each timeout at', () => {
    // Two clients in one datacenter: nodes 0 and 1 beside them, 2 and 3 25 ms away, 4 80 ms away; each
    // client measures its own jitter. Under a 5 s TTL every node up to about 32 ms away has the same 50 ms timeout.
    const clients = [
      [0.3, 0.4, 25, 25.5, 80],
      [0.9, 0.2, 26, 24.5, 81],
    ].map((rttsMs) => {
      const { set, answer } = nodeSet();
      rttsMs.forEach((rttMs, nodeIndex) => answer(nodeIndex, rttMs, 0));
      return set;
    });
    expect(clients[0]!.nodes.map((node) => nodeTimeoutMsFor(node, clients[0]!.options, 5_000))).toEqual([50, 50, 50, 50, 110]);
    for (let index = 0; index < 50; index += 1) {
      const keys = [`redlock:orders:${index}`];
      const leads = clients.map((set) => leadNodeIndexInSet(set, keys));
      expect([0, 1]).toContain(leads[0]);
      expect(leads[1]).toBe(leads[0]);
    }
  });

  it("takes the user's node timeouts as the distances, where they are set", () => {
    const { set, answer } = nodeSet({ nodeTimeoutMs: 200 });
    // Measured round trips do not count: every node is 200 ms away by the user's word.
    [0.3, 0.4, 25, 25, 80].forEach((rttMs, nodeIndex) => answer(nodeIndex, rttMs, 0));
    const keys = ['redlock:orders:42'];
    expect(leadNodeIndexInSet(set, keys)).toBe(sharedLeadNodeOf(keys, 5));
  });
});

/** One hold of each kind on "jobs", for the behaviours every primitive shares (a semaphore of one permit). */
const HOLD_KINDS: readonly (readonly [string, (redlock: Redlock) => Promise<{ release(): Promise<unknown> }>])[] = [
  ['lock', (redlock: Redlock) => redlock.acquire('jobs', 10_000)],
  ["semaphore's permit", (redlock: Redlock) => redlock.semaphore('jobs', { limit: 1 }).acquire(10_000)],
  ['write lock', (redlock: Redlock) => redlock.readWriteLock('jobs').acquireWrite(10_000)],
];

describe('a hand-off while the announce node hangs', () => {
  it.each(HOLD_KINDS)('%s: takes a few node round trips at defaults, never the timeout of a probe to the hung node', async (_, take) => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const announce = sharedLeadNodeOf(['jobs'], nodes.length);
    const holderConnections = nodes.map((node) => Object.assign(node.connectAnotherClient(), { latencyMs: 1 }));
    const waiterConnections = nodes.map((node) => Object.assign(node.connectAnotherClient(), { latencyMs: 1 }));
    const holder = new Redlock(holderConnections, { clock });
    const waiter = new Redlock(waiterConnections, { clock });
    // Both meet every node, then the announce node (where releases are announced and waiters listen)
    // stops answering anything, SUBSCRIBE included.
    for (const redlock of [holder, waiter]) await clock.runUntilSettled(take(redlock).then((hold) => hold.release()));
    for (const connection of [holderConnections[announce]!, waiterConnections[announce]!]) {
      connection.hang();
      connection.isSubscribeHanging = true;
    }
    const handOffsMs: number[] = [];
    // Over some 8 s: the silent node's probes (1 s timeouts, then 250, 500, 1000, 2000 ms apart) are in
    // flight during some of the waiter's attempts.
    for (let round = 0; round < 20; round += 1) {
      const held = await clock.runUntilSettled(take(holder));
      const waiting = take(waiter);
      await clock.advance(300 + 17 * round);
      handOffsMs.push(await handOffMsAfter(clock, held.release(), waiting, 3_000));
    }
    expect(Math.max(...handOffsMs)).toBeLessThanOrEqual(150);
  });
});

describe('a new waiter whose first attempt meets a hung node it never heard from', () => {
  it.each(HOLD_KINDS)('%s: listens once the other nodes settled that it is taken, not after the hung node’s first-contact timeout', async (_, take) => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const holder = new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock });
    const waiterConnections = nodes.map((node) => node.connectAnotherClient());
    // The waiter's first contact with node 4 (a 1 s timeout for a 10 s TTL) is never answered.
    waiterConnections[4]!.hang();
    waiterConnections[4]!.isSubscribeHanging = true;
    const waiter = new Redlock(waiterConnections, { clock });
    const held = await clock.runUntilSettled(take(holder));
    const waiting = take(waiter);
    await clock.advance(300);
    // 700 ms before: the first attempt waited for node 4 until 1 s, and listened only then.
    expect(await handOffMsAfter(clock, held.release(), waiting, 2_000)).toBeLessThanOrEqual(50);
  });
});
