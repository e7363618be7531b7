import { describe, expect, it } from '@jest/globals';
import { Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { type PubSubFakeNode, pubSubNode } from '../support/fake-pubsub.js';

/** Five pub/sub-capable nodes with "orders:42" held by another owner, and a waiter whose SUBSCRIBEs hang. */
async function heldWithHangingSubscribes(nodeTimeoutMs: number): Promise<{ clock: FakeClock; connections: PubSubFakeNode[]; waiter: Redlock }> {
  const clock = new FakeClock();
  const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
  await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('orders:42', 10_000));
  const connections = nodes.map((node) => node.connectAnotherClient());
  for (const connection of connections) connection.isSubscribeHanging = true;
  return { clock, connections, waiter: new Redlock(connections, { clock, nodeTimeoutMs, retryDelayMs: 200, retryJitterMs: 0 }) };
}

/**
 * Aborts an acquisition of "orders:42" 10 ms in, while no node has subscribed, and expects no timer and no
 * subscription to be left once the time to subscribe is over.
 */
async function expectNothingLeftAfterAbort(clock: FakeClock, connections: readonly PubSubFakeNode[], waiter: Redlock): Promise<void> {
  const controller = new AbortController();
  const acquiring = waiter.acquire('orders:42', 10_000, { signal: controller.signal });
  acquiring.catch(() => undefined);
  await clock.advance(10);
  controller.abort(new Error('shutting down'));
  await expect(clock.runUntilSettled(acquiring)).rejects.toThrow('shutting down');
  // Past the 2 s the nodes had to subscribe.
  await clock.advance(2_000);
  expect(clock.pendingTimerCount).toBe(0);
  // One SUBSCRIBE per node, never sent again after the abort.
  expect(connections.map((connection) => connection.subscribeCalls.length)).toEqual([1, 1, 1, 1, 1]);
  expect(connections.map((connection) => connection.subscriptionCount)).toEqual([0, 0, 0, 0, 0]);
}

describe('aborting acquire() while it subscribes to release notifications', () => {
  it('rejects with signal.reason at once, not when the subscription times out', async () => {
    const { clock, waiter } = await heldWithHangingSubscribes(2_000);
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const acquiring = waiter.acquire('orders:42', 10_000, { signal: controller.signal });
    acquiring.catch(() => undefined);
    // The first attempt found the lock held; the waiter now waits for the nodes' SUBSCRIBEs.
    await clock.advance(10);
    controller.abort(reason);
    let rejectedAtMs: number | undefined;
    acquiring.catch(() => (rejectedAtMs = clock.now()));
    await clock.advance(0);
    expect(rejectedAtMs).toBe(10);
    await expect(acquiring).rejects.toBe(reason);
  });

  it('leaves no timer and no subscription behind, even after the subscription would have timed out', async () => {
    const { clock, connections, waiter } = await heldWithHangingSubscribes(2_000);
    await expectNothingLeftAfterAbort(clock, connections, waiter);
  });

  it('subscribes no more when the nodes refuse to subscribe after the abort', async () => {
    const { clock, connections, waiter } = await heldWithHangingSubscribes(2_000);
    for (const connection of connections) {
      connection.isSubscribeHanging = false;
      connection.subscribe = (channel) => {
        connection.subscribeCalls.push(channel);
        return new Promise((_, reject) => clock.setTimeout(() => reject(new Error('ERR unknown command')), 100));
      };
    }
    await expectNothingLeftAfterAbort(clock, connections, waiter);
  });
});
