import { describe, expect, it } from '@jest/globals';
import { LockAcquireError, NodeError, Redlock } from '../../src/index.js';
import { failingNode, grantingNode, grantingNodes, hangingNode, refusingNode } from '../../src/testing/fake-nodes.js';
import { FakeClock } from '../support/fake-clock.js';

describe('redlock.stats()', () => {
  it('starts at zero for every counter and node', () => {
    const clock = new FakeClock();
    expect(new Redlock(grantingNodes(clock, 3), { clock }).stats()).toEqual({
      acquisitions: 0,
      failures: { 'held-by-another-owner': 0, 'nodes-unreachable': 0, 'no-validity': 0, 'foreign-key': 0 },
      waiting: 0,
      nodes: [0, 1, 2].map((nodeIndex) => ({ nodeIndex, errors: 0, timeouts: 0, skippedWhileDown: 0 })),
    });
  });

  it('counts locks handed out by every method, and failures by reason, a tryAcquire() miss included', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const lock = await clock.runUntilSettled(redlock.acquire('a', 10_000));
    const again = await clock.runUntilSettled(redlock.acquire('a', 1_000, { reentrant: lock }));
    await clock.runUntilSettled(redlock.using('b', 10_000, () => undefined));
    expect(await clock.runUntilSettled(redlock.tryAcquire('a', 10_000))).toBeUndefined();
    await expect(clock.runUntilSettled(redlock.acquire('a', 10_000))).rejects.toBeInstanceOf(LockAcquireError);
    for (const node of nodes.slice(0, 2)) node.isDown = true;
    await expect(clock.runUntilSettled(redlock.acquire('c', 10_000))).rejects.toMatchObject({ reason: 'nodes-unreachable' });
    // Bad arguments are not failures to acquire.
    await expect(redlock.acquire('', 10_000)).rejects.toBeInstanceOf(RangeError);
    const stats = redlock.stats();
    expect(stats.acquisitions).toBe(3);
    expect(stats.failures).toEqual({ 'held-by-another-owner': 2, 'nodes-unreachable': 1, 'no-validity': 0, 'foreign-key': 0 });
    // The failed acquisition and its cleanup, sent to the nodes that failed in case the write got there.
    expect(stats.nodes.map((node) => node.errors > 0)).toEqual([true, true, false]);
    expect(stats.waiting).toBe(0);
    for (const node of nodes) node.isDown = false;
    await clock.runUntilSettled(again.release());
    await clock.runUntilSettled(lock.release());
  });

  it('tells how many calls wait for their lock right now', async () => {
    const clock = new FakeClock();
    const redlock = new Redlock(grantingNodes(clock, 3), { clock });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    const first = redlock.acquire('r', 10_000);
    const second = redlock.acquire('r', 10_000);
    await clock.advance(1);
    expect(redlock.stats().waiting).toBe(2);
    await clock.runUntilSettled(lock.release());
    const next = await clock.runUntilSettled(first);
    expect(redlock.stats().waiting).toBe(1);
    await clock.runUntilSettled(next.release());
    await clock.runUntilSettled((await clock.runUntilSettled(second)).release());
    expect(redlock.stats()).toMatchObject({ waiting: 0, acquisitions: 3 });
  });

  it('counts timeouts, and calls skipped while a node is down, apart from errors', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), hangingNode(clock)];
    const redlock = new Redlock(nodes, { clock });
    for (let round = 0; round < 6; round += 1) {
      const lock = await clock.runUntilSettled(redlock.acquire(`r${round}`, 10_000));
      await clock.runUntilSettled(lock.release());
      await clock.advance(1_000);
    }
    const [, , hung] = redlock.stats().nodes;
    expect(hung?.errors).toBe(0);
    expect(hung?.timeouts).toBeGreaterThan(0);
    expect(hung?.skippedWhileDown).toBeGreaterThan(0);
    expect(redlock.nodeHealth()[2]?.state).toBe('down');
  });
});

describe('lock.nodes', () => {
  it('tells which nodes failed and how in the attempt that acquired the lock, without the token', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), failingNode(clock), refusingNode(clock), ...grantingNodes(clock, 3)];
    const redlock = new Redlock(nodes, { clock });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    expect(lock.nodes.map((node) => node.status)).toEqual(['acquired', 'error', 'held', 'acquired', 'acquired', 'acquired']);
    const failed = lock.nodes[1];
    expect('error' in failed! && failed.error).toBeInstanceOf(NodeError);
    expect(JSON.stringify(lock.nodes)).not.toContain(lock.token);
    // Not an own property: JSON.stringify(lock) stays as small as before.
    expect(Object.keys(lock)).not.toContain('nodes');
    const again = await clock.runUntilSettled(redlock.acquire('r', 1_000, { reentrant: lock }));
    expect(again.nodes).toBe(lock.nodes);
    await clock.runUntilSettled(again.release());
    await clock.runUntilSettled(lock.release());
  });

  it("reports 'pending' for a node that had not answered when the quorum was reached: no hole to trip over", async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), hangingNode(clock)];
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('r', 10_000));
    expect(lock.nodes).toEqual([
      { nodeIndex: 0, status: 'acquired' },
      { nodeIndex: 1, status: 'acquired' },
      { nodeIndex: 2, status: 'pending' },
    ]);
    expect(lock.nodes.map((node) => node.status)).toEqual(['acquired', 'acquired', 'pending']);
    const released = await clock.runUntilSettled(lock.release());
    expect(released.nodes.map((node) => node.status)).toEqual(['released', 'released', 'pending']);
  });
});
