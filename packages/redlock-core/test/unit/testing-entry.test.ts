import { describe, expect, it } from '@jest/globals';
import { LockAcquireError, Redlock, SYSTEM_CLOCK } from 'redlock-core';
import { FakeNode, grantingNode, grantingNodes, keysOf, refusingNode } from 'redlock-core/testing';

// What a user of `redlock-core/testing` does: real time, no virtual clock, only the public entry points.
describe('redlock-core/testing on real time', () => {
  it('acquires and releases on granting nodes, leaving no key', async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    const redlock = new Redlock(nodes, { retryCount: 0 });
    const lock = await redlock.acquire('orders:42', 1_000);
    expect(nodes.map((node) => keysOf(node))).toEqual([['orders:42'], ['orders:42'], ['orders:42']]);
    await (await lock.release()).settled;
    expect(nodes.flatMap((node) => keysOf(node))).toEqual([]);
  });

  it('rejects with LockAcquireError when a majority is held by another owner', async () => {
    const redlock = new Redlock([grantingNode(), refusingNode(), refusingNode()], { retryCount: 0 });
    const error = await redlock.acquire('orders:42', 1_000).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).reason).toBe('held-by-another-owner');
  });

  it('expires keys by the real clock when no clock is given', async () => {
    const node = new FakeNode();
    node.keyspace.set('short', 'token', 20);
    expect(keysOf(node)).toEqual(['short']);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(keysOf(node)).toEqual([]);
  });
});
