import { describe, expect, it } from '@jest/globals';
import { Redlock, type RedlockOptions } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { connectionRefused } from '../../src/testing/fake-adapter.js';
import { grantingNode, keysOf, refusingNode } from '../../src/testing/fake-nodes.js';

/** Node 0 grants, the two others are held by another owner: every attempt fails and cleans up node 0. */
function failingAttemptSetup(options: RedlockOptions = {}) {
  const clock = new FakeClock();
  const nodes = [grantingNode(clock), refusingNode(clock), refusingNode(clock)];
  return { clock, nodes, redlock: new Redlock(nodes, { clock, retryCount: 0, ...options }) };
}

describe('cleanup of a failed attempt', () => {
  it('sends a release the connection dropped again, so the key does not block others for its TTL', async () => {
    const { clock, nodes, redlock } = failingAttemptSetup();
    // A fail-fast client rejects a command sent while it reconnects: the cleanup never reached the node.
    nodes[0]!.failNext('release', connectionRefused());
    await clock.runUntilSettled(redlock.acquire('r', 10_000).catch(() => undefined));
    expect(keysOf(nodes[0]!)).toEqual(['r']);
    await clock.advance(25);
    expect(keysOf(nodes[0]!)).toEqual([]);
    expect(nodes[0]!.callsTo('release')).toHaveLength(2);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('stops sending it again once the keys would have expired anyway, at doubling pauses', async () => {
    const { clock, nodes, redlock } = failingAttemptSetup();
    for (let index = 0; index < 20; index += 1) nodes[0]!.failNext('release', connectionRefused());
    await clock.runUntilSettled(redlock.acquire('r', 200).catch(() => undefined));
    await clock.advance(1_000);
    // Sent at 0, 25, 75 and 175 ms; the next pause would end past the 200 ms TTL.
    expect(nodes[0]!.callsTo('release').map((call) => call.sentAtMs)).toEqual([0, 25, 75, 175]);
    expect(clock.pendingTimerCount).toBe(0);
  });

  it('does not send a timed-out release again: it is still queued behind the write it cleans up', async () => {
    const { clock, nodes, redlock } = failingAttemptSetup({ nodeTimeoutMs: 50 });
    nodes[0]!.latencyMs = 60;
    await clock.runUntilSettled(redlock.acquire('r', 10_000).catch(() => undefined));
    await clock.advance(1_000);
    // One at the timeout, one more when the late "acquired" arrived (see acquire.test.ts); no retries.
    expect(nodes[0]!.callsTo('release').map((call) => call.sentAtMs)).toEqual([50, 60]);
    expect(keysOf(nodes[0]!)).toEqual([]);
  });
});

describe('lock.release() on a node that failed', () => {
  it('sends the release again in the background after the quorum confirmed it', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), grantingNode(clock)];
    const redlock = new Redlock(nodes, { clock });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    nodes[2]!.failNext('release', connectionRefused());
    const result = await clock.runUntilSettled(lock.release());
    expect(result.releasedCount).toBe(2);
    expect((await result.settled)[2]?.status).toBe('error');
    expect(keysOf(nodes[2]!)).toEqual(['r']);
    await clock.advance(25);
    expect(keysOf(nodes[2]!)).toEqual([]);
  });
});
