import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Redis } from 'ioredis';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { useRedisNodes } from '../support/redis-servers.js';

// The core README's Guidance gives the ACL user that "can do everything the library does". This file makes
// that user, from the README's own line, and runs every primitive as it: contended locks woken by releases
// (a starving waiter's reservation among them), fencing, labels and their announcements, semaphores (a
// release that shortens the key to its longest slot), read-write locks and an election. A command the
// scripts run with `redis.pcall` fails silently (waiters then wake on their timers), so the test reads each
// node's ACL LOG: nothing the user did may have been denied.

const README = new URL('../../../redlock-core/README.md', import.meta.url);
const USER = `readme-${randomUUID()}`;
/** Under the README's `lock:` prefix, a namespace of this file's own. */
const KEY_PREFIX = `lock:readme-acl-${randomUUID()}:`;
const TTL_MS = 10_000;

/** The README's `ACL SETUSER` line, as arguments of the command after `ACL`, for `user`. */
function readmeAclArgs(user: string): string[] {
  const line = readFileSync(README, 'utf8')
    .split('\n')
    .map((text) => text.trim())
    .find((text) => text.startsWith('ACL SETUSER locks '));
  if (line === undefined) throw new Error('The core README has no `ACL SETUSER locks …` line');
  const [, setuser, , ...rules] = line.split(/\s+/);
  return [setuser as string, user, ...rules];
}

describe("as the README's ACL user", () => {
  const redis = useRedisNodes(3);
  let admins: Redis[];
  let redlocks: Redlock[];
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => {
    if ((warning as { code?: string }).code?.startsWith('REDLOCK_') === true) warnings.push(`${(warning as { code?: string }).code}: ${warning.message}`);
  };

  beforeAll(async () => {
    admins = [0, 1, 2].map((index) => redis.createClient(index));
    await Promise.all(admins.map((admin) => admin.call('ACL', ...readmeAclArgs(USER))));
    await Promise.all(admins.map((admin) => admin.call('ACL', 'LOG', 'RESET')));
    process.on('warning', onWarning);
    // Two processes' worth of clients, each with release notifications (a subscriber connection as the user).
    redlocks = [0, 1].map(() => {
      const clients = [0, 1, 2].map((index) => redis.createClient(index, { username: USER, password: 'password', maxRetriesPerRequest: 0 }));
      return new Redlock(
        clients.map((client) => new IoredisAdapter(client)),
        { keyPrefix: KEY_PREFIX, retryDelayMs: 5_000, retryJitterMs: 0, retryCount: 3, nodeTimeoutMs: 500 },
      );
    });
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    await Promise.all((redlocks ?? []).map((redlock) => redlock.close()));
  });

  /** What each node's ACL LOG holds for the user: every command, key or channel it was denied. */
  async function denials(): Promise<string[]> {
    const logs = (await Promise.all(admins.map((admin) => admin.call('ACL', 'LOG')))) as unknown[][];
    return logs.flatMap((entries, nodeIndex) =>
      entries.map((entry) => {
        const fields = entry as unknown[];
        const field = (name: string): string => String(fields[fields.indexOf(name) + 1]);
        return `node ${nodeIndex}: ${field('reason')} ${field('object')} (${field('context')}, user ${field('username')})`;
      }),
    );
  }

  it('takes, hands off, fences, labels, extends and releases locks, and no node denies anything', async () => {
    const [first, second] = redlocks as [Redlock, Redlock];
    // A release wakes the waiter at once: its timed retry is 5 s away.
    const held = await first.acquire('job', TTL_MS, { fencing: true });
    const start = performance.now();
    const waiting = second.acquire('job', TTL_MS);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await held.setLabel('host-a');
    await held.extend(TTL_MS);
    await held.release();
    const next = await waiting;
    const isWokenAtOnce = performance.now() - start < 4_000;
    const inspection = await first.inspect('job');
    expect(inspection).toMatchObject({ isLocked: true, label: undefined });
    await next.release();

    // A waiter close to giving up (retryCount 2: from its first timed retry on) asks for a reservation, as
    // its score's fraction, and the release reserves the key for it.
    let labelChanges = 0;
    const unwatch = second.watchLabel('reserved', () => (labelChanges += 1));
    const holder = await first.acquire('reserved', TTL_MS);
    const starving = second.acquire('reserved', TTL_MS, { retryCount: 2, retryDelayMs: 1_000, retryJitterMs: 0 });
    const queue = `{${KEY_PREFIX}reserved}:w`;
    const asksForReservation = async (admin: Redis): Promise<boolean> => Number((await admin.zrange(queue, '0', '0', 'WITHSCORES'))[1]) % 1 !== 0;
    while (!(await Promise.all(admins.map(asksForReservation))).every(Boolean)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await holder.setLabel('holder');
    await holder.release();
    await (await starving).release();
    unwatch();
    expect({ denials: await denials(), warnings, isWokenAtOnce, hasHeardLabels: labelChanges > 0 }).toEqual({ denials: [], warnings: [], isWokenAtOnce: true, hasHeardLabels: true });
  });

  it('takes and releases permits and read-write locks, and leads an election, and no node denies anything', async () => {
    const [first, second] = redlocks as [Redlock, Redlock];
    const pool = first.semaphore('pool', { limit: 2 });
    const long = await pool.acquire(60_000);
    const short = await pool.acquire(3_000);
    const start = performance.now();
    const waiting = second.semaphore('pool', { limit: 2 }).acquire(TTL_MS);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The key outlives the released long permit only as long as the short one: PEXPIREAT.
    await long.release();
    await (await waiting).release();
    const isWokenAtOnce = performance.now() - start < 4_000;
    await short.release();

    const catalog = first.readWriteLock('catalog');
    const reading = await catalog.acquireRead(TTL_MS);
    const writing = second.readWriteLock('catalog').acquireWrite(TTL_MS);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await reading.release();
    await (await writing).release();

    const election = first.election('leader', { ttlMs: 3_000, pollMs: 200 });
    const observer = second.election('leader', { ttlMs: 3_000, pollMs: 200 });
    const leadership = await election.campaign('a');
    expect(await observer.leader()).toEqual({ value: 'a', term: leadership.term });
    await leadership.resign();
    expect({ denials: await denials(), warnings, isWokenAtOnce }).toEqual({ denials: [], warnings: [], isWokenAtOnce: true });
  });
});
