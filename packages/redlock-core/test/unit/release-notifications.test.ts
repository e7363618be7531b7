// Prompt hand-off through queued wakes: a refused attempt queues its process on the nodes, and a release
// wakes the next queued process (scripts/wake-queue.ts, nodes/release-notifications.ts). Every test goes
// through the public API, over the test pub/sub node that keeps the queues as the scripts do.
import { describe, expect, it } from '@jest/globals';
import diagnosticsChannel from 'node:diagnostics_channel';
import { DIAGNOSTICS_CHANNELS, LockAcquireError, type NodeErrorMessage, Redlock, type RedlockOptions } from '../../src/index.js';
import { waitForRetry } from '../../src/acquire/wait-loop.js';
import type { Waiter } from '../../src/acquire/wait-queue.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNodes } from '../../src/testing/fake-nodes.js';
import { type PubSubFakeNode, pubSubNode } from '../support/fake-pubsub.js';

type Held = { release(): Promise<unknown> };

/** The three primitives, each taking "jobs" exclusively: what every hand-off test runs over. */
const HOLD_KINDS: readonly (readonly [string, (redlock: Redlock) => Promise<Held>])[] = [
  ['lock', (redlock) => redlock.acquire('jobs', 10_000)],
  ["semaphore's permit", (redlock) => redlock.semaphore('jobs', { limit: 1 }).acquire(10_000)],
  ['write lock', (redlock) => redlock.readWriteLock('jobs').acquireWrite(10_000)],
];

/** Five pub/sub-capable nodes, and a way to make Redlocks (processes) over connections of their own. */
function setup(nodeCount = 5) {
  const clock = new FakeClock();
  const nodes = Array.from({ length: nodeCount }, () => pubSubNode(clock));
  const connect = (): PubSubFakeNode[] => nodes.map((node) => node.connectAnotherClient());
  const process = (options: RedlockOptions = {}, connections = connect()): Redlock =>
    new Redlock(connections, { clock, retryDelayMs: 5_000, retryJitterMs: 0, ...options });
  return { clock, nodes, connect, process };
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

/**
 * Awaits `releasing`, expects `waiting` to get its hold within `windowMs`, releases that hold, and returns
 * how long after the release it came, in milliseconds.
 */
async function handOffMsAfter(clock: FakeClock, releasing: Promise<unknown>, waiting: Promise<Held>, windowMs = 1_000): Promise<number> {
  await clock.runUntilSettled(releasing);
  const releasedAtMs = clock.now();
  const { value, atMs } = await within(clock, windowMs, waiting);
  expect(value).toBeDefined();
  await clock.runUntilSettled(value!.release());
  return atMs - releasedAtMs;
}

describe('prompt hand-off', () => {
  it.each(HOLD_KINDS)('%s: the waiter gets it the moment the holder releases, not at its next retry timer', async (_, take) => {
    const { clock, process } = setup();
    const held = await clock.runUntilSettled(take(process()));
    const waiting = take(process());
    await clock.advance(37);
    // Its timed retry is 5 s away.
    expect(await handOffMsAfter(clock, held.release(), waiting)).toBeLessThanOrEqual(5);
  });

  it('hands a lock of several resources over to a waiter that lists them in another order', async () => {
    const { clock, process } = setup();
    const held = await clock.runUntilSettled(process().acquire(['account:1', 'account:2'], 10_000));
    const waiting = process().acquire(['account:2', 'account:1'], 10_000);
    await clock.advance(37);
    expect(await handOffMsAfter(clock, held.release(), waiting)).toBeLessThanOrEqual(5);
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

  it.each(HOLD_KINDS)('%s: a waiter that subscribes after the release gets it at its look once subscribed, not at its timer', async (_, take) => {
    const { clock, connect, process } = setup();
    const held = await clock.runUntilSettled(take(process()));
    // The waiter's SUBSCRIBEs take 100 ms on every node: the release before that wakes nobody.
    const waiting = take(process({}, connect().map((connection) => Object.assign(connection, { subscribeDelayMs: 100 }))));
    await clock.advance(10);
    expect(await handOffMsAfter(clock, held.release(), waiting, 3_000)).toBeLessThan(100);
  });
});

describe('the wait queues on the nodes', () => {
  it('subscribe a waiter only once it found the lock taken, to one channel on every node, ended as it stops waiting', async () => {
    const { clock, nodes, process } = setup();
    const connections = nodes.map((node) => node.connectAnotherClient());
    const waiter = process({}, connections);
    const free = await clock.runUntilSettled(waiter.acquire('orders:42', 10_000));
    expect(connections.map((connection) => connection.subscribeCalls)).toEqual([[], [], [], [], []]);
    await clock.runUntilSettled(free.release());
    const held = await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(10);
    const channels = connections.map((connection) => connection.subscribeCalls);
    expect(channels.every((calls) => calls.length === 1 && calls[0] === channels[0]![0])).toBe(true);
    expect(channels[0]![0]).toMatch(/^redlock:wake:[\w-]+\.[0-9a-z]+$/);
    // Queued, under the channel's member, by its look once subscribed, which asked the node subscribed first
    // alone (its first attempt sent no ticket: nothing listened yet); that node wakes it.
    const member = channels[0]![0]!.slice('redlock:wake:'.length);
    expect(nodes.map((node) => node.queueOf('orders:42'))).toEqual([[member], [], [], [], []]);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([1, 1, 1, 1, 1]);
    const lock = await clock.runUntilSettled(Promise.all([held.release(), waiting]).then(([, won]) => won));
    // Granted by the script: out of every queue, and with no waiter left, unsubscribed from every node.
    expect(nodes.map((node) => node.queueOf('orders:42'))).toEqual(Array(5).fill([]));
    await clock.advance(0);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0, 0, 0]);
    await clock.runUntilSettled(lock.release());
  });

  it("keep a fair waiter's subscriptions for 1 s after its wait, for its next call, then end them", async () => {
    const { clock, nodes, process } = setup();
    const connections = nodes.map((node) => node.connectAnotherClient());
    const waiter = process({}, connections);
    const holder = process();
    for (let round = 0; round < 2; round += 1) {
      const held = await clock.runUntilSettled(holder.acquire('orders:42', 10_000));
      const waiting = waiter.acquire('orders:42', 10_000, { fair: true });
      await clock.advance(10);
      const lock = await clock.runUntilSettled(Promise.all([held.release(), waiting]).then(([, won]) => won));
      await clock.runUntilSettled(lock.release());
      await clock.advance(500);
      // Still subscribed half a second later: the second wait subscribes no more.
      expect(nodes.map((node) => node.subscriptionCount)).toEqual([1, 1, 1, 1, 1]);
      expect(connections.map((connection) => connection.subscribeCalls.length)).toEqual([1, 1, 1, 1, 1]);
    }
    await clock.advance(500);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0, 0, 0]);
  });

  it('subscribe again for each wait, and hold no subscription between waits', async () => {
    const { clock, nodes, process } = setup();
    const connections = nodes.map((node) => node.connectAnotherClient());
    const waiter = process({}, connections);
    const other = process();
    for (let round = 1; round <= 3; round += 1) {
      const held = await clock.runUntilSettled(other.acquire('orders:42', 10_000));
      const waiting = waiter.acquire('orders:42', 10_000);
      await clock.advance(10);
      expect(nodes.map((node) => node.subscriptionCount)).toEqual([1, 1, 1, 1, 1]);
      expect(await handOffMsAfter(clock, held.release(), waiting)).toBeLessThanOrEqual(5);
      await clock.advance(0);
      expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0, 0, 0]);
      expect(connections.map((connection) => connection.subscribeCalls.length)).toEqual(Array(5).fill(round));
    }
  });

  // A read-write lock's release wakes every queued process instead: read-write-lock.test.ts.
  it.each(HOLD_KINDS.slice(0, 2))('%s: a release wakes the process that waited longest, and no other', async (_, take) => {
    const { clock, nodes, process } = setup(3);
    const held = await clock.runUntilSettled(take(process()));
    const connections = [0, 1, 2].map(() => nodes.map((node) => node.connectAnotherClient()));
    const waiting: Promise<Held>[] = [];
    for (const own of connections) {
      waiting.push(take(process({}, own)));
      await clock.advance(10);
    }
    const calls = (): number[] => connections.map((own) => own.reduce((sum, connection) => sum + connection.calls.length, 0));
    const before = calls();
    await clock.runUntilSettled(held.release());
    const { value: first, atMs } = await within(clock, 1_000, waiting[0]!);
    expect(atMs - clock.now()).toBeLessThanOrEqual(5);
    // The two others were not woken: not one call (their timed retries are 5 s away).
    const after = calls();
    expect([after[1]! - before[1]!, after[2]! - before[2]!]).toEqual([0, 0]);
    // The first one's release wakes the second.
    expect(await handOffMsAfter(clock, first!.release(), waiting[1]!)).toBeLessThanOrEqual(5);
  });

  it('keep a woken process that lost the race first on every node: the next release wakes it again, and no other', async () => {
    const { clock, nodes, process } = setup(3);
    const holder = process({ retryCount: 0 });
    const held = await clock.runUntilSettled(holder.acquire('jobs', 10_000));
    const connections = [0, 1].map(() => nodes.map((node) => node.connectAnotherClient()));
    const first = process({}, connections[0]).acquire('jobs', 10_000);
    await clock.advance(10);
    const second = process({}, connections[1]).acquire('jobs', 10_000);
    // Past both waiters' first timed retries (5 s): each is queued on every node, in the order they came.
    await clock.advance(5_010);
    const members = connections.map((own) => own[0]!.subscribeCalls[0]!.slice('redlock:wake:'.length));
    expect(nodes.map((node) => node.queueOf('jobs'))).toEqual(Array(3).fill(members));
    // Another owner takes node 0 the moment it wakes the first waiter, before its ask arrives: the ask, at
    // the node that woke it first, alone, finds it taken there.
    let isTaken = false;
    await nodes[0]!.connectAnotherClient().subscribe(connections[0]![0]!.subscribeCalls[0]!, () => {
      if (isTaken) return;
      isTaken = true;
      nodes[0]!.keyspace.set('jobs', 'someone-else', 50);
    });
    await clock.runUntilSettled(held.release());
    await clock.advance(60);
    expect(isTaken).toBe(true);
    // It keeps its place on every node, so the next release wakes it again, everywhere.
    expect(nodes.map((node) => node.queueOf('jobs'))).toEqual(Array(3).fill(members));
    const secondCalls = (): number => connections[1]!.reduce((sum, connection) => sum + connection.calls.length, 0);
    const before = secondCalls();
    const again = await clock.runUntilSettled(holder.acquire('jobs', 10_000));
    await clock.runUntilSettled(again.release());
    const releasedAtMs = clock.now();
    const { value: lock, atMs } = await within(clock, 1_000, first);
    expect(atMs - releasedAtMs).toBeLessThanOrEqual(5);
    expect(secondCalls()).toBe(before);
    expect(await handOffMsAfter(clock, lock!.release(), second)).toBeLessThanOrEqual(5);
  });

  it.each(HOLD_KINDS)('queue waiters in the order they came, whatever their clocks say (%s)', async (_kind, take) => {
    const { clock, nodes, process } = setup(3);
    const holder = process({ retryCount: 0 });
    const held = await clock.runUntilSettled(take(holder));
    // The first waiter's wall clock runs 5 s ahead, the second's 5 s behind: no clock orders them.
    const skewed = (offsetMs: number) => ({ ...clock, now: () => clock.now(), setTimeout: clock.setTimeout.bind(clock), clearTimeout: clock.clearTimeout.bind(clock), wallNow: () => clock.wallNow() + offsetMs });
    const connections = [0, 1].map(() => nodes.map((node) => node.connectAnotherClient()));
    const first = take(process({ clock: skewed(5_000) }, connections[0]));
    await clock.advance(10);
    const second = take(process({ clock: skewed(-5_000) }, connections[1]));
    // Past both waiters' first timed retries (5 s): each is queued on every node, in the order they came.
    await clock.advance(5_010);
    const members = connections.map((own) => own[0]!.subscribeCalls[0]!.slice('redlock:wake:'.length));
    expect(nodes.map((node) => node.queueOf('jobs'))).toEqual(Array(3).fill(members));
    expect(await handOffMsAfter(clock, held.release(), first)).toBeLessThanOrEqual(5);
    expect(await handOffMsAfter(clock, Promise.resolve(), second)).toBeLessThanOrEqual(5);
  });

  it('wake through one node while the same Redlock takes a lock back within 50 ms, and through every node at least every 50 ms', async () => {
    const { clock, nodes, connect, process } = setup();
    // Node 0 answers the holder 3 ms late, the others at once: node 1 is the nearest (the first of the nearest).
    const holder = process({ retryCount: 0 }, connect().map((connection, nodeIndex) => Object.assign(connection, { latencyMs: nodeIndex === 0 ? 3 : 0 })));
    let lock = await clock.runUntilSettled(holder.acquire('jobs', 10_000));
    // The waiter's commands reach the nodes 1 ms late: the holder, which takes the lock back at each release, wins every race.
    const connections = nodes.map((node) => Object.assign(node.connectAnotherClient(), { requestLatencyMs: 1 }));
    const waiting = process({}, connections).acquire('jobs', 10_000);
    // Past its first timed retry (5 s), which queued it on every node.
    await clock.advance(5_010);
    const channel = connections[0]!.subscribeCalls[0]!;
    const member = channel.slice('redlock:wake:'.length);
    expect(nodes.map((node) => node.queueOf('jobs'))).toEqual(Array(5).fill([member]));
    const wakesByNode = (): number[] => nodes.map((node) => node.published.filter((published) => published === channel).length);
    const before = wakesByNode();
    const loopEndsAtMs = clock.now() + 300;
    let releases = 0;
    // A worker loop: a release every 2 ms for 300 ms, the lock taken back at once.
    while (clock.now() < loopEndsAtMs) {
      await clock.advance(2);
      const release = lock.release();
      const next = holder.acquire('jobs', 10_000);
      await clock.runUntilSettled(release);
      lock = await clock.runUntilSettled(next);
      releases += 1;
    }
    const wakes = wakesByNode().map((count, nodeIndex) => count - before[nodeIndex]!);
    // Node 1 wakes the waiter at each release; the others only at the releases that woke through every node:
    // the first, then one at least every 50 ms of take-backs.
    expect(wakes[1]).toBe(releases);
    for (const count of [wakes[0]!, ...wakes.slice(2)]) {
      expect(count).toBeGreaterThanOrEqual(Math.floor(300 / 50));
      expect(count).toBeLessThanOrEqual(Math.ceil(300 / 50) + 1);
    }
    // A release that is not taken back hands the lock over through the one node, within the waiter's rest
    // after the races it lost (16 ms at most: see wakeRestMs) and a round trip.
    expect(await handOffMsAfter(clock, lock.release(), waiting)).toBeLessThanOrEqual(16 + 5);
  });

  it('reserve the lock at a release for a waiter close to giving up: holders that take it back at once cannot starve it', async () => {
    const { clock, connect, process } = setup(3);
    const holders = [process({ retryCount: 0 }), process({ retryCount: 0 })];
    let lock = await clock.runUntilSettled(holders[0]!.acquire('jobs', 10_000));
    // The waiter's commands reach the nodes 1 ms late: a holder's, sent at each release, win every race. It
    // gives up after 6 timed retries 100 ms apart; from its third failed try on, its ticket asks for a reservation.
    const connections = connect().map((connection) => Object.assign(connection, { requestLatencyMs: 1 }));
    let outcome: { value?: Held; error?: unknown } | undefined;
    process({ retryCount: 6, retryDelayMs: 100, retryJitterMs: 0 }, connections)
      .acquire('jobs', 10_000)
      .then((value) => (outcome = { value }), (error: unknown) => (outcome = { error }));
    let handOffs = 0;
    while (outcome === undefined && clock.now() < 2_000) {
      await clock.advance(5);
      const release = lock.release();
      const next = holders[(handOffs + 1) % 2]!.acquire('jobs', 10_000).catch(() => undefined);
      await clock.runUntilSettled(release);
      const taken = await clock.runUntilSettled(next);
      if (taken === undefined) break;
      lock = taken;
      handOffs += 1;
    }
    await clock.advance(10);
    expect(outcome?.error).toBeUndefined();
    expect(outcome?.value).toBeDefined();
    // The holders kept it until the waiter's third failed try (its timed retry at 200 ms); its next timed
    // attempt, at 300 ms, queued its intent on every node, and the first release after it that woke through
    // every node (within 50 ms of take-backs: see the test above) reserved the lock for it.
    expect(clock.now()).toBeGreaterThan(300);
    expect(clock.now()).toBeLessThan(350);
    expect(handOffs).toBeGreaterThan(50);
    await clock.runUntilSettled(outcome!.value!.release());
  });

  it('skip a process that stopped waiting, first in the queues: the next waiter gets the lock at once', async () => {
    const { clock, nodes, process } = setup();
    const held = await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    // The first waiter gives up after 1 timed retry, and unsubscribes as it does: the release hears nobody on
    // its channel, drops it and wakes the next.
    const quitter = process({ retryCount: 1, retryDelayMs: 100 }).acquire('orders:42', 10_000);
    await clock.advance(10);
    const waiting = process().acquire('orders:42', 10_000);
    const { error } = await within(clock, 200, quitter);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect(nodes[0]!.queueOf('orders:42')).toHaveLength(2);
    expect(await handOffMsAfter(clock, held.release(), waiting)).toBeLessThanOrEqual(5);
  });

  it('skip a process that no longer listens at all: the next waiter gets the lock at once', async () => {
    const { clock, process } = setup();
    const held = await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    const closing = process();
    void closing.acquire('orders:42', 10_000).catch(() => undefined);
    await clock.advance(10);
    const waiting = process().acquire('orders:42', 10_000);
    await clock.advance(10);
    // Closed: its subscriptions end at once, its member stays queued first.
    await clock.runUntilSettled(closing.close());
    expect(await handOffMsAfter(clock, held.release(), waiting)).toBeLessThanOrEqual(5);
  });

  it('skip a process that stopped waiting even where a client hears every wake through a pattern (GLIDE\'s way)', async () => {
    const { clock, nodes, process } = setup();
    for (const node of nodes) node.connectAnotherClient().holdWakePattern();
    const held = await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    const quitter = process({ retryCount: 1, retryDelayMs: 100 }).acquire('orders:42', 10_000);
    await clock.advance(10);
    const waiting = process().acquire('orders:42', 10_000);
    expect((await within(clock, 200, quitter)).error).toBeInstanceOf(LockAcquireError);
    // The pattern hears the quitter's wake too, but its own channel has no subscriber: it is skipped.
    expect(await handOffMsAfter(clock, held.release(), waiting)).toBeLessThanOrEqual(5);
  });

  it('wake a process that listens through a pattern once, and take it off the queue: one that stopped waiting costs one wake', async () => {
    const { clock, nodes, connect, process } = setup();
    const held = await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    const quitter = process({ retryCount: 1, retryDelayMs: 100 }, connect().map((connection) => connection.holdWakePattern())).acquire('orders:42', 10_000);
    await clock.advance(10);
    const waiting = process().acquire('orders:42', 10_000);
    expect((await within(clock, 200, quitter)).error).toBeInstanceOf(LockAcquireError);
    const [quitterMember, waitingMember] = nodes[0]!.queueOf('orders:42');
    expect(quitterMember).toMatch(/^\+/);
    expect(nodes.every((node) => node.queueOf('orders:42')[0] === quitterMember)).toBe(true);
    // The node cannot tell whether the quitter still listens: the wake is its, and it leaves the queues,
    // where it would keep the head and take every release's wake.
    await clock.runUntilSettled(held.release());
    expect(nodes.map((node) => node.queueOf('orders:42'))).toEqual([[waitingMember], [], [], [], []]);
    const first = (await within(clock, 6_000, waiting)).value!;
    const next = process().acquire('orders:42', 10_000);
    await clock.advance(10);
    expect(await handOffMsAfter(clock, first.release(), next)).toBeLessThanOrEqual(5);
  });

  it('hand the lock over at once to processes that hear wakes by pattern (GLIDE\'s way), first come first', async () => {
    const { clock, connect, process } = setup();
    const byPattern = (): Redlock => process({}, connect().map((connection) => connection.holdWakePattern()));
    const held = await clock.runUntilSettled(byPattern().acquire('orders:42', 10_000));
    const first = byPattern().acquire('orders:42', 10_000);
    await clock.advance(10);
    const second = byPattern().acquire('orders:42', 10_000);
    await clock.advance(10);
    await clock.runUntilSettled(held.release());
    const firstHold = await within(clock, 5, first);
    expect(firstHold.value).toBeDefined();
    expect((await within(clock, 50, second)).value).toBeUndefined();
    expect(await handOffMsAfter(clock, firstHold.value!.release(), second)).toBeLessThanOrEqual(5);
  });

  it("take the releaser's own member out first: a release wakes the next process, not its own", async () => {
    const { clock, nodes, process } = setup();
    const connections = nodes.map((node) => node.connectAnotherClient());
    const own = process({ retryDelayMs: 100 }, connections);
    const held = await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    // Woken, its waiting call wins by the script, which takes its member out of the queues.
    const first = own.acquire('orders:42', 10_000);
    await clock.advance(10);
    const lock = (await within(clock, 1_000, Promise.all([held.release(), first]).then(([, won]) => won))).value!;
    const member = connections[0]!.subscribeCalls[0]!.slice('redlock:wake:'.length);
    expect(nodes.map((node) => node.queueOf('orders:42'))).toEqual(Array(5).fill([]));
    // Its next call waits behind it here; its timed retry, refused by its own lock, queues the member again.
    const next = own.acquire('orders:42', 10_000);
    const other = process().acquire('orders:42', 10_000);
    await clock.advance(150);
    expect(nodes.every((node) => node.queueOf('orders:42').includes(member))).toBe(true);
    const publishedBefore = nodes.map((node) => node.published.length);
    await clock.runUntilSettled(lock.release());
    // The nodes wake the other process (queued where its look asked), not this one, whose next call the
    // release itself wakes here.
    const woken = nodes.flatMap((node, nodeIndex) => node.published.slice(publishedBefore[nodeIndex]));
    expect(woken.length).toBeGreaterThan(0);
    expect(woken).not.toContain(`redlock:wake:${member}`);
    await clock.runUntilSettled(Promise.all([next, other].map(async (call) => (await call).release())));
  });

  it('wake nobody at the cleanup of a failed attempt, only at the release of a held lock', async () => {
    const { clock, nodes, process } = setup();
    const waiter = process({ retryCount: 0 });
    // Someone else holds 3 nodes: the waiter wins 2, fails, and removes its 2 keys.
    for (const node of nodes.slice(2)) node.keyspace.set('orders:42', 'someone-else', 10_000);
    const { error } = await within(clock, 100, waiter.acquire('orders:42', 10_000));
    expect(error).toBeInstanceOf(LockAcquireError);
    for (const node of nodes.slice(2)) node.keyspace.delete('orders:42');
    const held = await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    const waiting = process().acquire('orders:42', 10_000);
    await clock.advance(10);
    expect(nodes.map((node) => node.published)).toEqual(Array(5).fill([]));
    await handOffMsAfter(clock, held.release(), waiting);
    // The waiter is queued on the node its look asked.
    expect(nodes.map((node) => node.published.length)).toEqual([1, 0, 0, 0, 0]);
  });
});

describe('fair locks', () => {
  it('go to the waiters in the order they queued, refuse a fair single try while one waits, and let out one whose Redlock closed', async () => {
    const { clock, nodes, process } = setup(3);
    const holder = process({ retryCount: 0 });
    const held = await clock.runUntilSettled(holder.acquire('jobs', 10_000, { fair: true }));
    const [first, gone, second] = [process(), process(), process()];
    const firstWaits = first.acquire('jobs', 10_000, { fair: true });
    await clock.advance(10);
    const goneWaits = gone.acquire('jobs', 10_000, { fair: true }).catch((error: unknown) => error);
    await clock.advance(10);
    const secondWaits = second.acquire('jobs', 10_000, { fair: true });
    await clock.advance(10);
    expect(nodes.map((node) => node.queueOf('jobs').length)).toEqual([3, 3, 3]);
    // The second in line stops waiting: its Redlock closes.
    await clock.runUntilSettled(gone.close());
    await goneWaits;
    await clock.runUntilSettled(held.release());
    // Free now, but promised to the first waiter: a fair single try takes nothing.
    expect(await clock.runUntilSettled(process().tryAcquire('jobs', 10_000, { fair: true }))).toBeUndefined();
    const { value: firstLock } = await within(clock, 1_000, firstWaits);
    expect(firstLock).toBeDefined();
    expect(await handOffMsAfter(clock, firstLock!.release(), secondWaits)).toBeLessThanOrEqual(20);
    expect(nodes.map((node) => node.queueOf('jobs'))).toEqual([[], [], []]);
  });

  it('cost the releaser one ask of one node after a hand-off that went through, which wakes nobody', async () => {
    const { clock, nodes, connect, process } = setup(3);
    const holderConnections = connect();
    const held = await clock.runUntilSettled(process({ retryCount: 0 }, holderConnections).acquire('jobs', 10_000, { fair: true }));
    const firstWaits = process().acquire('jobs', 10_000, { fair: true });
    await clock.advance(10);
    // The second one's commands reach the nodes 20 ms after it sends them: when the holder asks, 10 ms after its
    // release, the first one has come and gone, and the lock is free, promised to the second.
    const secondConnections = connect().map((connection) => Object.assign(connection, { requestLatencyMs: 20 }));
    const secondWaits = process({}, secondConnections).acquire('jobs', 10_000, { fair: true });
    await clock.advance(50);
    const wakesOfSecond = (): number[] => nodes.map((node) => node.published.filter((channel) => channel === secondConnections[0]!.subscribeCalls[0]).length);
    await clock.runUntilSettled(held.release());
    const first = await clock.runUntilSettled(firstWaits);
    await clock.advance(5);
    await clock.runUntilSettled(first.release());
    const { value: second } = await within(clock, 1_000, secondWaits);
    expect(second).toBeDefined();
    await clock.advance(100);
    // One ask, which found another process first: the hand-off it watched went through, and it woke nobody.
    const asks = holderConnections.map((connection) => connection.calls.filter((call) => call.script === 'hand-off').length);
    expect(asks.reduce((sum, each) => sum + each, 0)).toBe(1);
    expect(wakesOfSecond()).toEqual([1, 1, 1]);
    await clock.runUntilSettled(second!.release());
  });

  it("report a failed hand-off ask on redlock-core.node.error as the 'hand-off' it was, and ask again", async () => {
    const { clock, connect, process } = setup(3);
    const holderConnections = connect();
    const held = await clock.runUntilSettled(process({ retryCount: 0 }, holderConnections).acquire('jobs', 10_000, { fair: true }));
    const deadConnections = connect();
    const deadWaits = process({}, deadConnections).acquire('jobs', 10_000, { fair: true });
    await clock.advance(10);
    const errors: NodeErrorMessage[] = [];
    const onNodeError = (message: unknown): void => void errors.push(message as NodeErrorMessage);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.nodeError, onNodeError);
    try {
      // The woken waiter sends nothing more, so the releaser asks; the first ask fails on the node it asks.
      for (const connection of deadConnections) connection.hang();
      for (const connection of holderConnections) connection.failNext('hand-off');
      await clock.runUntilSettled(held.release());
      await clock.advance(50);
      // Besides the hung waiter's own calls, which time out.
      expect(errors.filter((message) => message.operation !== 'acquire').map((message) => message.operation)).toEqual(['hand-off']);
      const asks = holderConnections.map((connection) => connection.calls.filter((call) => call.script === 'hand-off').length);
      expect(asks.filter((count) => count > 0)).toHaveLength(1);
      expect(Math.max(...asks)).toBeGreaterThanOrEqual(2);
    } finally {
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.nodeError, onNodeError);
    }
    for (const connection of deadConnections) connection.resume();
    const { value: deadLock } = await within(clock, 6_000, deadWaits);
    await clock.runUntilSettled(deadLock!.release());
  });

  it('are handed on past a woken waiter that died before its attempt, once its connections closed, not at the timed retry', async () => {
    const { clock, connect, process } = setup(3);
    const [holderConnections, deadConnections, nextConnections] = [connect(), connect(), connect()];
    const held = await clock.runUntilSettled(process({ retryCount: 0 }, holderConnections).acquire('jobs', 10_000, { fair: true }));
    const deadWaits = process({}, deadConnections).acquire('jobs', 10_000, { fair: true });
    await clock.advance(10);
    const nextWaits = process({}, nextConnections).acquire('jobs', 10_000, { fair: true });
    await clock.advance(10);
    // Killed: it sends nothing more, but the nodes see its connections open until the system closes them.
    for (const connection of deadConnections) connection.hang();
    await clock.runUntilSettled(held.release());
    const releasedAtMs = clock.now();
    await clock.advance(25);
    for (const connection of deadConnections) connection.dropSubscriptions();
    // The releaser asks its nearest node every 10 ms: the one after the connections closed wakes the next waiter.
    const { value: lock, atMs } = await within(clock, 6_000, nextWaits);
    expect(lock).toBeDefined();
    expect(atMs - releasedAtMs).toBeLessThanOrEqual(40);
    await clock.runUntilSettled(lock!.release());
    await clock.advance(100);
    // The releaser asked one node until the lock was taken there; the next one's release woke nobody, and asks nothing.
    const asksOf = (connections: readonly PubSubFakeNode[]): number[] => connections.map((connection) => connection.calls.filter((call) => call.script === 'hand-off').length);
    expect(asksOf(holderConnections).filter((asks) => asks > 0)).toHaveLength(1);
    expect(Math.max(...asksOf(holderConnections))).toBeGreaterThanOrEqual(3);
    expect(asksOf(nextConnections)).toEqual([0, 0, 0]);
    // Its commands run at last (as a process that was only paused would): it takes the lock, free now.
    for (const connection of deadConnections) connection.resume();
    const { value: deadLock } = await within(clock, 6_000, deadWaits);
    await clock.runUntilSettled(deadLock!.release());
  });
});

describe('fair locks: wakes during a woken attempt', () => {
  it('acts on a release that came while a woken attempt ran, after the nodes had refused it', async () => {
    const { clock, nodes, connect, process } = setup();
    const holder = process({ retryCount: 0 });
    const held = await clock.runUntilSettled(holder.acquire('jobs', 10_000, { fair: true }));
    // Node 0 holds another owner's key from now on: the holder's release wakes nobody there.
    nodes[0]!.keyspace.set('jobs', 'another-owner', 60_000);
    // The waiter's node 4 answers 20 ms late: its attempts run on 20 ms after the other nodes answered.
    const connections = connect();
    connections[4]!.latencyMs = 20;
    const waiting = process({}, connections).acquire('jobs', 10_000, { fair: true });
    await clock.advance(100);
    // A wake from node 0 while the lock is held (as a winner leaving a node wakes the next): every node refuses
    // the attempt, and the holder releases before node 4 answers, waking the waiter on nodes 1 to 4.
    nodes[0]!.publish(connections[0]!.subscribeCalls[0]!);
    await clock.advance(1);
    // Acted on once node 4 answered, not at the timed retry (5 s).
    expect(await handOffMsAfter(clock, held.release(), waiting, 1_000)).toBeLessThanOrEqual(25);
  });
});

describe('fair locks on split nodes', () => {
  it('wake the first waiter when the split that held the lock from it is cleaned up, not at its timed retry', async () => {
    const { clock, connect, process } = setup();
    // Three that reach some nodes at once and the others 2 ms later, and hear back 3 ms late: each is first, and
    // granted, where it is quick. A fourth reaches every node 1 ms late and hears back at once: second on every
    // node, so its place, 2, is the lowest of all, and it learns it first.
    const connectionsOf = (requestLatencyOf: (nodeIndex: number) => number, latencyMs: number): PubSubFakeNode[] =>
      connect().map((connection, nodeIndex) => Object.assign(connection, { requestLatencyMs: requestLatencyOf(nodeIndex), latencyMs }));
    const splitting = [[0, 1], [2], [3, 4]].map((quick) => process({}, connectionsOf((nodeIndex) => (quick.includes(nodeIndex) ? 0 : 2), 3)));
    const first = process({}, connectionsOf(() => 1, 0));
    for (const redlock of [...splitting, first]) await clock.runUntilSettled(redlock.acquire('warm-up', 10_000).then((lock) => lock.release()));
    const startedAtMs = clock.now();
    const calls = [...splitting, first].map((redlock) => redlock.acquire('jobs', 10_000, { fair: true }));
    // It asks again with its place while the others' grants still hold every node, and is refused everywhere;
    // their failed attempts' keys are then removed. Its timed retry is 5 s away.
    const { value: lock, atMs } = await within(clock, 6_000, calls[3]!);
    expect(lock).toBeDefined();
    expect(atMs - startedAtMs).toBeLessThan(50);
    await clock.runUntilSettled(lock!.release());
    await within(clock, 6_000, Promise.all(calls.slice(0, 3).map((call) => call.then((held) => clock.runUntilSettled(held.release())))));
  });

  it('settle a split between two waiters that reached the nodes in opposite orders, one node silent: grants tell them their places', async () => {
    const { clock, connect, process } = setup();
    // Each one's commands reach two nodes at once and two others 2 ms later, the other way round for the other.
    const connectionsOf = (late: readonly number[]): PubSubFakeNode[] => connect().map((connection, nodeIndex) => Object.assign(connection, { requestLatencyMs: late.includes(nodeIndex) ? 2 : 0 }));
    const connections = [connectionsOf([2, 3]), connectionsOf([0, 1])];
    const [a, b] = connections.map((each) => process({ retryDelayMs: 200, retryJitterMs: 0 }, each)) as [Redlock, Redlock];
    for (const redlock of [a, b]) await clock.runUntilSettled(redlock.acquire('warm-up', 10_000).then((lock) => lock.release()));
    // Node 4 stops answering: so each one's place needs the nodes that granted it.
    for (const each of connections) each[4]!.hang();
    const startedAtMs = clock.now();
    const waits = [a, b].map((redlock) => redlock.acquire('jobs', 10_000, { fair: true }));
    const isGranted = [false, false];
    waits.forEach((wait, index) => void wait.then(() => (isGranted[index] = true)));
    // Each is first on the two nodes it reached first, and granted there: without those nodes' places, neither
    // had a place from a quorum, nor moved, and the two split the nodes until they gave up.
    const first = await within(clock, 2_000, Promise.race(waits));
    expect(first.value).toBeDefined();
    // Node 4's first call times out at 50 ms; one more attempt settles the order.
    expect(first.atMs - startedAtMs).toBeLessThan(100);
    expect(await handOffMsAfter(clock, first.value!.release(), waits[isGranted.indexOf(false)]!)).toBeLessThanOrEqual(20);
  });
});

describe('fair locks with a paused node', () => {
  it("hand on within a few ms when the woken attempt beat the release to some nodes, not at the paused node's pace", async () => {
    const { clock, connect, process } = setup();
    const [holderConnections, waiterConnections] = [connect(), connect()];
    const holder = process({ retryCount: 0 }, holderConnections);
    const waiter = process({}, waiterConnections);
    for (const redlock of [holder, waiter]) await clock.runUntilSettled(redlock.acquire('warm-up', 10_000).then((lock) => lock.release()));
    // Node 4 stops answering (a paused server): its first call times out at 50 ms, and it falls silent.
    for (const connections of [holderConnections, waiterConnections]) connections[4]!.hang();
    const held = await clock.runUntilSettled(holder.acquire('jobs', 10_000, { fair: true }));
    const waiting = waiter.acquire('jobs', 10_000, { fair: true });
    // Its queued attempt's probe of node 4 runs out (1 s), and the next one comes due (its timed retry is 5 s away).
    await clock.advance(1_500);
    while (clock.now() < 4_000 && waiter.nodeHealth()[4]?.probeInMs !== 0) await clock.advance(10);
    expect(waiter.nodeHealth()[4]).toMatchObject({ state: 'down', probeInMs: 0 });
    // The release reaches nodes 2 and 3 2 ms late: the woken attempt, which carries node 4's probe, is granted
    // on nodes 0 and 1 and refused on 2 and 3, and its vote turns on the probe, which never answers.
    holderConnections[2]!.requestLatencyMs = 2;
    holderConnections[3]!.requestLatencyMs = 2;
    // Once the others answered, the probe had as long again, and the next attempts went at once: not 48 ms
    // later (the vote waiting for the node's pace) nor 9 ms (the next attempt waiting for the probe to settle).
    expect(await handOffMsAfter(clock, held.release(), waiting)).toBeLessThanOrEqual(6);
    expect(waiter.nodeHealth()[4]).toMatchObject({ state: 'down' });
  });
});

describe('woken attempts and timed retries', () => {
  it('does not count attempts woken by a release against retryCount', async () => {
    // The lock changes hands 20 times while the waiter, allowed 6 timed retries 1 s apart, keeps trying (it
    // asks for a reservation only from its third failed try: 2 s away).
    const { clock, connect, process } = setup();
    // Its commands reach the nodes 1 ms after it sends them.
    const waiter = process({ retryCount: 6, retryDelayMs: 1_000 }, connect().map((connection) => Object.assign(connection, { requestLatencyMs: 1 })));
    const others = [process({ retryCount: 0 }), process({ retryCount: 0 })];
    let lock = await clock.runUntilSettled(others[0]!.acquire('orders:42', 10_000));
    const waiting = waiter.acquire('orders:42', 10_000);
    await clock.advance(5);
    for (let handOff = 0; handOff < 20; handOff += 1) {
      // The next owner's commands reach the nodes at once: it takes the lock before the woken waiter's
      // attempt arrives, and the waiter loses every race.
      const release = lock.release();
      const next = others[handOff % 2]!.acquire('orders:42', 10_000);
      await clock.runUntilSettled(release);
      lock = await clock.runUntilSettled(next);
      await clock.advance(5);
    }
    expect(await handOffMsAfter(clock, lock.release(), waiting)).toBeLessThanOrEqual(5);
    expect(clock.now()).toBeLessThan(1_000);
  });

  it('still gives up after its timed retries when no wake comes', async () => {
    const { clock, nodes, process } = setup();
    await clock.runUntilSettled(process({ retryCount: 0 }).acquire('orders:42', 10_000));
    const { error, atMs } = await within(clock, 1_000, process({ retryCount: 2, retryDelayMs: 100 }).acquire('orders:42', 10_000));
    expect(error).toBeInstanceOf(LockAcquireError);
    // The first attempt and the two timed retries; the look once subscribed asked one node, and is no try.
    expect((error as LockAcquireError).attempts).toHaveLength(3);
    expect(atMs).toBe(200);
    await clock.advance(0);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0, 0, 0]);
  });

  it('falls back to the timer when subscribing fails or hangs', async () => {
    const { clock, nodes, process } = setup();
    const held = await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    const hanging = process(
      { retryDelayMs: 200, nodeTimeoutMs: 50 },
      nodes.map((node) => Object.assign(node.connectAnotherClient(), { isSubscribeHanging: true })),
    ).acquire('orders:42', 10_000);
    const failing = process(
      { retryDelayMs: 200 },
      nodes.map((node) => Object.assign(node.connectAnotherClient(), { subscribeError: new Error('ERR unknown command') })),
    ).acquire('orders:42', 10_000);
    await clock.advance(100);
    await clock.runUntilSettled(held.release());
    const [a, b] = await Promise.all([within(clock, 500, hanging), within(clock, 500, failing)]);
    const locks = [a.value, b.value].filter((lock) => lock !== undefined);
    expect(locks).toHaveLength(1);
    await clock.runUntilSettled(locks[0]!.release());
  });

  it('asks the node that woke it alone first, and no other node when the lock is taken there', async () => {
    const { clock, nodes, process } = setup();
    await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    const connections = nodes.map((node) => node.connectAnotherClient());
    void process({}, connections).acquire('orders:42', 10_000).catch(() => undefined);
    await clock.advance(50);
    const before = connections.map((connection) => connection.acquireRequests().length);
    // A wake from node 3, forged: the lock is still held.
    nodes[3]!.publish(connections[3]!.subscribeCalls[0]!);
    await clock.advance(50);
    expect(connections.map((connection, nodeIndex) => connection.acquireRequests().length - before[nodeIndex]!)).toEqual([0, 0, 0, 1, 0]);
  });

  it('drops the other nodes\' wakes that came while a woken attempt failed, and acts once on a new wake of the node it asked', async () => {
    const { clock, nodes, process } = setup();
    await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    // Replies 1 ms after each command, so that wakes can come while an attempt runs.
    const connections = nodes.map((node) => Object.assign(node.connectAnotherClient(), { latencyMs: 1 }));
    void new Redlock(connections, { clock, retryDelayMs: 200, retryJitterMs: 0 }).acquire('orders:42', 10_000).catch(() => undefined);
    // The first attempt, subscribing and the look after it are done; the timed retry is due at 200 ms.
    await clock.advance(20);
    const calls = (): number => connections.reduce((sum, connection) => sum + connection.acquireRequests().length, 0);
    const forgeOn = (nodeIndexes: readonly number[]): void => nodeIndexes.forEach((nodeIndex) => nodes[nodeIndex]!.publish(connections[nodeIndex]!.subscribeCalls[0]!));
    const before = calls();
    // Forged wakes, the lock still held: one attempt, which asks the node whose wake came first (node 0) alone.
    forgeOn([0, 1, 2, 3, 4]);
    await clock.advance(0);
    expect(calls()).toBe(before + 1);
    // More of them while it runs, from the other nodes (as a release's wakes from every node come): none
    // starts a second attempt once it failed.
    forgeOn([1, 2, 3, 4]);
    await clock.advance(20);
    expect(calls()).toBe(before + 1);
    // A wake after it starts the next attempt at once.
    forgeOn([0, 1, 2, 3, 4]);
    await clock.advance(0);
    expect(calls()).toBe(before + 2);
    // A new wake of the node it asked, while it runs: a node wakes a waiter once per release, so this one is a
    // later release there (or forged), which its answer may trail. It starts one attempt once it failed, not more.
    forgeOn([0, 1, 2, 3, 4]);
    await clock.advance(20);
    expect(calls()).toBe(before + 3);
    await clock.advance(20);
    expect(calls()).toBe(before + 3);
  });

  it('acts on the wakes of a hold taken back every time at once three times, then waits 1, 2, 4, 8, 16 ms before each, and 16 ms from then on', async () => {
    const { clock, nodes, process } = setup();
    await clock.runUntilSettled(process().acquire('orders:42', 10_000));
    const connections = nodes.map((node) => node.connectAnotherClient());
    void new Redlock(connections, { clock, retryDelayMs: 1_000, retryJitterMs: 0 }).acquire('orders:42', 10_000).catch(() => undefined);
    // Its first attempt, then its look once subscribed: a woken attempt that failed, the first in a row.
    await clock.advance(10);
    expect(connections[0]!.acquireRequests().map((call) => call.sentAtMs)).toEqual([0, 0]);
    // A wake every millisecond for 200 ms (forged: the lock stays held, as if taken back at each release).
    for (let ms = 0; ms < 200; ms += 1) {
      nodes[0]!.publish(connections[0]!.subscribeCalls[0]!);
      await clock.advance(1);
    }
    const askedAt = connections[0]!.acquireRequests().slice(2).map((call) => call.sentAtMs);
    expect(askedAt[0]).toBe(10);
    expect(askedAt.slice(1).map((ms, index) => ms - askedAt[index]!)).toEqual([1, 1, 1, 2, 4, 8, 16, ...Array(10).fill(16)]);
  });

  it('hands a lock released here to the next call of the same Redlock at once, after a forged wake failed it', async () => {
    const { clock, nodes, process } = setup();
    const connections = nodes.map((node) => node.connectAnotherClient());
    const local = process({ retryDelayMs: 200 }, connections);
    // A single try does not queue: to the queued call, its lock is held by another owner.
    const held = await clock.runUntilSettled(local.tryAcquire('orders:42', 10_000));
    const waiting = local.acquire('orders:42', 10_000);
    await clock.advance(20);
    // A forged wake starts an attempt that fails.
    nodes[0]!.publish(connections[0]!.subscribeCalls[0]!);
    await clock.advance(20);
    expect(await handOffMsAfter(clock, held!.release(), waiting)).toBeLessThanOrEqual(1);
  });
});

describe('a wake that overtakes the answer of a woken attempt', () => {
  it.each(HOLD_KINDS)('%s: a later release on the node it asked wakes the waiter again, however its answers lag', async (_, take) => {
    const { clock, connect, process } = setup(1);
    const first = await clock.runUntilSettled(take(process()));
    // The waiter's commands reach the node 2 ms after they are sent and their answers come 20 ms later, while
    // its wakes come at once on the subscriber connection: a wake can overtake an earlier command's answer.
    const lagging = connect();
    lagging[0]!.requestLatencyMs = 2;
    lagging[0]!.latencyMs = 20;
    const waiting = take(process({}, lagging));
    await clock.advance(200);
    // A release wakes the waiter; before its woken attempt reaches the node, another process takes the hold
    // and releases it again while that attempt's answer ("taken") is on its way.
    await clock.runUntilSettled(first.release());
    await clock.advance(1);
    const second = await clock.runUntilSettled(take(process()));
    await clock.advance(8);
    await clock.runUntilSettled(second.release());
    const releasedAtMs = clock.now();
    // The second release's wake came while the attempt ran: acted on once its answer came, not at the timed retry (5 s).
    const { value, atMs } = await within(clock, 1_000, waiting);
    expect(value).toBeDefined();
    expect(atMs - releasedAtMs).toBeLessThan(100);
    await clock.runUntilSettled(value!.release());
  });
});

describe('a hand-off while a node hangs', () => {
  it.each(HOLD_KINDS)('%s: takes a few node round trips at defaults, never the timeout of a probe to the hung node', async (_, take) => {
    const { clock, nodes } = setup();
    const holderConnections = nodes.map((node) => Object.assign(node.connectAnotherClient(), { latencyMs: 1 }));
    const waiterConnections = nodes.map((node) => Object.assign(node.connectAnotherClient(), { latencyMs: 1 }));
    const holder = new Redlock(holderConnections, { clock });
    const waiter = new Redlock(waiterConnections, { clock });
    // Both meet every node, then node 0 stops answering anything, SUBSCRIBE included.
    for (const redlock of [holder, waiter]) await clock.runUntilSettled(take(redlock).then((hold) => hold.release()));
    for (const connection of [holderConnections[0]!, waiterConnections[0]!]) {
      connection.hang();
      connection.isSubscribeHanging = true;
    }
    const handOffsMs: number[] = [];
    // Over some 8 s: the silent node's probes are in flight during some of the waiter's attempts.
    for (let round = 0; round < 20; round += 1) {
      const held = await clock.runUntilSettled(take(holder));
      const waiting = take(waiter);
      await clock.advance(300 + 17 * round);
      handOffsMs.push(await handOffMsAfter(clock, held.release(), waiting, 3_000));
    }
    expect(Math.max(...handOffsMs)).toBeLessThanOrEqual(150);
  });

  it.each(HOLD_KINDS)('%s: a new waiter listens once the other nodes settled that it is taken, not after the hung node’s first-contact timeout', async (_, take) => {
    const { clock, nodes } = setup();
    const holder = new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock });
    const waiterConnections = nodes.map((node) => node.connectAnotherClient());
    // The waiter's first contact with node 4 (a 1 s timeout for a 10 s TTL) is never answered.
    waiterConnections[4]!.hang();
    waiterConnections[4]!.isSubscribeHanging = true;
    const waiter = new Redlock(waiterConnections, { clock });
    const held = await clock.runUntilSettled(take(holder));
    const waiting = take(waiter);
    await clock.advance(300);
    expect(await handOffMsAfter(clock, held.release(), waiting, 2_000)).toBeLessThanOrEqual(50);
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

  it('resolves true at a wake and clears its timer', async () => {
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
