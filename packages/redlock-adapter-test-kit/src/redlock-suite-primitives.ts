// The Redlock suite's tests of the other primitives on the same nodes: a counting semaphore, a read-write lock, and
// a fair lock.
import { deepStrictEqual, equal } from 'node:assert/strict';
import { eventually } from './assertions.js';
import { type SuiteContext, TTL_MS } from './suite-context.js';

/** Registers the semaphore's, the read-write lock's and the fair lock's tests, in their order in the suite. */
export function registerPrimitiveTests(context: SuiteContext): void {
  const { it, newRedlock, onEveryNode, eventuallyNoKeys } = context;
  it("hands out at most a semaphore's limit of permits, passes a freed one to a waiter, and leaves no key", async () => {
    const semaphoreOf = async (retryCount: number) => (await newRedlock({ retryCount })).semaphore('pool', { limit: 3 });
    const two = await (await semaphoreOf(0)).acquire(TTL_MS, { permits: 2 });
    const one = await (await semaphoreOf(0)).acquire(TTL_MS);
    equal(await (await semaphoreOf(0)).tryAcquire(TTL_MS), undefined);
    // Woken by the release where the adapter can subscribe, else by its timer (20 ms ± 10).
    const waiting = (await semaphoreOf(100)).acquire(TTL_MS, { permits: 2 });
    await two.release();
    const next = await waiting;
    deepStrictEqual([two.state, one.state, next.state, next.permits], ['released', 'held', 'held', 2]);
    await Promise.all([one.release(), next.release()]);
    await eventuallyNoKeys();
  });

  it('lets two readers share a read-write lock, hands it to a writer waiting for them, and leaves no key', async () => {
    // One client for all three (each holder has a token of its own): connections are what costs here.
    const catalog = (await newRedlock({ retryCount: 0 })).readWriteLock('catalog');
    const readers = [await catalog.acquireRead(TTL_MS), await catalog.acquireRead(TTL_MS)];
    deepStrictEqual(
      readers.map((reader) => [reader.mode, reader.state]),
      [
        ['read', 'held'],
        ['read', 'held'],
      ],
    );
    // Woken by the release where the adapter can subscribe, else by its timer (20 ms ± 10).
    const writing = catalog.acquireWrite(TTL_MS, { retryCount: 100 });
    // It waits: its intent, which refuses new readers, is on the nodes where it found the readers.
    await eventually(async () => (await onEveryNode(['HEXISTS', context.prefix() + 'catalog', 'i'])).includes(1), true);
    await Promise.all(readers.map((reader) => reader.release()));
    const writer = await writing;
    deepStrictEqual([writer.mode, writer.state, ...readers.map((reader) => reader.state)], ['write', 'held', 'released', 'released']);
    // The writer's late nodes remove its intent as they admit it.
    await eventually(async () => {
      const { isWriteLocked, readers: readerCount, isWriterWaiting } = await catalog.inspect();
      return [isWriteLocked, readerCount, isWriterWaiting];
    }, [true, 0, false]);
    await writer.release();
    await eventuallyNoKeys();
  });

  it('hands a fair lock to its waiters in the order they asked, and leaves no queue behind', async () => {
    const queue = `{${context.prefix()}turns}:w`;
    const held = await (await newRedlock({ retryCount: 0 })).acquire('turns', TTL_MS, { fair: true });
    const order: number[] = [];
    const calls: Promise<void>[] = [];
    for (const index of [1, 2, 3]) {
      const redlock = await newRedlock({ retryCount: 100 });
      calls.push(
        redlock.acquire('turns', TTL_MS, { fair: true }).then(async (lock) => {
          order.push(index);
          await lock.release();
        }),
      );
      // Queued on every node before the next one asks (the holder, a single try, never queued).
      await eventually(async () => (await onEveryNode(['ZCARD', queue])).every((length) => length === index), true);
    }
    // Each release wakes the next where the adapter can subscribe, else the next takes it at its timer (20 ms ± 10).
    await held.release();
    await Promise.all(calls);
    deepStrictEqual(order, [1, 2, 3]);
    // The queue and the leases beside it are gone with their last member.
    await eventually(async () => onEveryNode(['EXISTS', queue, `{${context.prefix()}turns}:l`]), context.redis.urls.map(() => 0));
    await eventuallyNoKeys();
  });
}
