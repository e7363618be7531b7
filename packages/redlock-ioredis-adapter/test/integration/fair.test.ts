import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { type Lock, type RedisAdapter, Redlock, type RedlockOptions } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { runChild } from '../support/child-process.js';
import { eventually } from '../support/eventually.js';
import { useRedisNodes } from '../support/redis-servers.js';

// Fair locks (`{ fair: true }`) on 3 real nodes, each Redlock a process of its own with clients of its own:
// the order of the nodes' wait queues, and what happens to a waiter that gives up, exits, pauses, or cannot
// subscribe to wakes.

const redis = useRedisNodes(3);
const adaptersOf = (): IoredisAdapter[] => redis.urls.map((_, index) => new IoredisAdapter(redis.createClient(index)));
const processOf = (options: RedlockOptions = {}, adapters: RedisAdapter[] = adaptersOf()): Redlock => new Redlock(adapters, options);
/** The members of `resource`'s wait queue on node `index`, first first. */
const queueOn = (index: number, resource: string): Promise<string[]> => redis.createClient(index).zrange(`{${resource}}:w`, '0', '-1');
const FAIR = { fair: true } as const;

/** A process of its own with a Redlock over the nodes (`redlock`), running `body` (an ES module's statements). */
const childRunning = (body: string): ReturnType<typeof runChild> =>
  runChild(
    `
      import { Redlock } from 'redlock-core';
      import { IoredisAdapter } from 'redlock-ioredis-adapter';
      import { Redis } from 'ioredis';
      const urls = ${JSON.stringify(redis.urls)};
      const redlock = new Redlock(urls.map((url) => new IoredisAdapter(new Redis(url))));
      ${body}
    `,
    {},
  );

/** The number of members in `resource`'s wait queue on each node. */
const queueLengths = (resource: string): Promise<number[]> => Promise.all(redis.urls.map((_, index) => redis.createClient(index).zcard(`{${resource}}:w`)));

/** Resolves once `count` members are in `resource`'s wait queue on every node (within 5 s). */
async function queued(resource: string, count: number): Promise<void> {
  expect(await eventually(() => queueLengths(resource), (lengths) => lengths.every((length) => length === count), 5_000)).toEqual(redis.urls.map(() => count));
}

/** Resolves once `count` waiters of `resource` have a lease on every node that says they listen for wakes (within 5 s). */
async function listening(resource: string, count: number): Promise<void> {
  const listeningOn = (): Promise<number[]> =>
    Promise.all(redis.urls.map(async (_, index) => (await redis.createClient(index).hvals(`{${resource}}:l`)).filter((lease) => lease.endsWith(':1')).length));
  expect(await eventually(listeningOn, (counts) => counts.every((each) => each === count), 5_000)).toEqual(redis.urls.map(() => count));
}

/** Records the order in which `calls` get their locks, releasing each at once. */
function grantOrder(calls: readonly (readonly [string, Promise<Lock>])[]): Promise<string[]> {
  const order: string[] = [];
  return Promise.all(
    calls.map(async ([name, call]) => {
      const lock = await call;
      order.push(name);
      await lock.release();
    }),
  ).then(() => order);
}

describe('a fair lock', () => {
  it('goes to its waiters in the order they queued, and a fair newcomer or single try never takes it ahead of them', async () => {
    const resource = `fair-order:${randomUUID()}`;
    const [holder, first, second, third, newcomer] = [processOf(), processOf(), processOf(), processOf(), processOf()];
    const held = await holder.acquire(resource, 10_000);
    const waiting: [string, Promise<Lock>][] = [];
    for (const [name, redlock] of [['first', first], ['second', second], ['third', third]] as const) {
      waiting.push([name, redlock.acquire(resource, 10_000, { ...FAIR, retryCount: 100 })]);
      await queued(resource, waiting.length);
    }
    await held.release();
    const order = grantOrder(waiting);
    // While they wait, a fair single try finds the lock promised: nothing.
    expect(await newcomer.tryAcquire(resource, 10_000, FAIR)).toBeUndefined();
    expect(await order).toEqual(['first', 'second', 'third']);
    for (let index = 0; index < redis.urls.length; index += 1) expect(await queueOn(index, resource)).toEqual([]);
    await Promise.all([holder, first, second, third, newcomer].map((redlock) => redlock.close()));
  });

  it('is taken by a default call whenever it is free, whoever waits: only fair calls wait their turn', async () => {
    const resource = `fair-default:${randomUUID()}`;
    const [holder, fair, unfair] = [processOf(), processOf(), processOf({ retryDelayMs: 5 })];
    const held = await holder.acquire(resource, 10_000);
    const waiting = fair.acquire(resource, 10_000, { ...FAIR, retryCount: 100 });
    await queued(resource, 1);
    const barging = unfair.acquire(resource, 10_000, { retryCount: 1_000 });
    await held.release();
    // Either may come first; both get it, one after the other, and never together.
    const [a, b] = await Promise.race([waiting.then((lock) => [lock, barging] as const), barging.then((lock) => [lock, waiting] as const)]);
    await a.release();
    await (await b).release();
    await Promise.all([holder, fair, unfair].map((redlock) => redlock.close()));
  });

  it('skips a waiter that gave up at once: it leaves the queues, and the next one gets the lock at the release', async () => {
    const resource = `fair-give-up:${randomUUID()}`;
    const [holder, leaving, next] = [processOf(), processOf(), processOf({ retryDelayMs: 10_000, retryJitterMs: 0 })];
    const held = await holder.acquire(resource, 10_000);
    const controller = new AbortController();
    const givingUp = leaving.acquire(resource, 10_000, { ...FAIR, signal: controller.signal }).catch((error: unknown) => error);
    await queued(resource, 1);
    const waiting = next.acquire(resource, 10_000, { ...FAIR, retryCount: 10 });
    await queued(resource, 2);
    controller.abort();
    await givingUp;
    await queued(resource, 1);
    const releasedAt = performance.now();
    await held.release();
    const lock = await waiting;
    // Woken by the release, long before its 10 s timed retry.
    expect(performance.now() - releasedAt).toBeLessThan(2_000);
    await lock.release();
    await Promise.all([holder, leaving, next].map((redlock) => redlock.close()));
  });

  it('keeps the place of a waiter that cannot subscribe to wakes: it takes the lock at its timed retry, ahead of those behind', async () => {
    const resource = `fair-no-subscribe:${randomUUID()}`;
    // Adapters without `subscribe`: waiters on their timers, as a Redis user denied the wake channels.
    const polling = adaptersOf().map(
      (adapter) =>
        new Proxy(adapter, {
          get: (target, name) => {
            if (name === 'subscribe') return undefined;
            const value: unknown = Reflect.get(target, name, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        }),
    );
    const [holder, poller, behind] = [processOf(), processOf({ retryDelayMs: 300, retryJitterMs: 0 }, polling), processOf()];
    const held = await holder.acquire(resource, 10_000);
    const waiting: [string, Promise<Lock>][] = [['poller', poller.acquire(resource, 10_000, { ...FAIR, retryCount: 100 })]];
    await queued(resource, 1);
    waiting.push(['behind', behind.acquire(resource, 10_000, { ...FAIR, retryCount: 100 })]);
    await queued(resource, 2);
    await held.release();
    expect(await grantOrder(waiting)).toEqual(['poller', 'behind']);
    await Promise.all([holder, poller, behind].map((redlock) => redlock.close()));
  });

  it('skips a waiter whose process exited at the next release, and one whose process is paused once its lease ran out', async () => {
    const resource = `fair-gone:${randomUUID()}`;
    const [holder, next] = [processOf(), processOf({ retryDelayMs: 200 })];
    const waiterBody = `
      console.log('waiting');
      await redlock.acquire(${JSON.stringify(resource)}, 10_000, { fair: true, retryCount: 1_000 });
      console.log('acquired');
    `;
    for (const signal of ['SIGKILL', 'SIGSTOP'] as const) {
      const held = await holder.acquire(resource, 10_000);
      const child = childRunning(waiterBody);
      expect(await child.nextLine()).toBe('waiting');
      await queued(resource, 1);
      const waiting = next.acquire(resource, 10_000, { ...FAIR, retryCount: 1_000 });
      await queued(resource, 2);
      // Each asked every node once its wake subscriptions were in place: the nodes know it listens.
      await listening(resource, 2);
      child.process.kill(signal);
      const releasedAt = performance.now();
      await held.release();
      const lock = await waiting;
      const tookMs = performance.now() - releasedAt;
      // Gone (its connections closed): skipped at the release. Paused: once its lease (1 s at the defaults) ran out.
      if (signal === 'SIGKILL') expect(tookMs).toBeLessThan(900);
      else expect(tookMs).toBeGreaterThan(500);
      expect(tookMs).toBeLessThan(5_000);
      await lock.release();
      child.process.kill('SIGKILL');
      await child.exited;
    }
    await Promise.all([holder, next].map((redlock) => redlock.close()));
  });

  it('is handed on past a holder paused past its TTL with its connections open, once its lease ran out, not when it runs again', async () => {
    const resource = `fair-frozen:${randomUUID()}`;
    const child = childRunning(`
      await redlock.acquire(${JSON.stringify(resource)}, 1_000, { fair: true });
      console.log('held');
      setInterval(() => undefined, 60_000);
    `);
    expect(await child.nextLine()).toBe('held');
    // Paused while it holds the lock, its wake subscriptions still open: it stays first in the queues until it
    // releases. Its lease, renewed at its grant (1 s at the defaults), says it has stopped asking.
    child.process.kill('SIGSTOP');
    const pausedAt = performance.now();
    const next = processOf();
    try {
      const lock = await next.acquire(resource, 10_000, { ...FAIR, retryCount: 1_000, waitMs: 8_000 });
      // Its key expires after 1 s, its lease about then: before the lease at its grant, it held up the queue until it
      // ran again (here, the acquisition gave up after its 8 s).
      expect(performance.now() - pausedAt).toBeLessThan(4_000);
      await lock.release();
    } finally {
      child.process.kill('SIGKILL');
      await child.exited;
      await next.close();
    }
  });

  it('is not held up by a default waiter ahead whose process is paused, its connections open, beyond a lease', async () => {
    const resource = `fair-frozen-default:${randomUUID()}`;
    const holder = processOf();
    const held = await holder.acquire(resource, 10_000);
    const child = childRunning(`
      console.log('waiting');
      await redlock.acquire(${JSON.stringify(resource)}, 10_000, { retryCount: 1_000 });
      console.log('acquired');
    `);
    const next = processOf();
    try {
      expect(await child.nextLine()).toBe('waiting');
      await queued(resource, 1);
      const waiting = next.acquire(resource, 10_000, { ...FAIR, retryCount: 1_000, waitMs: 8_000 });
      await queued(resource, 2);
      // The default waiter, first in the queues, is paused: the release wakes it, and it does not act. A default
      // waiter keeps no lease; a fair call that finds it first at a free key gives it one (1 s at the defaults).
      child.process.kill('SIGSTOP');
      const releasedAt = performance.now();
      await held.release();
      const lock = await waiting;
      // Before, the fair call waited for the queue to expire (60 s; here it gave up after its 8 s).
      expect(performance.now() - releasedAt).toBeLessThan(4_000);
      await lock.release();
    } finally {
      child.process.kill('SIGKILL');
      await child.exited;
      await Promise.all([holder, next].map((redlock) => redlock.close()));
    }
  });

  it('is handed on past a waiter killed just before the release woke it, once its connections closed, not at a timed retry', async () => {
    const resource = `fair-killed:${randomUUID()}`;
    // The next waiter's timed retry is 5 s away: only the releaser's asks can hand the lock on sooner.
    const [holder, next] = [processOf(), processOf({ retryDelayMs: 5_000, retryJitterMs: 0 })];
    const held = await holder.acquire(resource, 10_000, FAIR);
    const child = childRunning(`
      console.log('waiting');
      await redlock.acquire(${JSON.stringify(resource)}, 10_000, { fair: true, retryCount: 1_000 });
      console.log('acquired');
    `);
    expect(await child.nextLine()).toBe('waiting');
    await listening(resource, 1);
    const waiting = next.acquire(resource, 10_000, FAIR);
    await listening(resource, 2);
    // Released at once: the system has not closed the killed process's connections yet (15-50 ms for a Node.js
    // process), so the nodes wake it, and it alone.
    child.process.kill('SIGKILL');
    const releasedAt = performance.now();
    await held.release();
    const lock = await waiting;
    expect(performance.now() - releasedAt).toBeLessThan(2_000);
    await lock.release();
    await child.exited;
    await Promise.all([holder, next].map((redlock) => redlock.close()));
  });
});
