import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { LockAcquireError, type Permit, PermitError } from 'redlock-core';
import { eventually } from '../support/eventually.js';
import { wakeListenerCountOf } from '../support/handoff.js';
import { usePrefixedRedlocks } from '../support/prefixed-redlocks.js';
import { useRedisNodes } from '../support/redis-servers.js';

// Counting semaphores on 5 real redis-server nodes, through the public API: each `Redlock` here is another
// client (its own connections), as another process would be.

const NODE_COUNT = 5;
const TTL_MS = 30_000;

const redis = useRedisNodes(NODE_COUNT);

const fleet = usePrefixedRedlocks(redis, 'semaphore');
const { newRedlock } = fleet;

/** The slots taken of `resource` on each node: every field of its hash but the limit's. */
const permitsOn = (resource: string): Promise<number[]> =>
  Promise.all(fleet.admins.map(async (admin) => Object.keys(await admin.hgetall(`${fleet.prefix}${resource}`)).filter((field) => field !== 'limit').length));

/**
 * The tokens that hold slots of `resource` on any node. Contenders that reach the nodes in different
 * orders may be given different slots, and a holder then keeps its slots only on the quorum that agreed
 * (the others are freed), so per-node counts vary with timing; who holds slots anywhere does not.
 */
async function holdersAnywhere(resource: string): Promise<Set<string>> {
  const hashes = await Promise.all(fleet.admins.map((admin) => admin.hgetall(`${fleet.prefix}${resource}`)));
  return new Set(hashes.flatMap((hash) => Object.entries(hash).flatMap(([field, value]) => (field === 'limit' ? [] : [value.slice(value.indexOf(':') + 1)]))));
}

describe('a counting semaphore on real nodes', () => {
  it('admits at most `limit` holders at once, and admits another once one releases', async () => {
    const holders = await Promise.all([1, 2, 3].map(() => newRedlock().semaphore('imports', { limit: 3 }).tryAcquire(TTL_MS)));
    expect(holders.every((permit) => permit?.state === 'held')).toBe(true);
    const fourth = newRedlock().semaphore('imports', { limit: 3 });
    expect(await fourth.tryAcquire(TTL_MS)).toBeUndefined();
    // The refused request left nothing: the three holders' slots only, no node over the limit.
    expect((await eventually(() => holdersAnywhere('imports'), (found) => found.size === 3, 3_000)).size).toBe(3);
    expect(Math.max(...(await permitsOn('imports')))).toBeLessThanOrEqual(3);
    expect(await fourth.inspect()).toMatchObject({ permitsInUse: 3, holders: 3 });
    await (holders[0] as Permit).release();
    const admitted = await fourth.tryAcquire(TTL_MS);
    expect(admitted?.state).toBe('held');
    await Promise.all([admitted, holders[1], holders[2]].map((permit) => permit?.release()));
    // The last release removes the key itself (the limit's member with it).
    expect(await eventually(() => Promise.all(fleet.admins.map((admin) => admin.exists(`${fleet.prefix}imports`))), (found) => found.every((n) => n === 0), 3_000)).toEqual(
      Array(NODE_COUNT).fill(0),
    );
  });

  it('takes several permits at once, all or none', async () => {
    const pool = newRedlock().semaphore('pool', { limit: 3 });
    const two = await pool.acquire(TTL_MS, { permits: 2 });
    expect(two.permits).toBe(2);
    expect(await newRedlock().semaphore('pool', { limit: 3 }).tryAcquire(TTL_MS, { permits: 2 })).toBeUndefined();
    const one = await newRedlock().semaphore('pool', { limit: 3 }).tryAcquire(TTL_MS, { permits: 1 });
    expect(one?.state).toBe('held');
    expect(await pool.inspect()).toMatchObject({ permitsInUse: 3, holders: 2 });
    await two.release();
    expect(await eventually(() => pool.inspect(), (found) => found.permitsInUse === 1, 3_000)).toMatchObject({ permitsInUse: 1, holders: 1 });
    expect((await holdersAnywhere('pool')).size).toBe(1);
    await one?.release();
  });

  it('refuses a semaphore of another limit at the first conflicting call, without retrying, and writes nothing', async () => {
    const held = await newRedlock().semaphore('jobs', { limit: 3 }).acquire(TTL_MS);
    const error = await newRedlock({ retryCount: 5, retryDelayMs: 10_000 })
      .semaphore('jobs', { limit: 5 })
      .acquire(TTL_MS)
      .catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(PermitError);
    expect(error).toMatchObject({ operation: 'acquire', reason: 'limit-mismatch', recordedLimit: 3, attemptCount: 1, permits: 1 });
    expect((error as PermitError).message).toContain('limit 3');
    // The refused call wrote nothing: the holder's slot only, on each node that answered it.
    expect((await holdersAnywhere('jobs')).size).toBe(1);
    expect(Math.max(...(await permitsOn('jobs')))).toBe(1);
    await held.release();
  });

  it('inspects the permits in use and their holders by the quorum\'s view, without a token', async () => {
    const semaphore = newRedlock().semaphore('watched', { limit: 3 });
    expect(await semaphore.inspect()).toMatchObject({ resource: 'watched', limit: undefined, permitsInUse: 0, holders: 0 });
    const two = await semaphore.acquire(TTL_MS, { permits: 2 });
    const one = await newRedlock().semaphore('watched', { limit: 3 }).acquire(TTL_MS);
    const inspection = await eventually(
      () => semaphore.inspect(),
      (found) => found.nodes.every((node) => node.status === 'semaphore' && node.slots.length === 3),
      3_000,
    );
    expect(inspection).toMatchObject({ limit: 3, permitsInUse: 3, holders: 2 });
    // The holders' tokens, read from a node's hash (`<expiry>:<token>` per slot), appear nowhere in it.
    const tokens = Object.entries(await (fleet.admins[0] as Redis).hgetall(`${fleet.prefix}watched`)).flatMap(([field, value]) => (field === 'limit' ? [] : [value.slice(value.indexOf(':') + 1)]));
    expect(new Set(tokens).size).toBe(2);
    for (const token of tokens) expect(JSON.stringify(inspection)).not.toContain(token);
    await Promise.all([two.release(), one.release()]);
    expect(await eventually(() => semaphore.inspect(), (found) => found.permitsInUse === 0, 3_000)).toMatchObject({ permitsInUse: 0, holders: 0 });
  });

  it('keeps a resource a lock or a semaphore: each finds the other foreign, with a typed error', async () => {
    const lock = await newRedlock().acquire('report', TTL_MS);
    const permitError = await newRedlock().semaphore('report', { limit: 2 }).acquire(TTL_MS).catch((failure: unknown) => failure);
    expect(permitError).toMatchObject({ name: 'PermitError', reason: 'foreign-key', attemptCount: 1 });
    await lock.release();
    const permit = await newRedlock().semaphore('report', { limit: 2 }).acquire(TTL_MS);
    const lockError = await newRedlock({ retryCount: 0 }).acquire('report', TTL_MS).catch((failure: unknown) => failure);
    expect(lockError).toBeInstanceOf(LockAcquireError);
    expect((lockError as LockAcquireError).reason).toBe('foreign-key');
    await permit.release();
  });

  it("leaves a user's hash alone, refused as foreign at once, however much it looks like a semaphore", async () => {
    const patient = { retryCount: 5, retryDelayMs: 10_000 };
    const key = (resource: string): string => `${fleet.prefix}${resource}`;
    // A user's hash with a field named limit and no TTL; one whose limit is no number; one with a slot that is no entry.
    const hashes: [string, Record<string, string>, number | undefined][] = [
      ['quota', { limit: '3', remaining: '2', owner: 'billing' }, undefined],
      ['unlimited', { limit: 'unlimited' }, 60_000],
      ['odd-slot', { limit: '3', '1': 'taken' }, 60_000],
    ];
    for (const [resource, fields, ttlMs] of hashes) {
      await Promise.all(fleet.admins.map((admin) => (ttlMs === undefined ? admin.hset(key(resource), fields) : admin.multi().hset(key(resource), fields).pexpire(key(resource), ttlMs).exec())));
      const error = await newRedlock(patient).semaphore(resource, { limit: 3 }).acquire(TTL_MS).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(PermitError);
      expect(error).toMatchObject({ reason: 'foreign-key', attemptCount: 1 });
      expect((await newRedlock().semaphore(resource, { limit: 3 }).inspect()).nodes.map((node) => node.status)).toEqual(Array(NODE_COUNT).fill('foreign'));
      // Untouched: the same fields, and no TTL where it had none.
      for (const admin of fleet.admins) {
        expect(await admin.hgetall(key(resource))).toEqual(fields);
        if (ttlMs === undefined) expect(await admin.pttl(key(resource))).toBe(-1);
      }
    }
  });

  it('shortens the key with an extension to a shorter TTL, so that it does not outlive its slots', async () => {
    const permit = await newRedlock().semaphore('shrinking', { limit: 1 }).acquire(60_000);
    await permit.extend(2_000);
    const ttls = await Promise.all(fleet.admins.map((admin) => admin.pttl(`${fleet.prefix}shrinking`)));
    for (const ttlMs of ttls) expect(ttlMs).toBeLessThanOrEqual(2_000);
    await permit.release();
  });

  it('frees the permits of a holder that never releases when their TTL runs out, by the nodes\' clocks', async () => {
    const crashed = await newRedlock().semaphore('short', { limit: 1 }).acquire(300);
    expect(await newRedlock().semaphore('short', { limit: 1 }).tryAcquire(TTL_MS)).toBeUndefined();
    await delay(400);
    expect(crashed.state).toBe('expired');
    const next = await newRedlock().semaphore('short', { limit: 1 }).tryAcquire(TTL_MS);
    expect(next?.state).toBe('held');
    await next?.release();
  });

  it('wakes a waiter when a holder releases, long before its retry timer', async () => {
    const holder = await newRedlock().semaphore('handoff', { limit: 1 }).acquire(TTL_MS);
    // One timed retry, a minute away, and a wait of 20 s: only the release's wake can get it the permit.
    const waiting = newRedlock({ retryCount: 1, retryDelayMs: 60_000, retryJitterMs: 0 }).semaphore('handoff', { limit: 1 }).acquire(TTL_MS, { waitMs: 20_000 });
    // Its first attempt found the semaphore full: it is queued on the nodes, and listens for its wake.
    await eventually(
      () => Promise.all(fleet.admins.map((admin) => wakeListenerCountOf(admin, `${fleet.prefix}handoff`))),
      (counts) => counts.some((count) => count > 0),
      5_000,
    );
    await holder.release();
    const permit = await waiting;
    expect(permit.state).toBe('held');
    expect(permit.attempts).toBe(2);
    await permit.release();
  });

  it('extends held permits, and finds them gone once a quorum lost them', async () => {
    const semaphore = newRedlock().semaphore('extend', { limit: 2 });
    const permit = await semaphore.acquire(1_000);
    await permit.extend(TTL_MS);
    expect(permit.remainingValidityMs).toBeGreaterThan(10_000);
    // Every node answered before the deletion below: inspect() waits for them all, on the connections the
    // acquire went out on. On a loaded machine a node may answer the acquire after its 100 ms timeout, and
    // such a late admission landing after the deletion gave the extension below a third node.
    await semaphore.inspect();
    // Three nodes lose the permit's members (another client deleted the key there).
    await Promise.all(fleet.admins.slice(0, 3).map((admin) => admin.del(`${fleet.prefix}extend`)));
    const error = await permit.extend(TTL_MS).catch((failure: unknown) => failure);
    expect(error).toMatchObject({ name: 'PermitError', operation: 'extend', reason: 'not-held', isLost: true });
    expect(permit.state).toBe('lost');
    await permit.release();
    expect(permit.state).toBe('released');
  });

  it('keeps permits extended under using() while the routine outlasts their TTL, and frees them at the end', async () => {
    // A 400 ms TTL kept extended is meant here (`shortTtlMs` takes it): the routine outlasts it in 1 s.
    const semaphore = newRedlock({ shortTtlMs: 400 }).semaphore('long', { limit: 1 });
    const value = await semaphore.using(400, async (signal, permit) => {
      await delay(1_000);
      expect([signal.aborted, permit.state]).toEqual([false, 'held']);
      // Another client still finds the only permit taken.
      expect(await newRedlock().semaphore('long', { limit: 1 }).tryAcquire(TTL_MS)).toBeUndefined();
      return 'imported';
    });
    expect(value).toBe('imported');
    expect(await eventually(() => permitsOn('long'), (counts) => counts.every((count) => count === 0), 3_000)).toEqual(Array(NODE_COUNT).fill(0));
  });

  it('gives up when waitMs runs out, with a PermitError that says so, and leaves no permit of its own', async () => {
    const holder = await newRedlock().semaphore('busy', { limit: 1 }).acquire(TTL_MS);
    const error = await newRedlock({ retryCount: Infinity, retryDelayMs: 50, retryJitterMs: 10 })
      .semaphore('busy', { limit: 1 })
      .acquire(TTL_MS, { waitMs: 400 })
      .catch((failure: unknown) => failure);
    expect(error).toMatchObject({ name: 'PermitError', reason: 'no-permits-free', waitMs: 400 });
    expect((error as PermitError).attemptCount).toBeGreaterThan(1);
    expect((await eventually(() => holdersAnywhere('busy'), (found) => found.size === 1, 3_000)).size).toBe(1);
    await holder.release();
  });

  it('never has more holders with validity left than the limit, with 8 clients contending', async () => {
    const limit = 3;
    let holding = 0;
    let mostAtOnce = 0;
    let acquired = 0;
    const stopAt = performance.now() + 1_500;
    const worker = async (): Promise<void> => {
      const semaphore = newRedlock({ retryDelayMs: 20, retryJitterMs: 10, retryCount: Infinity }).semaphore('chaos', { limit });
      while (performance.now() < stopAt) {
        const permit = await semaphore.acquire(2_000, { waitMs: 5_000 });
        holding += 1;
        acquired += 1;
        mostAtOnce = Math.max(mostAtOnce, holding);
        await delay(1 + Math.floor(Math.random() * 5));
        // Counted out while its validity certainly remains: well inside a 2 s TTL.
        expect(permit.state).toBe('held');
        holding -= 1;
        await permit.release();
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(mostAtOnce).toBeLessThanOrEqual(limit);
    expect(mostAtOnce).toBe(limit);
    expect(acquired).toBeGreaterThan(8);
  });
});
