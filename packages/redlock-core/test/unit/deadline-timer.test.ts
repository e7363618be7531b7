import { describe, expect, it } from '@jest/globals';
import { type Clock, LockAcquireError, Redlock, SYSTEM_CLOCK } from '../../src/index.js';
import { failingNode, grantingNode, hangingNode } from '../../src/testing/fake-nodes.js';
import { DeadlineTimer, type Due } from '../../src/nodes/deadline-timer.js';
import { FakeClock } from '../support/fake-clock.js';

/**
 * The system clock, with a count of its timers that keep the process alive: set, not yet fired or cleared,
 * and ref'd. A clock of its own, so it counts this test's timers only, not Jest's or another test's.
 */
function countingClock(): Clock & { heldTimerCount(): number } {
  const live = new Set<NodeJS.Timeout>();
  return {
    now: SYSTEM_CLOCK.now,
    wallNow: SYSTEM_CLOCK.wallNow,
    setTimeout(callback, ms) {
      const timer: NodeJS.Timeout = setTimeout(() => {
        live.delete(timer);
        callback();
      }, ms);
      live.add(timer);
      return timer;
    },
    clearTimeout(handle) {
      live.delete(handle as NodeJS.Timeout);
      clearTimeout(handle as NodeJS.Timeout);
    },
    heldTimerCount: () => [...live].filter((timer) => timer.hasRef()).length,
  };
}

describe('the deadline timer on the system clock', () => {
  it('keeps the process alive while a node call is pending, and not once every call answered', async () => {
    const clock = countingClock();
    const hanging = hangingNode();
    // Three nodes answer at once, one never does until it is resumed: its call waits on the timer.
    const redlock = new Redlock([grantingNode(), grantingNode(), grantingNode(), hanging], { nodeTimeoutMs: 5_000, retryCount: 0, clock });
    const lock = await redlock.acquire('deadline-timer', 10_000);
    expect(clock.heldTimerCount()).toBe(1);
    hanging.resume();
    // Every node's release answered, the resumed one's too.
    await (await lock.release()).settled;
    // Armed for the next deadline but unref'd: it does not hold the process.
    expect(clock.heldTimerCount()).toBe(0);
    await redlock.close();
  });

  it('does not keep the process alive for a cleanup no one awaits', async () => {
    const clock = countingClock();
    const hanging = hangingNode();
    // The hanging node's acquire times out and the two others fail: the attempt fails once every node
    // answered or timed out, and its cleanup on the node that timed out goes out in the background, where
    // it waits on the timer too.
    const redlock = new Redlock([hanging, failingNode(), failingNode()], { nodeTimeoutMs: 200, retryCount: 0, clock });
    const acquiring = redlock.acquire('background-cleanup', 60_000);
    // While the acquire someone awaits is pending, the timer holds the process.
    expect(clock.heldTimerCount()).toBe(1);
    await expect(acquiring).rejects.toThrow(LockAcquireError);
    expect(hanging.calls.at(-1)?.script).toBe('release');
    // The cleanup is still pending on the hanging node, but no one awaits it: the keys expire by themselves.
    expect(clock.heldTimerCount()).toBe(0);
    hanging.resume();
    await redlock.close();
  });
});

describe('the deadline timer and work started in the background', () => {
  it('does not keep the process alive for keys set again on a node that lost them', async () => {
    const clock = countingClock();
    const nodes = [grantingNode(), grantingNode(), grantingNode()];
    const redlock = new Redlock(nodes, { nodeTimeoutMs: 5_000, retryCount: 0, clock });
    const lock = await redlock.acquire('reseed', 60_000);
    // Node 2 lost our key (it restarted empty): it answers the extension with 'missing', 50 ms late, and
    // then hangs, so the keys sent there again stay pending.
    const lost = nodes[2]!;
    lost.keyspace.delete('reseed');
    lost.latencyMs = 50;
    await lock.extend(60_000);
    lost.hang();
    while (!lost.calls.some((call) => call.script === 'extend' && call.args[2] === '1')) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(clock.heldTimerCount()).toBe(0);
    lost.resume();
    await (await lock.release()).settled;
    await redlock.close();
  });
});

describe('the deadline timer after a stall', () => {
  it('expires a pending deadline on time when an earlier one, expired late, waits again for a later one', async () => {
    const clock = new FakeClock();
    const timer = new DeadlineTimer(clock);
    const expired: string[] = [];
    const dueAt = (deadline: number, name: string, onExpire: (due: Due, now: number) => void = () => undefined): Due => ({
      deadline,
      pendingSlot: -1,
      isAwaited: true,
      expire(now) {
        expired.push(`${name}@${now}`);
        onExpire(this, now);
      },
    });
    // A stalled call gets a fresh window from the time its deadline is found passed, as a fan-out's does.
    const early = dueAt(10, 'early', (due, now) => {
      if (now > 100) timer.add({ ...due, deadline: now + 1_000, pendingSlot: -1 });
    });
    const later = dueAt(170, 'later');
    timer.add(early);
    timer.add(later);
    clock.stall(160);
    await clock.advance(10);
    expect(expired).toEqual(['early@160', 'later@170']);
  });
});
