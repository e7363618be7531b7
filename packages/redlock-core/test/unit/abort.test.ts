import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNode, grantingNodes, hangingNode, keysOf, refusingNode } from '../../src/testing/fake-nodes.js';

describe('aborting acquire()', () => {
  it('rejects with signal.reason and sends nothing when the signal is already aborted', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const reason = new Error('not needed any more');
    const redlock = new Redlock(nodes, { clock });
    await expect(clock.runUntilSettled(redlock.acquire('r', 1000, { signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
    await expect(clock.runUntilSettled(redlock.using('r', 1000, () => 'never', { signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('rejects with signal.reason when aborted during an attempt, and leaves no key behind', async () => {
    const clock = new FakeClock();
    const hung = [hangingNode(clock), hangingNode(clock), hangingNode(clock)];
    const nodes = [grantingNode(clock), grantingNode(clock), ...hung];
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const acquiring = new Redlock(nodes, { clock, retryCount: 5 }).acquire('r', 10_000, { signal: controller.signal });
    acquiring.catch(() => undefined);
    await clock.advance(10);
    expect(keysOf(nodes[0]!)).toEqual(['r']);
    controller.abort(reason);
    await expect(clock.runUntilSettled(acquiring)).rejects.toBe(reason);
    // No second attempt; the hung nodes bound the cleanup by their timeout, twice: never heard from, they
    // have the longest one for a 10 s TTL, 1 s.
    expect(nodes[0]!.acquireRequests()).toHaveLength(1);
    expect(clock.now()).toBeLessThanOrEqual(10 + 2 * 1000);
    for (const node of hung) node.resume();
    await clock.advance(0);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('rejects promptly when aborted during the pause between attempts', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), grantingNode(clock)];
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const redlock = new Redlock(nodes, { clock, retryCount: 5, retryDelayMs: 1000, retryJitterMs: 0 });
    const acquiring = redlock.acquire('r', 1000, { signal: controller.signal });
    acquiring.catch(() => undefined);
    await clock.advance(300);
    controller.abort(reason);
    await expect(clock.runUntilSettled(acquiring)).rejects.toBe(reason);
    expect(clock.now()).toBe(300);
    expect(clock.pendingTimerCount).toBe(0);
    expect(nodes[2]!.acquireRequests()).toHaveLength(1);
    expect(keysOf(nodes[2]!)).toEqual([]);
  });

  it('rejects with a DOMException AbortError when aborted without a reason', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    controller.abort();
    const redlock = new Redlock(grantingNodes(clock, 3), { clock });
    await expect(redlock.acquire('r', 1000, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('keeps a lock acquired before the signal aborts', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const redlock = new Redlock(grantingNodes(clock, 3), { clock });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000, { signal: controller.signal }));
    controller.abort();
    expect(lock.state).toBe('held');
  });
});

describe('one AbortSignal shared by many concurrent calls', () => {
  // Node warns (`MaxListenersExceededWarning`) from the eleventh listener on one signal. Jest's `process`
  // does not hear Node's own warnings, so these tests count the listeners; process-exit.test.ts in the
  // ioredis adapter checks in a fresh process that nothing is printed.
  it('listens once on it: 50 waiting acquire() calls add one listener, all reject with its reason, and leave none', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const holder = new Redlock(nodes, { clock });
    const redlock = new Redlock(nodes, { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0 });
    await clock.runUntilSettled(holder.acquire('r', 60_000));
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const waiting = Array.from({ length: 50 }, (_, index) =>
        redlock.acquire(index % 2 === 0 ? 'r' : ['r', `other:${index}`], 10_000, { signal: controller.signal }).catch((error: unknown) => error),
      );
    await clock.advance(250);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort(reason);
    const outcomes = await clock.runUntilSettled(Promise.all(waiting));
    expect(outcomes.every((outcome) => outcome === reason)).toBe(true);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('removes its listener once every call settled without an abort: acquire(), tryAcquire() and using()', async () => {
    const clock = new FakeClock();
    const redlock = new Redlock(grantingNodes(clock, 3), { clock });
    const { signal } = new AbortController();
    const locks = await clock.runUntilSettled(
      Promise.all([
        ...Array.from({ length: 20 }, (_, index) => redlock.acquire(`a:${index}`, 10_000, { signal, waitMs: 1_000 })),
        ...Array.from({ length: 20 }, (_, index) => redlock.tryAcquire(`t:${index}`, 10_000, { signal })),
      ]),
    );
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    const routines = Array.from({ length: 20 }, (_, index) =>
      redlock.using(
        `u:${index}`,
        10_000,
        async () => {
          await new Promise<void>((resolve) => clock.setTimeout(resolve, 50));
          return getEventListeners(signal, 'abort').length;
        },
        { signal },
      ),
    );
    // While the 20 routines run, one listener serves them all.
    expect(await clock.runUntilSettled(Promise.all(routines))).toEqual(Array(20).fill(1));
    await clock.runUntilSettled(Promise.all(locks.map((lock) => lock?.release())));
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });
});
