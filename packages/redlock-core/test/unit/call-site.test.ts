import { describe, expect, it } from '@jest/globals';
import { type Lock, RedlockError, Redlock } from '../../src/index.js';
import { failingNode, grantingNode } from '../../src/testing/fake-nodes.js';

// An error the engine makes after a call's first await has none of the caller's frames in its stack, so Node's
// report of it named a line inside the library (a long one, in the bundle). Each call that acquires or extends
// rethrows it with a stack that starts where the caller awaits it.

/** A Redlock on 3 nodes, 2 of them refusing connections: every acquisition fails, after 2 quick attempts. */
const redlockWithoutQuorum = (): Redlock => new Redlock([grantingNode(), failingNode(), failingNode()], { retryCount: 1, retryDelayMs: 1 });

/** The first frame of `error`'s stack (Jest's source maps print an async frame without `async`). */
function firstFrameOf(error: unknown): string | undefined {
  expect(error).toBeInstanceOf(RedlockError);
  return (error as Error).stack?.split('\n').find((line) => line.startsWith('    at '));
}

describe("an engine's error, rethrown at the caller", () => {
  it('starts its stack at the caller of each call that acquires', async () => {
    const redlock = redlockWithoutQuorum();
    const rwLock = redlock.readWriteLock('catalog');
    const semaphore = redlock.semaphore('imports', { limit: 2 });
    async function callsAcquire() {
      await redlock.acquire('orders', 10_000);
    }
    async function callsTryAcquire() {
      await redlock.tryAcquire('orders', 10_000);
    }
    async function callsUsing() {
      await redlock.using('orders', 10_000, () => undefined);
    }
    async function callsSemaphore() {
      await semaphore.acquire(10_000);
    }
    async function callsTrySemaphore() {
      await semaphore.tryAcquire(10_000);
    }
    async function callsSemaphoreUsing() {
      await semaphore.using(10_000, () => undefined);
    }
    async function callsWriteLock() {
      await rwLock.acquireWrite(10_000);
    }
    async function callsCampaign() {
      await redlock.election('scheduler').campaign('host-a', { retryCount: 1 });
    }
    for (const call of [callsAcquire, callsTryAcquire, callsUsing, callsSemaphore, callsTrySemaphore, callsSemaphoreUsing, callsWriteLock, callsCampaign]) {
      expect(firstFrameOf(await call().catch((error: unknown) => error))).toMatch(new RegExp(`^ {4}at (async )?${call.name} \\(.*call-site\\.test\\.ts:\\d+:\\d+\\)$`));
    }
    await redlock.close();
  });

  it("starts its stack at the caller of lock.extend(), and leaves a routine's own errors as they are", async () => {
    const node = grantingNode();
    const redlock = new Redlock([node], { retryCount: 0 });
    const lock = await redlock.acquire('orders', 10_000);
    node.failNext('extend', new Error('connect ECONNREFUSED'));
    async function callsExtend(held: Lock) {
      await held.extend(10_000);
    }
    expect(firstFrameOf(await callsExtend(lock).catch((error: unknown) => error))).toMatch(/^ {4}at (async )?callsExtend \(/);
    await lock.release();
    function routineThrows(): never {
      throw new RedlockError('from the routine');
    }
    const fromRoutine = await redlock.using('orders', 10_000, routineThrows).catch((error: unknown) => error);
    expect(firstFrameOf(fromRoutine)).toMatch(/^ {4}at routineThrows \(/);
    await redlock.close();
  });

  it('keeps the stack where the error was made when no async function awaits the call', async () => {
    const redlock = redlockWithoutQuorum();
    const error = await new Promise((resolve) => {
      void redlock.acquire('orders', 10_000).then(undefined, resolve);
    });
    expect(firstFrameOf(error)).toMatch(/^ {4}at \S+ \(.*src\/acquire\//);
    await redlock.close();
  });
});
