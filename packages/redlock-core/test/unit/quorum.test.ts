import { describe, expect, it } from '@jest/globals';
import { type Clock, LockAcquireError, NodeError, type RedisAdapter, Redlock } from '../../src/index.js';
import { createNodeSet, type NodeSet } from '../../src/nodes/node-state.js';
import { resolveNodes } from '../../src/settings/resolve-nodes.js';
import { resolveOptions } from '../../src/settings/resolve-options.js';
import { FanOut } from '../../src/nodes/fan-out.js';
import type { NodeCallRun } from '../../src/nodes/node-call.js';
import { quorumOf } from '../../src/nodes/quorum.js';
import { acquireScript, parseAcquireReply } from '../../src/scripts/acquire.js';
import { FakeClock, flushPromises } from '../support/fake-clock.js';
import { FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNode, grantingNodes, hangingNode, keysOf, slowNode } from '../../src/testing/fake-nodes.js';

type Answer = 'yes' | 'no';

/** The node set of `adapters`, with the Redlock's options. */
const setOf = (adapters: readonly (RedisAdapter | { adapter: RedisAdapter; timeoutMs: number })[], options: Parameters<typeof resolveOptions>[0] = {}): NodeSet =>
  createNodeSet(resolveNodes(adapters), resolveOptions(options));

/** An adapter whose probe of first contact answers as server `runId` would (each node its own server). */
const probedAdapter = (runId: string): RedisAdapter => ({ evalsha: async () => 1, eval: async () => [runId, 'noeviction'] });

/** A fan-out over `count` nodes whose answers the test gives by hand, in a chosen order. */
function answeredByHand(count: number, signal?: AbortSignal) {
  const set = setOf(Array.from({ length: count }, (_, index) => probedAdapter(`run-${index}`)), { clock: new FakeClock() });
  const calls = new FanOut<Answer>(set, 'acquire', 'yes');
  const answers: ((status: Answer) => void)[] = [];
  for (let nodeIndex = 0; nodeIndex < count; nodeIndex += 1) {
    calls.send(nodeIndex, 1000, () => new Promise<Answer>((resolve) => (answers[nodeIndex] = resolve)));
  }
  return { calls, answers, decided: track(calls.decided(signal)) };
}

/** One call to one node of its own, as a cleanup or a re-seed makes. */
function callOne<S extends string>(adapter: RedisAdapter, timeoutMs: number, clock: Clock, run: NodeCallRun<S>, nodeIndex = 0): FanOut<S> {
  const adapters = Array.from({ length: nodeIndex + 1 }, (_, index) => (index === nodeIndex ? adapter : probedAdapter(`other-${index}`)));
  const calls = new FanOut<S>(setOf(adapters, { clock }), 'acquire');
  calls.send(nodeIndex, timeoutMs, run);
  return calls;
}

/** Records when a promise settles, so a test can check that it has not settled yet. */
function track<T>(promise: Promise<T>): { readonly isSettled: boolean; readonly value: T | undefined } {
  const state: { isSettled: boolean; value: T | undefined } = { isSettled: false, value: undefined };
  void promise.then((value) => {
    state.isSettled = true;
    state.value = value;
  });
  return state;
}

describe('quorumOf', () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 2],
    [4, 3],
    [5, 3],
    [6, 4],
    [7, 4],
  ])('needs a strict majority: %i nodes → %i', (nodeCount, quorum) => {
    expect(quorumOf(nodeCount)).toBe(quorum);
  });
});

describe('the vote of a fan-out', () => {
  it('decides with a quorum as soon as a majority said yes, without waiting for a slow minority', async () => {
    const { calls, answers, decided } = answeredByHand(5);
    answers[0]?.('yes');
    answers[1]?.('yes');
    await flushPromises();
    expect(decided.isSettled).toBe(false);
    answers[2]?.('yes');
    await flushPromises();
    expect(decided.value).toBe(true);
    expect(calls.outcomes.map((outcome) => outcome?.status)).toEqual(['yes', 'yes', 'yes', undefined, undefined]);
  });

  it('decides without a quorum as soon as a quorum has become impossible', async () => {
    const { answers, decided } = answeredByHand(5);
    answers[0]?.('no');
    answers[1]?.('no');
    answers[2]?.('yes');
    await flushPromises();
    expect(decided.isSettled).toBe(false);
    answers[3]?.('no');
    await flushPromises();
    expect(decided.value).toBe(false);
  });

  it('fills in outcomes that arrive after the decision, and settles them all', async () => {
    const { calls, answers, decided } = answeredByHand(3);
    answers[0]?.('yes');
    answers[1]?.('yes');
    await flushPromises();
    expect(decided.value).toBe(true);
    expect(calls.outcomes[2]).toBeUndefined();
    const settled = track(calls.allSettled());
    await flushPromises();
    expect(settled.isSettled).toBe(false);
    answers[2]?.('no');
    await flushPromises();
    expect(calls.outcomes[2]?.status).toBe('no');
    expect(settled.value?.map((outcome) => outcome.status)).toEqual(['yes', 'yes', 'no']);
  });

  it('settles an even split of 2 against 2 nodes without a quorum', async () => {
    const { answers, decided } = answeredByHand(4);
    answers[0]?.('yes');
    answers[1]?.('yes');
    answers[2]?.('no');
    answers[3]?.('no');
    await flushPromises();
    expect(decided.value).toBe(false);
  });

  it('decides without a quorum at once when the signal aborts, whatever comes after', async () => {
    const controller = new AbortController();
    const { answers, decided } = answeredByHand(3, controller.signal);
    answers[0]?.('yes');
    await flushPromises();
    controller.abort();
    await flushPromises();
    expect(decided.value).toBe(false);
    answers[1]?.('yes');
    await flushPromises();
    expect(decided.value).toBe(false);
  });

  it('decides without a quorum at once when the signal is already aborted', async () => {
    const { calls } = answeredByHand(3);
    await expect(calls.decided(AbortSignal.abort())).resolves.toBe(false);
    expect(calls.outcomes).toEqual([undefined, undefined, undefined]);
  });

  it('removes its abort listener once decided', async () => {
    const controller = new AbortController();
    let listeners = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners += 1;
      add(...args);
    }) as typeof signal.addEventListener;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners -= 1;
      remove(...args);
    }) as typeof signal.removeEventListener;
    const { answers, decided } = answeredByHand(3, signal);
    answers[0]?.('yes');
    answers[1]?.('yes');
    await flushPromises();
    expect(decided.value).toBe(true);
    expect(listeners).toBe(0);
  });

  it('counts a node settled without a call (skipped) as it counts an answer', async () => {
    const set = setOf([probedAdapter('a'), probedAdapter('b'), probedAdapter('c')], { clock: new FakeClock() });
    const calls = new FanOut<Answer>(set, 'release', 'yes');
    calls.skip(0, { nodeIndex: 0, status: 'yes' });
    calls.skip(1, { nodeIndex: 1, status: 'yes' });
    await expect(calls.decided()).resolves.toBe(true);
    expect(calls.wasSent(0)).toBe(false);
    expect(await calls.lateAnswerOf(0)).toBeUndefined();
  });
});

describe('one node call', () => {
  it('turns a synchronous throw from the adapter into an error outcome', async () => {
    const clock = new FakeClock();
    const node = grantingNode(clock);
    node.throwsSynchronously = true;
    const call = callOne(node, 50, clock, (adapter) => adapter.evalsha('sha', [], []) as Promise<'ok'>, 3);
    const outcome = await clock.runUntilSettled(call.outcomeOf(3));
    expect(outcome).toMatchObject({ nodeIndex: 3, status: 'error' });
    expect('error' in outcome && outcome.error).toBeInstanceOf(NodeError);
    expect('error' in outcome && outcome.error.message).toBe('Node 3 failed: Adapter bug: threw synchronously');
    expect(await call.lateAnswerOf(3)).toBeUndefined();
  });

  it('reports a timeout after timeoutMs on the clock, and still delivers the late answer', async () => {
    const clock = new FakeClock();
    const node = hangingNode(clock);
    const call = callOne(node, 80, clock, (adapter) => adapter.evalsha(acquireScript.sha1, ['late'], ['token', '1000']).then(parseAcquireReply), 1);
    const outcome = await clock.runUntilSettled(call.outcomeOf(1));
    expect(clock.now()).toBe(80);
    expect(outcome.status).toBe('timeout');
    const error = 'error' in outcome ? outcome.error : undefined;
    expect(error).toMatchObject({ nodeIndex: 1, isTimeout: true, message: 'Node 1 did not answer within 80 ms' });
    node.resume();
    expect(await call.lateAnswerOf(1)).toBe('acquired');
  });

  it('resolves the late answer with undefined when the node finally fails', async () => {
    const clock = new FakeClock();
    const node = hangingNode(clock);
    node.errorReply = new Error('ERR late failure');
    const call = callOne(node, 50, clock, (adapter) => adapter.evalsha(acquireScript.sha1, ['late'], ['token', '1000']).then(parseAcquireReply));
    await clock.runUntilSettled(call.outcomeOf(0));
    node.resume();
    expect(await call.lateAnswerOf(0)).toBeUndefined();
  });

  it('clears its timeout timer when the node answers in time', async () => {
    const clock = new FakeClock();
    const call = callOne(grantingNode(clock), 50, clock, async () => 'ok' as const);
    expect(await call.outcomeOf(0)).toEqual({ nodeIndex: 0, status: 'ok' });
    await flushPromises();
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('gives the same late answer on every read', async () => {
    const clock = new FakeClock();
    const call = callOne(grantingNode(clock), 50, clock, async () => 'ok' as const);
    expect(await call.lateAnswerOf(0)).toBe('ok');
    expect(await call.lateAnswerOf(0)).toBe('ok');
  });
});

describe('fan-out timeouts', () => {
  /** Runs the acquire script on every node of `set`, as an attempt does. */
  function acquireOnEveryNode(set: NodeSet) {
    const calls = new FanOut<'acquired' | 'held' | 'restarting' | 'foreign'>(set, 'acquire', 'acquired');
    return calls.sendToEveryNode(1000, 1, (adapter) => adapter.evalsha(acquireScript.sha1, ['k'], ['token', '1000']).then(parseAcquireReply));
  }

  it('uses one timer for the whole fan-out, and times out every node still pending when it fires', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), hangingNode(clock), grantingNode(clock), hangingNode(clock), grantingNode(clock)];
    const calls = acquireOnEveryNode(setOf(nodes, { clock, nodeTimeoutMs: 50 }));
    expect(clock.pendingTimerCount).toBe(1);
    const outcomes = await clock.runUntilSettled(calls.allSettled());
    expect(clock.now()).toBe(50);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['acquired', 'timeout', 'acquired', 'timeout', 'acquired']);
    expect(outcomes.map((outcome) => ('error' in outcome ? outcome.error.message : undefined))).toEqual([
      undefined,
      'Node 1 did not answer within 50 ms',
      undefined,
      'Node 3 did not answer within 50 ms',
      undefined,
    ]);
    expect(outcomes[3]).toMatchObject({ nodeIndex: 3, error: { nodeIndex: 3, isTimeout: true } });
  });

  it('waits for every distinct timeout on one timer, and each node times out after its own', async () => {
    const clock = new FakeClock();
    const nodes = [hangingNode(clock), { adapter: hangingNode(clock), timeoutMs: 120 }, hangingNode(clock)];
    const calls = acquireOnEveryNode(setOf(nodes, { clock, nodeTimeoutMs: 50 }));
    expect(clock.pendingTimerCount).toBe(1);
    const settled = Promise.all([0, 1, 2].map((nodeIndex) => calls.outcomeOf(nodeIndex).then((outcome) => ({ status: outcome.status, atMs: clock.now() }))));
    expect(await clock.runUntilSettled(settled)).toEqual([
      { status: 'timeout', atMs: 50 },
      { status: 'timeout', atMs: 120 },
      { status: 'timeout', atMs: 50 },
    ]);
  });

  it('does not let a timer that fires early carry its earliness into the next one', async () => {
    // Node's timers count from the event loop's cached time, so one may fire a little before the monotonic
    // clock reaches its deadline: this clock's timers fire 1 ms early, every time.
    const clock = new FakeClock();
    const early: Clock = {
      now: () => clock.now(),
      wallNow: () => clock.wallNow(),
      setTimeout: (callback, ms) => clock.setTimeout(callback, Math.max(0, ms - 1)),
      clearTimeout: (handle) => clock.clearTimeout(handle),
    };
    // Every node answers after 40 ms, within the 50 ms timeout; a fan-out starts every 10 ms, so the one
    // timer is armed again from its own firing, over and over.
    const set = setOf([slowNode(clock, 40), slowNode(clock, 40), slowNode(clock, 40)], { clock: early, nodeTimeoutMs: 50 });
    const fanOuts: Promise<string[]>[] = [];
    for (let index = 0; index < 30; index += 1) {
      fanOuts.push(acquireOnEveryNode(set).allSettled().then((outcomes) => outcomes.map((outcome) => outcome.status)));
      await clock.advance(10);
    }
    const statuses = (await clock.runUntilSettled(Promise.all(fanOuts))).flat();
    expect(statuses).toHaveLength(90);
    expect(statuses.filter((status) => status !== 'acquired')).toEqual([]);
  });

  it('clears the shared timer once every node answered in time', async () => {
    const clock = new FakeClock();
    const calls = acquireOnEveryNode(setOf([slowNode(clock, 10), grantingNode(clock), slowNode(clock, 20)], { clock }));
    const outcomes = await clock.runUntilSettled(calls.allSettled());
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['acquired', 'acquired', 'acquired']);
    await flushPromises();
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('still counts a node whose reply arrives in the same turn as the shared timer, and times out the others', async () => {
    // A clock whose timer the test fires by hand, then answers node 0 in that same turn of the loop, as a
    // reply read from the socket right after a stalled loop ran the overdue timer.
    let fire: (() => void) | undefined;
    const clock: Clock = {
      now: () => 0,
      wallNow: () => 0,
      setTimeout: (callback) => {
        fire = callback;
        return 1;
      },
      clearTimeout: () => undefined,
    };
    const answers: ((status: 'ok') => void)[] = [];
    const set = setOf([0, 1, 2].map((index) => probedAdapter(`run-${index}`)), { clock });
    const calls = new FanOut<'ok'>(set, 'acquire', 'ok');
    for (const nodeIndex of [0, 1, 2]) calls.send(nodeIndex, 50, () => new Promise<'ok'>((resolve) => answers.push(resolve)));
    const states = [0, 1, 2].map((nodeIndex) => track(calls.outcomeOf(nodeIndex)));
    fire?.();
    answers[0]?.('ok');
    await flushPromises();
    await new Promise((resolve) => setImmediate(resolve));
    expect(states.map((state) => state.value?.status)).toEqual(['ok', 'timeout', 'timeout']);
    answers[1]?.('ok');
    expect(await calls.lateAnswerOf(1)).toBe('ok');
  });
});

describe('even node counts through Redlock', () => {
  it('settles with 2 nodes and one down: no quorum, and nothing hangs', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock)];
    nodes[1]!.isDown = true;
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const error = await clock.runUntilSettled(redlock.acquire('even', 1000)).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect(error).toMatchObject({ reason: 'nodes-unreachable' });
    expect(keysOf(nodes[0]!)).toEqual([]);
  });

  it('settles with 2 nodes and one hung: the attempt ends at the node timeout', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), hangingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0, nodeTimeoutMs: 70 });
    const error = await clock.runUntilSettled(redlock.acquire('even', 1000)).catch((failure: unknown) => failure);
    expect(error).toMatchObject({ reason: 'nodes-unreachable' });
    expect((error as LockAcquireError).attempts[0]?.elapsedMs).toBe(70);
  });

  it('ends both attempts of two clients that split 4 nodes 2 against 2, and leaves no key', async () => {
    const clock = new FakeClock();
    const nodesOfA = grantingNodes(clock, 4);
    const nodesOfB = nodesOfA.map((node) => node.connectAnotherClient());
    // Each client reaches "its" half first (1 ms away) and the other half late (10 ms away): A gets nodes
    // 0 and 1, B gets nodes 2 and 3, and each learns of the split before its cleanup reaches a node.
    for (const node of [...nodesOfA, ...nodesOfB]) node.requestLatencyMs = 1;
    for (const node of [nodesOfA[2], nodesOfA[3], nodesOfB[0], nodesOfB[1]] as FakeNode[]) node.requestLatencyMs = 10;
    const a = new Redlock(nodesOfA, { clock, retryCount: 0 });
    const b = new Redlock(nodesOfB, { clock, retryCount: 0 });
    const results = await clock.runUntilSettled(Promise.allSettled([a.acquire('split', 1000), b.acquire('split', 1000)]));
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    for (const result of results) {
      expect(result.status === 'rejected' && result.reason).toMatchObject({ reason: 'held-by-another-owner' });
    }
    // Each single try rejected once the split was known; its cleanup finishes in the background, and
    // close() waits for it.
    await clock.runUntilSettled(Promise.all([a.close(), b.close()]));
    expect(nodesOfA.flatMap(keysOf)).toEqual([]);
  });

  it('lets at most one of two competing clients hold the lock on 4 nodes, whatever the retries', async () => {
    const clock = new FakeClock();
    const nodesOfA = grantingNodes(clock, 4);
    const nodesOfB = nodesOfA.map((node) => node.connectAnotherClient());
    for (const node of [nodesOfA[2], nodesOfA[3], nodesOfB[0], nodesOfB[1]] as FakeNode[]) node.requestLatencyMs = 10;
    const options = { clock, retryCount: 5, retryDelayMs: 100, retryJitterMs: 50 };
    const results = await clock.runUntilSettled(
      Promise.allSettled([new Redlock(nodesOfA, options).acquire('split', 10_000), new Redlock(nodesOfB, options).acquire('split', 10_000)]),
    );
    expect(results.filter((result) => result.status === 'fulfilled').length).toBeLessThanOrEqual(1);
  });
});

describe('a stalled event loop', () => {
  /**
   * A client that sends its commands on a later turn of the event loop, as node-redis does (it writes on
   * `setImmediate`): a command issued just before the loop stalls leaves only after the stall.
   */
  function sendingOnLaterTurn(clock: FakeClock, node: FakeNode): RedisAdapter {
    const later = <T>(send: () => Promise<T>): Promise<T> => new Promise<void>((resolve) => clock.setTimeout(resolve, 0)).then(send);
    return {
      client: node,
      evalsha: (sha1, keys, args) => later(() => node.evalsha(sha1, keys, args)),
      eval: (source, keys, args) => later(() => node.eval(source, keys, args)),
    };
  }

  /** Acquires `r` with one try, the loop stalling for `stallMs` right after the call was made. */
  async function acquireThroughStall(redlock: Redlock, clock: FakeClock, stallMs: number): Promise<unknown> {
    const acquiring = redlock.acquire('r', 10_000, { retryCount: 0 });
    clock.stall(stallMs);
    return clock.runUntilSettled(acquiring).catch((failure: unknown) => failure);
  }

  it('gives calls whose commands left only after the stall a fresh timeout, so they still count', async () => {
    const clock = new FakeClock();
    const nodes = [slowNode(clock, 1), slowNode(clock, 1), slowNode(clock, 1)];
    const redlock = new Redlock(nodes.map((node) => sendingOnLaterTurn(clock, node)), { clock, nodeTimeoutMs: 50 });
    // First contact (the server probe) out of the way.
    await clock.runUntilSettled((await clock.runUntilSettled(redlock.acquire('warm-up', 10_000))).release());
    const lock = await acquireThroughStall(redlock, clock, 200);
    expect(lock).not.toBeInstanceOf(Error);
    expect(nodes.map(keysOf)).toEqual([['r'], ['r'], ['r']]);
  });

  it('still times out silent nodes after that fresh timeout, and only one', async () => {
    const clock = new FakeClock();
    const nodes = [slowNode(clock, 1), slowNode(clock, 1), slowNode(clock, 1)];
    const redlock = new Redlock(nodes, { clock, nodeTimeoutMs: 50 });
    await clock.runUntilSettled((await clock.runUntilSettled(redlock.acquire('warm-up', 10_000))).release());
    nodes[1]?.hang();
    nodes[2]?.hang();
    const error = await acquireThroughStall(redlock, clock, 200);
    expect(error).toMatchObject({ reason: 'nodes-unreachable' });
    // The timer fired 150 ms late: the silent nodes got 50 ms more from then, and no more.
    expect((error as LockAcquireError).attempts[0]?.elapsedMs).toBe(250);
  });

  it('takes no timer lag for a stall once a call got a fresh timeout: the renewed call ends at its own deadline', async () => {
    const clock = new FakeClock();
    // Node 0 answers the SET 40 ms after it was sent (the lock is held there), then never answers the script
    // that tells why; node 1 grants, node 2 refuses: the vote waits for node 0.
    const node = grantingNode(clock);
    let isScriptHanging = false;
    const hangs = <T>(run: () => Promise<T>): Promise<T> => (isScriptHanging ? new Promise<T>(() => undefined) : run());
    const setThenHang: RedisAdapter = {
      trySet: (key, value, ttlMs) => node.trySet(key, value, ttlMs),
      evalsha: (sha1, keys, args) => hangs(() => node.evalsha(sha1, keys, args)),
      eval: (source, keys, args) => hangs(() => node.eval(source, keys, args)),
    };
    const nodes = [setThenHang, grantingNode(clock), grantingNode(clock)];
    const redlock = new Redlock(nodes, { clock, nodeTimeoutMs: 100, retryCount: 1, retryDelayMs: 1_000, retryJitterMs: 0 });
    // First contact (the server probe) and the scripts' cache out of the way.
    await clock.runUntilSettled((await clock.runUntilSettled(redlock.acquire(['w', 'x'], 10_000))).release());
    node.keyspace.set('r', 'someone', 10_000);
    (nodes[2] as FakeNode).keyspace.set('r', 'someone', 10_000);
    node.latencyMs = 40;
    isScriptHanging = true;
    const acquiring = redlock.acquire('r', 10_000);
    acquiring.catch(() => undefined);
    await clock.advance(99);
    // The timer armed for the SET's deadline (100 ms) fires at 108 ms: late, but before the deadline the
    // script's call got (40 + 100 ms), so nothing was stalled, and node 0 times out at 140 ms.
    clock.stall(9);
    await clock.advance(0);
    const error = await clock.runUntilSettled(acquiring).catch((failure: unknown) => failure);
    expect((error as LockAcquireError).attempts[0]?.elapsedMs).toBe(140);
  });

  it('keeps a timer that fires a little late (normal timer lag) as it was', async () => {
    const clock = new FakeClock();
    const nodes = [slowNode(clock, 1), hangingNode(clock), hangingNode(clock)];
    const redlock = new Redlock(nodes, { clock, nodeTimeoutMs: 100, retryCount: 0 });
    const acquiring = redlock.acquire('r', 10_000);
    acquiring.catch(() => undefined);
    await clock.advance(99);
    // The timer is due at 100 ms and fires at 108 ms, within a tenth of the timeout.
    clock.stall(9);
    const error = await clock.runUntilSettled(acquiring).catch((failure: unknown) => failure);
    expect(error).toMatchObject({ reason: 'nodes-unreachable' });
    expect((error as LockAcquireError).attempts[0]?.elapsedMs).toBe(108);
  });
});
