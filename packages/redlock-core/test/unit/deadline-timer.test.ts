import { describe, expect, it } from '@jest/globals';
import { Redlock } from '../../src/index.js';
import { grantingNode, hangingNode } from '../../src/testing/fake-nodes.js';

/** The timers keeping the process alive now (an unref'd timer is not among them). */
function refTimerCount(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
}

describe('the deadline timer on the system clock', () => {
  it('keeps the process alive while a node call is pending, and not once every call answered', async () => {
    const before = refTimerCount();
    const hanging = hangingNode();
    // Three nodes answer at once, one never does until it is resumed: its call waits on the timer.
    const redlock = new Redlock([grantingNode(), grantingNode(), grantingNode(), hanging], { nodeTimeoutMs: 5_000, retryCount: 0 });
    const lock = await redlock.acquire('deadline-timer', 10_000);
    expect(refTimerCount()).toBeGreaterThan(before);
    hanging.resume();
    // Every node's release answered, the resumed one's too.
    await (await lock.release()).settled;
    // Armed for the next deadline but unref'd: it does not hold the process.
    expect(refTimerCount()).toBe(before);
    await redlock.close();
  });
});
