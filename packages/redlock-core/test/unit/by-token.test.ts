import { describe, expect, it } from '@jest/globals';
import { type Lock, LockExtendError, LockReleaseError, Redlock, RedlockClosedError } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import type { FakeNode } from '../../src/testing/fake-adapter.js';
import { failingNode, grantingNodes, hasKey, nodesHoldingToken } from '../../src/testing/fake-nodes.js';

// A lock handed over by its resources and token: one Redlock acquires (a scheduler), another takes the lock
// over or releases it (a worker), on the same nodes.

async function handedOver(nodes: readonly FakeNode[], clock: FakeClock, ttlMs = 1_000): Promise<{ lock: Lock; worker: Redlock }> {
  const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire(['a', 'b'], ttlMs));
  return { lock, worker: new Redlock(nodes, { clock, retryCount: 0 }) };
}

describe('redlock.adopt()', () => {
  it('takes a lock over by extending it, with validity from the extension and the same token', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const { lock, worker } = await handedOver(nodes, clock);
    await clock.advance(600);
    const adopted = await clock.runUntilSettled(worker.adopt(['a', 'b'], lock.token, 2_000));
    expect(adopted.resources).toEqual(['a', 'b']);
    expect(adopted.token).toBe(lock.token);
    expect(adopted.attempts).toBe(0);
    expect(adopted.fencingToken).toBeUndefined();
    expect(adopted.state).toBe('held');
    // drift = round(2000 × 0.01) + 2 = 22 ms
    expect(adopted.remainingValidityMs).toBe(1_978);
    for (const node of nodes) expect(node.keyspace.pttl('a')).toBe(2_000);
    await clock.runUntilSettled(adopted.release());
    expect(nodesHoldingToken(nodes, lock.token)).toEqual([]);
  });

  it('waits for nodes that answer after a while: a hold it takes over has no validity of its own to end by', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const { lock, worker } = await handedOver(nodes, clock);
    for (const node of nodes) node.latencyMs = 5;
    const adopted = await clock.runUntilSettled(worker.adopt(['a', 'b'], lock.token, 1_000));
    expect(adopted.state).toBe('held');
    expect(adopted.remainingValidityMs).toBeGreaterThan(900);
  });

  it('gives the keys back to a node that lost them while a quorum holds the token', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const { lock, worker } = await handedOver(nodes, clock);
    nodes[4]!.keyspace.delete('a');
    nodes[4]!.keyspace.delete('b');
    await clock.runUntilSettled(worker.adopt(['a', 'b'], lock.token, 2_000));
    await clock.advance(0);
    expect(hasKey(nodes[4]!, 'a', lock.token)).toBe(true);
  });

  it('rejects with isLost, asking every node, when the token no longer holds the lock', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const { lock, worker } = await handedOver(nodes, clock);
    await clock.runUntilSettled(lock.release());
    const error = await clock.runUntilSettled(worker.adopt(['a', 'b'], lock.token, 2_000)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LockExtendError);
    expect((error as LockExtendError).isLost).toBe(true);
    expect((error as LockExtendError).nodes.map((node) => node.status)).toEqual(['missing', 'missing', 'missing', 'missing', 'missing']);
    expect(nodes.flatMap((node) => node.keyspace.keys())).toEqual([]);
  });

  it('refuses bad arguments and a closed Redlock before any node is called', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const worker = new Redlock(nodes, { clock });
    await expect(worker.adopt('a', '', 1_000)).rejects.toThrow(TypeError);
    await expect(worker.adopt('a', 42 as never, 1_000)).rejects.toThrow('Expected `token` to be the token of a lock (`lock.token`)');
    await expect(worker.adopt('a', 'x'.repeat(1_025), 1_000)).rejects.toThrow('got a string of 1025 characters');
    await expect(worker.adopt('a', 'token', 10)).rejects.toThrow(RangeError);
    await expect(worker.adopt([], 'token', 1_000)).rejects.toThrow(RangeError);
    await expect(worker.releaseByToken('a', '')).rejects.toThrow(TypeError);
    await clock.runUntilSettled(worker.close());
    await expect(worker.adopt('a', 'token', 1_000)).rejects.toThrow(RedlockClosedError);
    expect(nodes.map((node) => node.calls.length)).toEqual([0, 0, 0]);
  });
});

describe('redlock.releaseByToken()', () => {
  it('releases a lock acquired elsewhere on every node, and counts the nodes that held it', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const { lock, worker } = await handedOver(nodes, clock);
    const result = await clock.runUntilSettled(worker.releaseByToken(['a', 'b'], lock.token));
    expect(result.releasedCount).toBeGreaterThanOrEqual(3);
    expect((await clock.runUntilSettled(result.settled)).map((node) => node.status)).toEqual(['released', 'released', 'released', 'released', 'released']);
    expect(nodes.flatMap((node) => node.keyspace.keys())).toEqual([]);
  });

  it('leaves a lock another token holds, and resolves with releasedCount 0', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const { lock, worker } = await handedOver(nodes, clock);
    const result = await clock.runUntilSettled(worker.releaseByToken(['a', 'b'], `${lock.token}-not`));
    expect(result.releasedCount).toBe(0);
    expect(nodesHoldingToken(nodes, lock.token)).toEqual([0, 1, 2]);
  });

  it('rejects with LockReleaseError when fewer than a quorum answered, and sends nothing again in the background', async () => {
    const clock = new FakeClock();
    const nodes = [...grantingNodes(clock, 1), failingNode(clock), failingNode(clock)];
    const worker = new Redlock(nodes, { clock });
    await expect(clock.runUntilSettled(worker.releaseByToken('a', 'token'))).rejects.toThrow(LockReleaseError);
    const calls = nodes[1]!.calls.length;
    await clock.advance(10_000);
    expect(nodes[1]!.calls.length).toBe(calls);
  });
});

describe('a release by an adopted handle or by token, in the Redlock where a call waits', () => {
  it.each(['adopted', 'by token'] as const)('wakes the local waiter on the same resources at once (%s), not at its retry timer', async (how) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('job', 10_000));
    // The worker's nodes cannot notify: only its own queue can wake its waiter before the 5 s retry.
    const worker = new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryDelayMs: 5_000, retryJitterMs: 0 });
    const adopted = how === 'adopted' ? await clock.runUntilSettled(worker.adopt('job', lock.token, 10_000)) : undefined;
    const waiting = worker.acquire('job', 10_000);
    await clock.advance(100);
    const releasedAt = clock.now();
    await clock.runUntilSettled(adopted !== undefined ? adopted.release() : worker.releaseByToken('job', lock.token));
    const next = await clock.runUntilSettled(waiting);
    expect(next.state).toBe('held');
    expect(clock.now() - releasedAt).toBeLessThan(50);
  });
});
