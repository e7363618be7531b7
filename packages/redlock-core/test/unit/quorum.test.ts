import { describe, expect, it } from '@jest/globals';
import { type Clock, LockAcquireError, NodeError, type RedisAdapter, Redlock } from '../../src/index.js';
import { createNodeSet, type NodeSet, NodeState, ServerRegistry } from '../../src/nodes/node-state.js';
import { resolveNodes } from '../../src/settings/resolve-nodes.js';
import { resolveOptions } from '../../src/settings/resolve-options.js';
import type { NodeOutcome } from '../../src/base/outcomes.js';
import { callEveryNode, callNode, callNodeWithin, type NodeCall, settledCall } from '../../src/nodes/node-call.js';
import { collectVotes, quorumOf } from '../../src/nodes/quorum.js';
import { SharedTimeout } from '../../src/nodes/shared-timeout.js';
import { acquireScript, parseAcquireReply } from '../../src/scripts/acquire.js';
import { FakeClock, flushPromises } from '../support/fake-clock.js';
import { FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNode, grantingNodes, hangingNode, keysOf, slowNode } from '../../src/testing/fake-nodes.js';

type Answer = 'yes' | 'no';

/** Node `index` of a Redlock, as the core's calls see it. */
const nodeStateOf = (adapter: RedisAdapter, index = 0): NodeState => new NodeState({ adapter, timeoutMs: undefined }, index, new ServerRegistry(false));

/** A node call the test settles by hand, to feed collectVotes() outcomes in a chosen order. */
function deferredOutcome(nodeIndex: number): {
  call: NodeCall<Answer>;
  answer: (status: Answer) => void;
} {
  let answer!: (status: Answer) => void;
  const promise = new Promise<NodeOutcome<Answer>>((resolve) => {
    answer = (status) => resolve({ nodeIndex, status });
  });
  const call: NodeCall<Answer> = {
    outcome: promise,
    onOutcome: (listener) => void promise.then(listener),
    onAnswer: (listener) => void promise.then((outcome) => listener(outcome.status === 'timeout' || outcome.status === 'error' ? undefined : outcome.status)),
    lateAnswer: promise.then((outcome) => (outcome.status === 'timeout' || outcome.status === 'error' ? undefined : outcome.status)),
    wasSent: true,
  };
  return { call, answer };
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

describe('collectVotes', () => {
  it('decides with a quorum as soon as a majority said yes, without waiting for a slow minority', async () => {
    const nodes = [0, 1, 2, 3, 4].map(deferredOutcome);
    const vote = track(collectVotes(nodes.map((node) => node.call), 'yes', 3));
    nodes[0]?.answer('yes');
    nodes[1]?.answer('yes');
    await flushPromises();
    expect(vote.isSettled).toBe(false);
    nodes[2]?.answer('yes');
    await flushPromises();
    expect(vote.value?.hasQuorum).toBe(true);
    expect(vote.value?.outcomes.map((outcome) => outcome?.status)).toEqual(['yes', 'yes', 'yes', undefined, undefined]);
  });

  it('decides without a quorum as soon as a quorum has become impossible', async () => {
    const nodes = [0, 1, 2, 3, 4].map(deferredOutcome);
    const vote = track(collectVotes(nodes.map((node) => node.call), 'yes', 3));
    nodes[0]?.answer('no');
    nodes[1]?.answer('no');
    nodes[2]?.answer('yes');
    await flushPromises();
    expect(vote.isSettled).toBe(false);
    nodes[3]?.answer('no');
    await flushPromises();
    expect(vote.value?.hasQuorum).toBe(false);
  });

  it('fills in outcomes that arrive after the decision', async () => {
    const nodes = [0, 1, 2].map(deferredOutcome);
    const vote = await (async () => {
      const pending = collectVotes(nodes.map((node) => node.call), 'yes', 2);
      nodes[0]?.answer('yes');
      nodes[1]?.answer('yes');
      return pending;
    })();
    expect(vote.outcomes[2]).toBeUndefined();
    nodes[2]?.answer('no');
    await flushPromises();
    expect(vote.outcomes[2]?.status).toBe('no');
  });

  it('settles an even split of 2 against 2 nodes without a quorum', async () => {
    const nodes = [0, 1, 2, 3].map(deferredOutcome);
    const vote = track(collectVotes(nodes.map((node) => node.call), 'yes', quorumOf(4)));
    nodes[0]?.answer('yes');
    nodes[1]?.answer('yes');
    nodes[2]?.answer('no');
    nodes[3]?.answer('no');
    await flushPromises();
    expect(vote.value?.hasQuorum).toBe(false);
  });

  it('decides without a quorum at once when the signal aborts, and removes its listener', async () => {
    const nodes = [0, 1, 2].map(deferredOutcome);
    const controller = new AbortController();
    const vote = track(collectVotes(nodes.map((node) => node.call), 'yes', 2, controller.signal));
    nodes[0]?.answer('yes');
    await flushPromises();
    controller.abort();
    await flushPromises();
    expect(vote.value?.hasQuorum).toBe(false);
    nodes[1]?.answer('yes');
    await flushPromises();
    expect(vote.value?.hasQuorum).toBe(false);
  });

  it('decides without a quorum at once when the signal is already aborted', async () => {
    const nodes = [0, 1, 2].map(deferredOutcome);
    const vote = await collectVotes(nodes.map((node) => node.call), 'yes', 2, AbortSignal.abort());
    expect(vote).toEqual({ hasQuorum: false, outcomes: [undefined, undefined, undefined] });
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
    await collectVotes([settledCall<'yes'>({ nodeIndex: 0, status: 'yes' })], 'yes', 1, signal);
    expect(listeners).toBe(0);
  });
});

describe('callNode', () => {
  it('turns a synchronous throw from the adapter into an error outcome', async () => {
    const clock = new FakeClock();
    const node = grantingNode(clock);
    node.throwsSynchronously = true;
    const call = callNode(nodeStateOf(node, 3), 50, clock, (adapter) => adapter.evalsha('sha', [], []) as Promise<'ok'>, 'acquire');
    const outcome = await clock.runUntilSettled(call.outcome);
    expect(outcome).toMatchObject({ nodeIndex: 3, status: 'error' });
    expect('error' in outcome && outcome.error).toBeInstanceOf(NodeError);
    expect('error' in outcome && outcome.error.message).toBe('Node 3 failed: Adapter bug: threw synchronously');
    expect(await call.lateAnswer).toBeUndefined();
  });

  it('reports a timeout after timeoutMs on the clock, and still delivers the late answer', async () => {
    const clock = new FakeClock();
    const node = hangingNode(clock);
    const call = callNode(nodeStateOf(node, 1), 80, clock, (adapter) =>
      adapter.evalsha(acquireScript.sha1, ['late'], ['token', '1000']).then(parseAcquireReply), 'acquire',
    );
    const outcome = await clock.runUntilSettled(call.outcome);
    expect(clock.now()).toBe(80);
    expect(outcome.status).toBe('timeout');
    const error = 'error' in outcome ? outcome.error : undefined;
    expect(error).toMatchObject({ nodeIndex: 1, isTimeout: true, message: 'Node 1 did not answer within 80 ms' });
    node.resume();
    expect(await call.lateAnswer).toBe('acquired');
  });

  it('resolves the late answer with undefined when the node finally fails', async () => {
    const clock = new FakeClock();
    const node = hangingNode(clock);
    node.errorReply = new Error('ERR late failure');
    const call = callNode(nodeStateOf(node, 0), 50, clock, (adapter) =>
      adapter.evalsha(acquireScript.sha1, ['late'], ['token', '1000']).then(parseAcquireReply), 'acquire',
    );
    await clock.runUntilSettled(call.outcome);
    node.resume();
    expect(await call.lateAnswer).toBeUndefined();
  });

  it('clears its timeout timer when the node answers in time', async () => {
    const clock = new FakeClock();
    const call = callNode(nodeStateOf(grantingNode(clock), 0), 50, clock, async () => 'ok' as const, 'acquire');
    expect(await call.outcome).toEqual({ nodeIndex: 0, status: 'ok' });
    await flushPromises();
    expect(clock.pendingTimerCount).toBe(0);
  });
});

describe('callEveryNode timeouts', () => {
  /** Runs the acquire script on every node of `set`, as an attempt does. */
  function acquireOnEveryNode(set: NodeSet) {
    return callEveryNode(set, 1000, 1, (adapter) => adapter.evalsha(acquireScript.sha1, ['k'], ['token', '1000']).then(parseAcquireReply), 'acquire');
  }

  it('uses one timer for nodes that share a timeout, and times out every node still pending when it fires', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), hangingNode(clock), grantingNode(clock), hangingNode(clock), grantingNode(clock)];
    const set = createNodeSet(resolveNodes(nodes), resolveOptions({ clock, nodeTimeoutMs: 50 }));
    const calls = acquireOnEveryNode(set);
    expect(clock.pendingTimerCount).toBe(1);
    const outcomes = await clock.runUntilSettled(Promise.all(calls.map((call) => call.outcome)));
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
    const set = createNodeSet(resolveNodes(nodes), resolveOptions({ clock, nodeTimeoutMs: 50 }));
    const calls = acquireOnEveryNode(set);
    expect(clock.pendingTimerCount).toBe(1);
    const settled = Promise.all(calls.map((call) => call.outcome.then((outcome) => ({ status: outcome.status, atMs: clock.now() }))));
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
    const set = createNodeSet(resolveNodes([slowNode(clock, 40), slowNode(clock, 40), slowNode(clock, 40)]), resolveOptions({ clock: early, nodeTimeoutMs: 50 }));
    const fanOuts: Promise<string[]>[] = [];
    for (let index = 0; index < 30; index += 1) {
      fanOuts.push(Promise.all(acquireOnEveryNode(set).map(async (call) => (await call.outcome).status)));
      await clock.advance(10);
    }
    const statuses = (await clock.runUntilSettled(Promise.all(fanOuts))).flat();
    expect(statuses).toHaveLength(90);
    expect(statuses.filter((status) => status !== 'acquired')).toEqual([]);
  });

  it('clears the shared timer once every node answered in time', async () => {
    const clock = new FakeClock();
    const set = createNodeSet(resolveNodes([slowNode(clock, 10), grantingNode(clock), slowNode(clock, 20)]), resolveOptions({ clock }));
    const calls = acquireOnEveryNode(set);
    const outcomes = await clock.runUntilSettled(Promise.all(calls.map((call) => call.outcome)));
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
    // EVAL answers the probe script of first contact, as a known server would.
    const adapter = (): RedisAdapter => ({ evalsha: async () => 1, eval: async () => ['run-id', 'noeviction'] });
    const timeout = new SharedTimeout(clock, 50);
    const calls = [0, 1, 2].map((nodeIndex) =>
      callNodeWithin(timeout, nodeStateOf(adapter(), nodeIndex), () => new Promise<'ok'>((resolve) => answers.push(resolve)), 'acquire'),
    );
    const states = calls.map((call) => track(call.outcome));
    fire?.();
    answers[0]?.('ok');
    await flushPromises();
    expect(states.map((state) => state.value?.status)).toEqual(['ok', 'timeout', 'timeout']);
    answers[1]?.('ok');
    expect(await calls[1]?.lateAnswer).toBe('ok');
  });

  it('gives the same late answer on every read', async () => {
    const clock = new FakeClock();
    const call = callNode(nodeStateOf(grantingNode(clock), 0), 50, clock, async () => 'ok' as const, 'acquire');
    expect(call.lateAnswer).toBe(call.lateAnswer);
    expect(await call.lateAnswer).toBe('ok');
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
