import { afterEach, describe, expect, it, jest } from '@jest/globals';
import {
  CLOSE_TIMEOUT_MS,
  type Lock,
  LockAcquireError,
  LockLostError,
  LockReleaseError,
  NodeError,
  Redlock,
  RedlockClosedError,
  RedlockError,
  type RedlockOptions,
} from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes, keysOf, refusingNode } from '../../src/testing/fake-nodes.js';
import { type PubSubFakeNode, pubSubNode } from '../support/fake-pubsub.js';

/** Gives `node` an adapter `close()` that records its calls and resolves after `ms` of virtual time. */
function withClose(clock: FakeClock, node: FakeNode, ms = 0): { closes: number } {
  const record = { closes: 0 };
  Object.assign(node, {
    close: () => {
      record.closes += 1;
      return new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
    },
  });
  return record;
}

function setup(count = 3, options: RedlockOptions = {}): { clock: FakeClock; nodes: FakeNode[]; redlock: Redlock } {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, count);
  return { clock, nodes, redlock: new Redlock(nodes, { clock, retryDelayMs: 200, retryJitterMs: 0, ...options }) };
}

function callCount(nodes: readonly FakeNode[]): number {
  return nodes.reduce((sum, node) => sum + node.calls.length, 0);
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('redlock.close()', () => {
  it('makes every later acquire(), using(), inspect() and extend() reject with RedlockClosedError before any node is called', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('held', 10_000));
    await clock.runUntilSettled(redlock.close());
    const before = callCount(nodes);
    let hasRun = false;
    const refusals = [
      redlock.acquire('a', 1000),
      redlock.acquire('a', 1000, { retryCount: 0 }),
      redlock.acquire('held', 1000, { reentrant: lock }),
      redlock.using('a', 1000, () => {
        hasRun = true;
      }),
      redlock.inspect('a'),
      lock.extend(1000),
    ];
    for (const refusal of refusals) {
      const error = await refusal.catch((rejection: unknown) => rejection);
      expect(error).toBeInstanceOf(RedlockClosedError);
      expect(error).toBeInstanceOf(RedlockError);
      expect((error as Error).name).toBe('RedlockClosedError');
    }
    expect(await redlock.acquire('a', 1000).then(String, (error: Error) => error.message)).toBe('Could not acquire "a": the Redlock was closed');
    expect(await lock.extend(1000).catch((error: RedlockClosedError) => error.resources)).toEqual(['held']);
    expect(hasRun).toBe(false);
    expect(callCount(nodes)).toBe(before);
    // Health needs no node: it keeps working.
    expect(redlock.nodeHealth()).toHaveLength(3);
  });

  it('still reports bad arguments as TypeError or RangeError after close', async () => {
    const { clock, redlock } = setup();
    await clock.runUntilSettled(redlock.close());
    await expect(redlock.acquire('a', -1)).rejects.toBeInstanceOf(RangeError);
    await expect(redlock.acquire(42 as unknown as string, 1000)).rejects.toBeInstanceOf(TypeError);
  });

  it('rejects a call queued behind a local holder and a call retrying against another owner at once, and leaves no timer', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), ...grantingNodes(clock, 1)];
    const other = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 100, retryDelayMs: 200, retryJitterMs: 0 });
    const local = new Redlock(other, { clock, retryCount: 100, retryDelayMs: 200, retryJitterMs: 0 });
    const held = await clock.runUntilSettled(local.acquire('q', 10_000));
    const queued = local.acquire('q', 10_000);
    const retrying = redlock.acquire('r', 10_000);
    const settled = [queued, retrying].map((call) => call.catch((error: unknown) => error));
    await clock.advance(500);
    const closedAtMs = clock.now();
    const closing = Promise.all([local.close(), redlock.close()]);
    const [queuedError, retryingError] = await Promise.all(settled);
    expect(queuedError).toBeInstanceOf(RedlockClosedError);
    expect((queuedError as Error).message).toBe('Could not acquire "q": the Redlock was closed while the call waited');
    expect(retryingError).toBeInstanceOf(RedlockClosedError);
    expect(clock.now()).toBe(closedAtMs);
    await clock.runUntilSettled(closing);
    // The held lock is left to its holder, and its keys are still there.
    expect(held.state).toBe('held');
    expect(other.every((node) => node.keyspace.get('q') === held.token)).toBe(true);
    expect(clock.pendingTimerCount).toBe(0);
    const sentAfterClose = callCount(nodes) + callCount(other);
    await clock.advance(5_000);
    expect(callCount(nodes) + callCount(other)).toBe(sentAfterClose);
  });

  it('rejects a call whose attempt is in flight at once, and releases the lock that attempt then gets', async () => {
    const { clock, nodes, redlock } = setup();
    for (const node of nodes) node.latencyMs = 20;
    const acquiring = redlock.acquire('r', 10_000).catch((error: unknown) => error);
    await clock.advance(5);
    const closing = redlock.close();
    expect(await acquiring).toBeInstanceOf(RedlockClosedError);
    expect(clock.now()).toBe(5);
    await clock.runUntilSettled(closing);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('rejects every call in flight, also when a call made between them settled first', async () => {
    const { clock, nodes, redlock } = setup();
    for (const node of nodes) node.latencyMs = 20;
    const first = redlock.acquire('a', 10_000).catch((error: unknown) => error);
    // Queued behind `first`, here: it gives up when its 1 ms runs out, while the others wait for their nodes.
    const middle = redlock.acquire('a', 10_000, { waitMs: 1 }).catch((error: unknown) => error);
    const last = redlock.acquire('c', 10_000).catch((error: unknown) => error);
    await clock.advance(5);
    expect(await middle).toBeInstanceOf(LockAcquireError);
    const closing = redlock.close();
    expect(await first).toBeInstanceOf(RedlockClosedError);
    expect(await last).toBeInstanceOf(RedlockClosedError);
    expect(clock.now()).toBe(5);
    await clock.runUntilSettled(closing);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('returns the same promise when called again or concurrently, and closes each adapter once', async () => {
    const { clock, nodes, redlock } = setup();
    const records = nodes.map((node) => withClose(clock, node, 10));
    const first = redlock.close();
    expect(redlock.close()).toBe(first);
    await clock.runUntilSettled(first);
    expect(redlock.close()).toBe(first);
    expect(records.map((record) => record.closes)).toEqual([1, 1, 1]);
  });

  it("never touches the user's clients", async () => {
    const { clock, nodes } = setup();
    const quit = jest.fn();
    const adapters = nodes.map((node) => ({
      evalsha: node.evalsha.bind(node),
      eval: node.eval.bind(node),
      client: { quit, disconnect: quit },
    }));
    const redlock = new Redlock(adapters, { clock });
    await clock.runUntilSettled(redlock.acquire('r', 1000).then((lock) => lock.release()));
    await clock.runUntilSettled(redlock.close());
    expect(quit).not.toHaveBeenCalled();
  });

  it('leaves a held lock to its holder: no release, its signal aborts with RedlockClosedError, and release() still works after', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    const { signal } = lock;
    await clock.runUntilSettled(redlock.close());
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(RedlockClosedError);
    expect((signal.reason as RedlockClosedError).message).toBe('The Redlock was closed: the lock on "r" is no longer extended');
    expect(lock.state).toBe('held');
    expect(nodes.every((node) => node.keyspace.get('r') === lock.token)).toBe(true);
    expect(clock.pendingTimerCount).toBe(0);
    await clock.runUntilSettled(lock.release());
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('gives a lock whose signal is first read after close an aborted signal', async () => {
    const { clock, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    await clock.runUntilSettled(redlock.close());
    expect(lock.signal.reason).toBeInstanceOf(RedlockClosedError);
  });

  it("stops using()'s extension and aborts its routine's signal with RedlockClosedError; using() resolves and releases", async () => {
    const { clock, nodes, redlock } = setup();
    let closing: Promise<void> | undefined;
    const using = redlock.using('job', 1000, async (signal) => {
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 100));
      closing = redlock.close();
      const reason: unknown = signal.reason;
      return { aborted: signal.aborted, reason };
    });
    const { aborted, reason } = await clock.runUntilSettled(using);
    expect(aborted).toBe(true);
    expect(reason).toBeInstanceOf(RedlockClosedError);
    await clock.runUntilSettled(closing as Promise<void>);
    expect(nodes.flatMap((node) => node.callsTo('extend'))).toEqual([]);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('waits for a release in flight before closing the adapters', async () => {
    const { clock, nodes, redlock } = setup();
    const order: string[] = [];
    for (const node of nodes) {
      Object.assign(node, {
        close: async () => {
          order.push(`close at ${clock.now()}`);
        },
      });
    }
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    nodes[2]!.latencyMs = 40;
    await clock.runUntilSettled(lock.release());
    expect(clock.now()).toBe(0);
    await clock.runUntilSettled(redlock.close());
    expect(order).toEqual(['close at 40', 'close at 40', 'close at 40']);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it(`gives up background work after CLOSE_TIMEOUT_MS (${CLOSE_TIMEOUT_MS} ms), clears its re-send timers, and closes the adapters`, async () => {
    const { clock, nodes, redlock } = setup();
    const records = nodes.map((node) => withClose(clock, node));
    const lock = await clock.runUntilSettled(redlock.acquire('r', 60_000));
    nodes[1]!.isDown = true;
    nodes[2]!.isDown = true;
    // No quorum confirms the release: it is sent again to nodes 1 and 2 at doubling pauses, until the keys
    // would expire (60 s), and close() keeps waiting for that up to its bound.
    const releasing = lock.release().catch((error: unknown) => error);
    await clock.advance(10);
    const closing = redlock.close();
    await clock.runUntilSettled(closing);
    expect(clock.now()).toBe(10 + CLOSE_TIMEOUT_MS);
    expect(records.map((record) => record.closes)).toEqual([1, 1, 1]);
    const releasesSent = nodes[1]!.callsTo('release').length;
    expect(releasesSent).toBeGreaterThan(2);
    await clock.advance(10_000);
    expect(nodes[1]!.callsTo('release')).toHaveLength(releasesSent);
    expect(await releasing).toBeInstanceOf(LockReleaseError);
  });

  /** A Redlock whose lock was released while node 1 refused connections: nodes 0 and 2 confirmed it, node 1's re-sends wait at pauses. */
  async function releasedWhileNode1Refuses(): Promise<{ clock: FakeClock; nodes: FakeNode[]; redlock: Redlock }> {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('r', 60_000));
    nodes[1]!.isDown = true;
    await clock.runUntilSettled(lock.release());
    return { clock, nodes, redlock };
  }

  it('sends a waiting re-send at once and then stops when a quorum confirmed the release and the node still refuses', async () => {
    const { clock, nodes, redlock } = await releasedWhileNode1Refuses();
    await clock.advance(10);
    const sentBeforeClose = nodes[1]!.callsTo('release').length;
    await clock.runUntilSettled(redlock.close());
    // One more try, sent when close() began rather than after its pause, and nothing after it fails.
    expect(clock.now()).toBe(10);
    expect(nodes[1]!.callsTo('release')).toHaveLength(sentBeforeClose + 1);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it("removes the keys of a node that is back when close() begins, without waiting for the re-send's pause", async () => {
    const { clock, nodes, redlock } = await releasedWhileNode1Refuses();
    // The first re-sends failed; the next waits for its pause (well over 100 ms by now).
    await clock.advance(100);
    nodes[1]!.isDown = false;
    await clock.runUntilSettled(redlock.close());
    expect(clock.now()).toBe(100);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it("does not wait for a failed attempt's cleanup on a node that refuses beyond one try at close", async () => {
    const { clock, nodes, redlock } = setup(3, { retryCount: 0 });
    const other = new Redlock([nodes[1]!], { clock });
    await clock.runUntilSettled(other.acquire('r', 60_000));
    nodes[0]!.isDown = true;
    // Node 0 refuses, node 1 holds another owner's key: the attempt fails, and its cleanup of node 0 fails
    // too and waits to be sent again.
    await expect(clock.runUntilSettled(redlock.acquire('r', 60_000))).rejects.toBeInstanceOf(LockAcquireError);
    await clock.advance(10);
    const sentBeforeClose = nodes[0]!.callsTo('release').length;
    expect(sentBeforeClose).toBeGreaterThan(0);
    await clock.runUntilSettled(redlock.close());
    expect(clock.now()).toBe(10);
    expect(nodes[0]!.callsTo('release')).toHaveLength(sentBeforeClose + 1);
    await clock.runUntilSettled(other.close());
  });

  it('does not wait for a release in flight to a node whose latest call timed out; the command still runs when the node answers', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    nodes[2]!.hang();
    // A call to node 2 times out: the node is not answering.
    await clock.runUntilSettled(redlock.acquire('other', 10_000, { retryCount: 0 }));
    await clock.advance(1_000);
    expect(redlock.nodeHealth()[2]!.timeoutsInARow).toBe(1);
    await clock.runUntilSettled(lock.release());
    const releasedAt = clock.now();
    await clock.runUntilSettled(redlock.close());
    // Before, close() waited for the release to node 2 until its timeout.
    expect(clock.now()).toBe(releasedAt);
    expect(keysOf(nodes[2]!)).toContain('r');
    nodes[2]!.resume();
    await clock.advance(0);
    expect(keysOf(nodes[2]!)).not.toContain('r');
  });

  it('ends the release-notification subscriptions of the calls still waiting', async () => {
    const clock = new FakeClock();
    const nodes: PubSubFakeNode[] = Array.from({ length: 3 }, () => pubSubNode(clock));
    const holder = new Redlock(nodes, { clock, retryCount: 0 });
    const waiter = new Redlock(
      nodes.map((node) => node.connectAnotherClient()),
      { clock, retryDelayMs: 200, retryJitterMs: 0 },
    );
    const held = await clock.runUntilSettled(holder.acquire('r', 10_000));
    const waiting = waiter.acquire('r', 10_000);
    waiting.catch(() => undefined);
    await clock.advance(5);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([1, 1, 1]);
    await clock.runUntilSettled(waiter.close());
    await expect(waiting).rejects.toThrow();
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0]);
    expect(clock.pendingTimerCount).toBe(0);
    await clock.runUntilSettled(held.release());
    await clock.runUntilSettled(holder.close());
  });

  it('does not wait for a SUBSCRIBE still in flight, as to a node that is down; the channel is left once it lands', async () => {
    const clock = new FakeClock();
    const nodes: PubSubFakeNode[] = Array.from({ length: 3 }, () => pubSubNode(clock));
    const holder = new Redlock(nodes, { clock, retryCount: 0 });
    const connections = nodes.map((node) => node.connectAnotherClient());
    // The waiter's subscriptions wait 5 s for their connection, as to a node that does not answer.
    for (const connection of connections) connection.subscribeDelayMs = 5_000;
    const waiter = new Redlock(connections, { clock, retryDelayMs: 200, retryJitterMs: 0 });
    const held = await clock.runUntilSettled(holder.acquire('r', 10_000));
    const waiting = waiter.acquire('r', 10_000).catch((error: unknown) => error);
    await clock.advance(5);
    const closedAt = clock.now();
    await clock.runUntilSettled(waiter.close());
    expect(clock.now()).toBe(closedAt);
    expect(await waiting).toBeInstanceOf(RedlockClosedError);
    // Once the SUBSCRIBE lands, the subscription is ended.
    await clock.advance(5_000);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0]);
    await clock.runUntilSettled(held.release());
    await clock.runUntilSettled(holder.close());
  });

  it("reports an adapter's failed or hung close() as a warning with a NodeError, and still resolves", async () => {
    const { clock, nodes, redlock } = setup();
    const warnings: unknown[] = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((warning: unknown) => void warnings.push(warning));
    const failure = new Error('connection already gone');
    Object.assign(nodes[0]!, { close: () => Promise.reject(failure) });
    Object.assign(nodes[2]!, { close: () => new Promise(() => undefined) });
    await clock.runUntilSettled(redlock.close());
    expect(warnings).toHaveLength(2);
    const [failed, hung] = warnings as NodeError[];
    expect(failed).toBeInstanceOf(NodeError);
    expect(failed!.nodeIndex).toBe(0);
    expect(failed!.cause).toBe(failure);
    expect(failed!.message).toBe("Node 0's adapter failed to close: connection already gone");
    expect(hung!.nodeIndex).toBe(2);
    expect(hung!.isTimeout).toBe(true);
  });

  it('closes with `await using`', async () => {
    const { clock, nodes } = setup();
    const record = withClose(clock, nodes[0]!);
    let lock: Lock | undefined;
    const scope = async (): Promise<void> => {
      await using redlock = new Redlock(nodes, { clock });
      lock = await redlock.acquire('r', 1000);
      await lock.release();
    };
    await clock.runUntilSettled(scope());
    expect(record.closes).toBe(1);
    expect(lock?.state).toBe('released');
  });

  it('refuses an adapter whose `close` is not a method', () => {
    const { clock, nodes } = setup();
    Object.assign(nodes[1]!, { close: 'yes' });
    expect(() => new Redlock(nodes, { clock })).toThrow(new TypeError('Expected `nodes[1].close` to be a method or absent, got `"yes"`'));
  });
});

describe('Lock[Symbol.asyncDispose]', () => {
  it('releases the lock at the end of an `await using` block, also when the block throws', async () => {
    const { clock, nodes, redlock } = setup();
    const scope = async (): Promise<string> => {
      await using lock = await redlock.acquire('r', 1000);
      expect(nodes.every((node) => node.keyspace.get('r') === lock.token)).toBe(true);
      return lock.token;
    };
    await clock.runUntilSettled(scope());
    expect(nodes.flatMap(keysOf)).toEqual([]);
    const failing = async (): Promise<void> => {
      await using lock = await redlock.acquire('s', 1000);
      void lock;
      throw new Error('work failed');
    };
    await expect(clock.runUntilSettled(failing())).rejects.toThrow('work failed');
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('is safe in any state: released, expired or lost', async () => {
    const { clock, nodes, redlock } = setup();
    const released = await clock.runUntilSettled(redlock.acquire('a', 1000));
    await clock.runUntilSettled(released.release());
    const expired = await clock.runUntilSettled(redlock.acquire('b', 100));
    const lost = await clock.runUntilSettled(redlock.acquire('c', 10_000));
    for (const node of nodes) node.keyspace.set('c', 'someone', 60_000);
    await clock.runUntilSettled(lost.extend(10_000).catch(() => undefined));
    await clock.advance(200);
    expect([released.state, expired.state, lost.state]).toEqual(['released', 'expired', 'lost']);
    for (const lock of [released, expired, lost]) await expect(clock.runUntilSettled(lock[Symbol.asyncDispose]())).resolves.toBeUndefined();
    // The other owner's keys are left alone.
    expect(nodes.every((node) => node.keyspace.get('c') === 'someone')).toBe(true);
  });

  it("aborts lock.signal when the lock's validity runs out, and not when it is released", async () => {
    const { clock, redlock } = setup();
    const expiring = await clock.runUntilSettled(redlock.acquire('a', 1000));
    const released = await clock.runUntilSettled(redlock.acquire('b', 1000));
    const [expiringSignal, releasedSignal] = [expiring.signal, released.signal];
    await clock.runUntilSettled(released.release());
    await clock.advance(987);
    expect(expiringSignal.aborted).toBe(false);
    await clock.advance(1);
    expect(expiringSignal.reason).toBeInstanceOf(LockLostError);
    expect((expiringSignal.reason as LockLostError).message).toBe('Lost the lock on "a": its validity ran out');
    expect(releasedSignal.aborted).toBe(false);
    expect(clock.pendingTimerCount).toBe(0);
  });
});
