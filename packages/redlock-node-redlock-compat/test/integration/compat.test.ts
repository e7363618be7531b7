import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { Cluster, Redis } from 'ioredis';
import { Redis as Redis5 } from 'ioredis-v5';
import { type LocalRedisNodes, startRedisCluster, startRedisNodes } from 'local-redis-nodes';
import NodeRedlock from 'redlock';
import { DIAGNOSTICS_CHANNELS, LockAcquireError, LockExtendError, MisconfiguredNodeError, NodeError, RedlockClosedError } from 'redlock-core';
import Redlock, { ExecutionError, Lock, ResourceLockedError } from '../../src/index.js';

// node-redlock 5's documented behaviour (its README and types), through the compat package, on three real
// standalone nodes shared by the whole file. Each test locks resources of its own.

let nodes: LocalRedisNodes;
let cluster: LocalRedisNodes;
const opened: { quit(): Promise<unknown>; status: string }[] = [];
const clientsOf = (): Redis[] => {
  const clients = nodes.urls.map((url) => new Redis(url, { maxRetriesPerRequest: 0 }));
  opened.push(...clients);
  return clients;
};
/** Each node's value at `key`. */
const valuesAt = async (admin: readonly Redis[], key: string): Promise<(string | null)[]> => Promise.all(admin.map((client) => client.get(key)));
let admin: Redis[];
const redlocks: Redlock[] = [];
/** A compat `Redlock` over `clients` (fresh clients of the standalone nodes by default), quit after the file's tests. */
const redlockOf = (settings?: ConstructorParameters<typeof Redlock>[1], clients: Iterable<Redis | Cluster> = clientsOf()): Redlock => {
  const redlock = new Redlock(clients, settings);
  redlocks.push(redlock);
  return redlock;
};
/** The quorum-th (2nd) largest of three nodes' figures: what a quorum of them at least has. */
const atQuorum = (values: readonly number[]): number => [...values].sort((a, b) => b - a)[1] as number;
const resource = (): string => `compat:${randomUUID()}`;
/** 28,500 years, as node-redlock's own suite locks: far above the core's longest TTL (2³¹−1 ms). */
const CENTURIES_MS = Math.floor(Number.MAX_SAFE_INTEGER / 10);
/** Whether every node's TTL at `key` is within 1 s of `durationMs`. */
const hasTtlOf = async (clients: readonly (Redis | Cluster)[], key: string, durationMs: number): Promise<boolean> =>
  (await Promise.all(clients.map((client) => client.pttl(key)))).every((ttl) => ttl <= durationMs && durationMs - ttl < 1_000);

beforeAll(async () => {
  // Side by side: the cluster takes about 2 s to agree on its slots.
  [nodes, cluster] = await Promise.all([startRedisNodes({ count: 3 }), startRedisCluster({ masters: 3 })]);
  admin = clientsOf();
}, 30_000);
afterAll(async () => {
  // Closes what each Redlock opened (its notification connections) and its clients.
  await Promise.all(redlocks.map((redlock) => redlock.quit()));
  await Promise.all(opened.filter((client) => client.status !== 'end').map((client) => client.quit()));
  await Promise.all([nodes?.stop(), cluster?.stop()]);
});

/** A `Cluster` client of the file's cluster, closed after the file's tests. */
function clusterClient(): Cluster {
  const client = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })), { redisOptions: { maxRetriesPerRequest: 0 } });
  opened.push(client);
  return client;
}

describe('node-redlock compat on standalone nodes', () => {
  it('acquires and releases: the value on every node, the votes, the expiration, then no key', async () => {
    const redlock = redlockOf();
    const key = resource();
    const before = Date.now();
    const lock = await redlock.acquire([key], 5_000);
    expect(lock).toBeInstanceOf(Lock);
    expect(lock.resources).toEqual([key]);
    expect(lock.redlock).toBe(redlock);
    // acquire() resolves at a quorum (2 of 3): the third node's SET may still be on its way.
    expect((await valuesAt(admin, key)).filter((value) => value === lock.value).length).toBeGreaterThanOrEqual(2);
    await waitFor(async () => (await valuesAt(admin, key)).every((value) => value === lock.value));
    // Validity: the start plus the duration, less round(0.01 × 5000) + 2 ms of drift.
    expect(lock.expiration).toBeGreaterThanOrEqual(before + 5_000 - 52);
    expect(lock.expiration).toBeLessThanOrEqual(Date.now() + 5_000 - 52);
    expect(lock.attempts).toHaveLength(1);
    const stats = await lock.attempts[0];
    expect(stats?.membershipSize).toBe(3);
    expect(stats?.quorumSize).toBe(2);
    expect(stats?.votesFor.size).toBeGreaterThanOrEqual(2);
    expect(stats?.votesAgainst.size).toBe(0);

    const result = await lock.release();
    expect(lock.expiration).toBe(0);
    expect((await result.attempts[0])?.votesFor.size).toBeGreaterThanOrEqual(2);
    // Released again: the first release's votes (node-redlock would throw after its retries).
    expect((await (await lock.release()).attempts[0])?.votesFor.size).toBeGreaterThanOrEqual(2);
    // The release resolves at a quorum; the third node follows within its timeout.
    await waitFor(async () => (await valuesAt(admin, key)).every((value) => value === null));
  });

  it('fails a lock another owner holds with an ExecutionError whose votes are ResourceLockedErrors, emitted as "error" events', async () => {
    const redlock = redlockOf({ retryCount: 2, retryDelay: 20, retryJitter: 0 });
    const key = resource();
    const held = await redlock.acquire([key], 5_000);
    const events: Error[] = [];
    redlock.on('error', (error: Error) => events.push(error));
    const error = await redlock.acquire([key], 5_000).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as ExecutionError).message).toBe('The operation was unable to achieve a quorum during its retry window.');
    expect((error as ExecutionError).cause).toBeInstanceOf(LockAcquireError);
    // The first try and two retries.
    expect((error as ExecutionError).attempts).toHaveLength(3);
    for (const attempt of (error as ExecutionError).attempts) {
      const stats = await attempt;
      expect(stats.votesFor.size).toBe(0);
      expect([...stats.votesAgainst.values()].every((vote) => vote instanceof ResourceLockedError)).toBe(true);
    }
    expect(events.length).toBeGreaterThanOrEqual(6);
    expect(events.every((event) => event instanceof ResourceLockedError && event.message === 'The operation was applied to: 0 of the 1 requested resources.')).toBe(true);
    // The failed attempts left nothing: the holder's value is still on every node.
    expect(await valuesAt(admin, key)).toEqual([held.value, held.value, held.value]);
    await held.release();
  });

  it('makes its 11 attempts on keys that are not locks (values without a TTL) on a quorum, as node-redlock, and leaves them alone', async () => {
    // node-redlock's default retryCount (10), with short pauses.
    const redlock = redlockOf({ retryDelay: 10, retryJitter: 0 });
    const key = resource();
    // Two of the three nodes: the third grants, and its key is removed after each attempt.
    await Promise.all(admin.slice(1).map((client) => client.set(key, 'not a lock')));
    const error = await redlock.acquire([key], 5_000).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ExecutionError);
    expect(((error as ExecutionError).cause as LockAcquireError).reason).toBe('foreign-key');
    const attempts = await Promise.all((error as ExecutionError).attempts);
    expect(attempts).toHaveLength(11);
    const [, second, third] = [...redlock.clients];
    for (const stats of attempts) {
      expect([...stats.votesAgainst.keys()]).toEqual([second, third]);
      for (const vote of stats.votesAgainst.values()) expect(vote).toEqual(new ResourceLockedError('The operation was applied to: 0 of the 1 requested resources.'));
    }
    await waitFor(async () => (await valuesAt(admin, key)).join() === ',not a lock,not a lock');
    await Promise.all(admin.map((client) => client.del(key)));
  });

  it("fails after the first attempt on keys that are not locks with `foreignKeys: 'redlock-core'`: no retry makes them go", async () => {
    const redlock = redlockOf({ retryCount: 5, retryDelay: 1_000, foreignKeys: 'redlock-core' });
    const key = resource();
    await Promise.all(admin.map((client) => client.set(key, 'not a lock')));
    const startedAt = Date.now();
    const error = await redlock.acquire([key], 5_000).catch((caught: unknown) => caught);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect(error).toBeInstanceOf(ExecutionError);
    expect(((error as ExecutionError).cause as LockAcquireError).reason).toBe('foreign-key');
    expect((error as ExecutionError).attempts).toHaveLength(1);
    expect(await valuesAt(admin, key)).toEqual(['not a lock', 'not a lock', 'not a lock']);
    await Promise.all(admin.map((client) => client.del(key)));
  });

  it('locks past a minority of nodes whose key is not a lock, and leaves that key alone through extend() and release()', async () => {
    const redlock = redlockOf({ retryCount: 0 });
    const key = resource();
    await (admin[2] as Redis).set(key, 'not a lock');
    const lock = await redlock.acquire([key], 5_000);
    await waitFor(async () => (await valuesAt(admin, key)).join() === `${lock.value},${lock.value},not a lock`);
    const extended = await lock.extend(10_000);
    expect(await (admin[2] as Redis).pttl(key)).toBe(-1);
    await extended.release();
    await waitFor(async () => (await valuesAt(admin, key)).join() === ',,not a lock');
    await (admin[2] as Redis).del(key);
  });

  it("votes against with the client's own error at every attempt for a node it cannot reach, as node-redlock (`Connection is closed.`), or with `errors: 'redlock-core'` the core's NodeError, the node then down", async () => {
    // Nothing listens on port 1, and the client gives up at once: every command fails with its own error.
    const unreachable = new Redis({ port: 1, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    unreachable.on('error', () => undefined);
    opened.push(unreachable);
    await waitFor(async () => unreachable.status === 'end');
    const [first, second] = clientsOf();
    const clients = [first as Redis, second as Redis, unreachable];
    const votesOf = async (redlock: Redlock): Promise<Error | undefined> => {
      const lock = await redlock.acquire([resource()], 5_000);
      const vote = (await lock.attempts[0])?.votesAgainst.get(unreachable);
      await lock.release();
      return vote;
    };
    // As node-redlock, the node is called at every attempt, each failing with the client's error.
    const compat = redlockOf({ retryCount: 0 }, clients);
    for (const asNodeRedlock of [await votesOf(compat), await votesOf(compat)]) {
      expect(asNodeRedlock).not.toBeInstanceOf(NodeError);
      expect(asNodeRedlock?.message).toBe('Connection is closed.');
    }
    // As the core: the client had no connection, so the node counts as down after its first failure, with
    // the client's connection error as the cause, and is not called while its client has none.
    const core = redlockOf({ retryCount: 0, errors: 'redlock-core' }, clients);
    const [failed, refused] = [await votesOf(core), await votesOf(core)];
    expect(failed).toBeInstanceOf(NodeError);
    expect([(failed as NodeError).nodeIndex, (failed as NodeError).isDown, (failed?.cause as { code?: string }).code]).toEqual([2, false, 'ECONNREFUSED']);
    expect([(refused as NodeError).nodeIndex, (refused as NodeError).isDown, (refused?.cause as { code?: string }).code]).toEqual([2, true, 'ECONNREFUSED']);
  });

  it('locks for 28,500 years, as node-redlock: that TTL on every node, through acquire(), extend() and using()', async () => {
    const redlock = redlockOf({ retryCount: 0 });
    const [one, two] = [resource(), resource()];
    const startedAt = Date.now();
    // One resource (the core sets it with SET), then two (with its acquire script).
    const single = await redlock.acquire([one], CENTURIES_MS);
    const double = await redlock.acquire([`{${two}}:a`, `{${two}}:b`], CENTURIES_MS);
    const drift = Math.round(CENTURIES_MS * 0.01) + 2;
    expect(single.expiration).toBeGreaterThanOrEqual(startedAt + CENTURIES_MS - drift);
    expect(single.expiration).toBeLessThanOrEqual(Date.now() + CENTURIES_MS - drift);
    await waitFor(async () => (await hasTtlOf(admin, one, CENTURIES_MS)) && (await hasTtlOf(admin, `{${two}}:b`, CENTURIES_MS)));
    const extended = await single.extend(3 * CENTURIES_MS);
    expect(extended.expiration).toBeGreaterThan(Date.now() + 2 * CENTURIES_MS);
    await waitFor(async () => hasTtlOf(admin, one, 3 * CENTURIES_MS));
    await Promise.all([extended.release(), double.release()]);
    await waitFor(async () => (await valuesAt(admin, one)).every((value) => value === null));
    // using() waits for an extension due in 30 days (node-redlock's timer fired at once, and extended without pause).
    const thirtyDaysMs = 30 * 24 * 3_600_000;
    const extensions: unknown[] = [];
    const countExtension = (context: unknown): number => extensions.push(context);
    const extendStart = `tracing:${DIAGNOSTICS_CHANNELS.extend}:start`;
    diagnosticsChannel.subscribe(extendStart, countExtension);
    try {
      const aborted = await redlock.using([one], thirtyDaysMs, async (signal) => {
        await waitFor(async () => hasTtlOf(admin, one, thirtyDaysMs));
        await sleep(200);
        return signal.aborted;
      });
      expect(aborted).toBe(false);
      expect(extensions).toEqual([]);
    } finally {
      diagnosticsChannel.unsubscribe(extendStart, countExtension);
    }
    await waitFor(async () => (await valuesAt(admin, one)).every((value) => value === null));
  });

  it("refuses a duration above 2³¹−1 ms with `durations: 'redlock-core'`, the core's longest", async () => {
    const redlock = redlockOf({ durations: 'redlock-core' });
    await expect(redlock.acquire([resource()], CENTURIES_MS)).rejects.toThrow(RangeError);
    const lock = await redlock.acquire([resource()], 5_000);
    await expect(lock.extend(CENTURIES_MS)).rejects.toThrow(RangeError);
    await lock.release();
  });

  it('waits for the lock with retryCount -1 until its holder releases it', async () => {
    const redlock = redlockOf({ retryCount: -1, retryDelay: 50, retryJitter: 10 });
    const key = resource();
    const held = await redlock.acquire([key], 5_000);
    let isAcquired = false;
    const waiting = redlock.acquire([key], 5_000).then((lock) => {
      isAcquired = true;
      return lock;
    });
    await sleep(300);
    expect(isAcquired).toBe(false);
    await held.release();
    const lock = await waiting;
    expect((await valuesAt(admin, key)).filter((value) => value === lock.value).length).toBeGreaterThanOrEqual(2);
    await lock.release();
  });

  it('extends a lock into a new Lock, zeroes the old expiration, and refuses to extend a released one', async () => {
    const redlock = redlockOf();
    const key = resource();
    const lock = await redlock.acquire([key], 1_000);
    const extended = await lock.extend(20_000);
    expect(extended).not.toBe(lock);
    expect(lock.expiration).toBe(0);
    expect(extended.value).toBe(lock.value);
    expect(extended.expiration).toBeGreaterThan(Date.now() + 19_000);
    // Its attempts: the winning extension's votes, as node-redlock's.
    expect(extended.attempts).toHaveLength(1);
    expect((await extended.attempts[0])?.votesFor.size).toBeGreaterThanOrEqual(2);
    // extend() resolves at a quorum (2 of 3): the third node may still be on its way.
    expect(atQuorum(await Promise.all(admin.map((client) => client.pttl(key))))).toBeGreaterThan(15_000);
    await extended.release();
    await expect(extended.extend(1_000)).rejects.toThrow(new ExecutionError('Cannot extend an already-expired lock.', []));
  });

  it('leaves a lock whose extension to a shorter duration failed expiring with that duration, which the nodes ran', async () => {
    const redlock = redlockOf({ retryCount: 3 });
    const key = resource();
    const lock = await redlock.acquire([key], 10_000);
    const extending = lock.extend(250);
    // The event loop stalls (CPU load, a long GC) while the nodes run it: no validity is left at the decision.
    const stalledUntil = Date.now() + 400;
    while (Date.now() < stalledUntil);
    await expect(extending).rejects.toThrow(ExecutionError);
    expect(lock.expiration).toBeLessThan(Date.now());
    await expect(lock.extend(10_000)).rejects.toThrow(new ExecutionError('Cannot extend an already-expired lock.', []));
    // The keys expired with the 250 ms: another owner gets the resource.
    await waitFor(async () => (await valuesAt(admin, key)).every((value) => value === null));
    await (await redlockOf({ retryCount: 0 }).acquire([key], 1_000)).release();
  });

  it('locks a resource listed twice as node-redlock does, once', async () => {
    const redlock = redlockOf();
    const key = resource();
    const lock = await redlock.acquire([key, key], 5_000);
    expect(lock.resources).toEqual([key, key]);
    // acquire() and release() resolve at a quorum (2 of 3): the third node may still be on its way.
    await waitFor(async () => (await valuesAt(admin, key)).every((value) => value === lock.value));
    await redlock.release(lock);
    await waitFor(async () => (await valuesAt(admin, key)).every((value) => value === null));
  });

  it('rejects the release of a lock that expired, as no node deleted its keys', async () => {
    const redlock = redlockOf();
    const key = resource();
    const lock = await redlock.acquire([key], 200);
    await waitFor(async () => (await valuesAt(admin, key)).every((value) => value === null));
    const error = await lock.release().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ExecutionError);
    const stats = await (error as ExecutionError).attempts[0];
    expect(stats?.votesFor.size).toBe(0);
    expect(stats?.votesAgainst.size).toBe(3);
  });

  it('fails the extension of a lock another owner took, without retrying', async () => {
    const redlock = redlockOf({ retryCount: 5, retryDelay: 1_000 });
    const key = resource();
    const lock = await redlock.acquire([key], 5_000);
    await Promise.all(admin.map((client) => client.set(key, 'someone-else', 'PX', 5_000)));
    const startedAt = Date.now();
    const error = await lock.extend(5_000).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as ExecutionError).cause).toBeInstanceOf(LockExtendError);
    expect((error as ExecutionError).attempts).toHaveLength(1);
    // No retry pause of 1 s was taken: retrying cannot win back a lock someone else holds.
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    await Promise.all(admin.map((client) => client.del(key)));
  });

  it('runs a routine with using(), extending the lock past its duration, and resolves with its value', async () => {
    const redlock = redlockOf({ automaticExtensionThreshold: 200 });
    const key = resource();
    let ttlLate = 0;
    const value = await redlock.using([key], 400, async (signal) => {
      // Past the first expiration: only an extension keeps the keys.
      await sleep(600);
      ttlLate = atQuorum(await Promise.all(admin.map((client) => client.pttl(key))));
      expect(signal.aborted).toBe(false);
      return 'done';
    });
    expect(value).toBe('done');
    expect(ttlLate).toBeGreaterThan(0);
    await waitFor(async () => (await valuesAt(admin, key)).every((value) => value === null));
  });

  it('aborts the signal of using() with the error when the lock is lost, and rejects with the final release\'s', async () => {
    const redlock = redlockOf({ automaticExtensionThreshold: 200, retryCount: 0 });
    const key = resource();
    let signalError: Error | undefined;
    const outcome = await redlock
      .using([key], 400, async (signal) => {
        // Another owner takes the resource on every node: the next extension finds it and fails.
        await Promise.all(admin.map((client) => client.set(key, 'someone-else', 'PX', 10_000)));
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        signalError = signal.error;
        return 'finished';
      })
      .catch((caught: unknown) => caught);
    // An ExecutionError, as node-redlock's signal carries, whether an extension or the core's loss detection saw it first.
    expect(signalError).toBeInstanceOf(ExecutionError);
    expect(outcome).toBeInstanceOf(ExecutionError);
    expect(await valuesAt(admin, key)).toEqual(['someone-else', 'someone-else', 'someone-else']);
    await Promise.all(admin.map((client) => client.del(key)));
  });

  it('releases and extends a Lock made with new Lock(…) from a value acquired elsewhere, as node-redlock does', async () => {
    const scheduler = redlockOf();
    const worker = redlockOf();
    const key = resource();
    const acquired = await scheduler.acquire([key], 2_000);
    // The worker knows only what the scheduler handed it.
    const handed = new Lock(worker, [key], acquired.value, [], acquired.expiration);
    const extended = await handed.extend(20_000);
    expect(handed.expiration).toBe(0);
    expect(extended.expiration).toBeGreaterThan(Date.now() + 19_000);
    expect(atQuorum(await Promise.all(admin.map((client) => client.pttl(key))))).toBeGreaterThan(15_000);
    await extended.release();
    // A quorum at least: the scheduler's own SET to the third node, on its own connection, may come later.
    expect((await valuesAt(admin, key)).filter((value) => value === null).length).toBeGreaterThanOrEqual(2);
    // A value that holds nothing: the release is refused, as node-redlock refuses it.
    await expect(new Lock(worker, [key], 'not-the-value', [], Date.now() + 1_000).release()).rejects.toThrow(ExecutionError);
  });

  it('releases a lock node-redlock 5 acquired, from its value', async () => {
    const theirs = new NodeRedlock(clientsOf(), { retryCount: 0 });
    const ours = redlockOf();
    const key = resource();
    const theirLock = await theirs.acquire([key], 5_000);
    const result = await new Lock(ours, [key], theirLock.value, [], Date.now() + 4_000).release();
    expect((await result.attempts[0])?.votesFor.size).toBeGreaterThanOrEqual(2);
    // A quorum at least: node-redlock's SET to the third node, on its own connection, may come later.
    expect((await valuesAt(admin, key)).filter((value) => value === null).length).toBeGreaterThanOrEqual(2);
  });

  it('excludes node-redlock 5 and is excluded by it on the same nodes, so both can run during a rolling migration', async () => {
    const ours = redlockOf({ retryCount: 0 });
    const theirs = new NodeRedlock(clientsOf(), { retryCount: 0 });
    const key = resource();
    const lock = await ours.acquire([key], 5_000);
    await expect(theirs.acquire([key], 5_000)).rejects.toThrow('The operation was unable to achieve a quorum during its retry window.');
    await lock.release();
    await waitFor(async () => (await valuesAt(admin, key)).every((value) => value === null));
    const theirLock = await theirs.acquire([key], 5_000);
    await expect(ours.acquire([key], 5_000)).rejects.toThrow(ExecutionError);
    await theirLock.release();
  });

  it('runs on ioredis 5 clients too, and quit() closes the clients', async () => {
    const clients = nodes.urls.map((url) => new Redis5(url, { maxRetriesPerRequest: 0 }));
    const redlock = new Redlock(clients as never);
    const lock = await redlock.acquire([resource()], 5_000);
    await lock.release();
    await redlock.quit();
    await waitFor(async () => clients.every((client) => client.status === 'end'));
  });

  it('rejects calls after quit() with an ExecutionError, as node-redlock\'s closed clients fail them', async () => {
    const redlock = new Redlock(clientsOf());
    const lock = await redlock.acquire([resource()], 5_000);
    await redlock.quit();
    const acquiring = redlock.acquire([resource()], 5_000);
    await expect(acquiring).rejects.toThrow(ExecutionError);
    await expect(acquiring.catch((error: unknown) => (error as Error).cause)).resolves.toBeInstanceOf(RedlockClosedError);
    await expect(lock.extend(5_000)).rejects.toThrow(ExecutionError);
  });
});

describe('node-redlock compat on cluster nodes', () => {
  it('locks for 28,500 years on a Cluster client, as node-redlock', async () => {
    const client = clusterClient();
    const redlock = redlockOf({ retryCount: 0 }, [client]);
    const tag = `{compat-${randomUUID()}}`;
    const lock = await redlock.acquire([`${tag}:items`, `${tag}:payment`], CENTURIES_MS);
    expect(await hasTtlOf([client], `${tag}:payment`, CENTURIES_MS)).toBe(true);
    const extended = await lock.extend(2 * CENTURIES_MS);
    expect(await hasTtlOf([client], `${tag}:items`, 2 * CENTURIES_MS)).toBe(true);
    await extended.release();
    expect(await client.exists(`${tag}:items`, `${tag}:payment`)).toBe(0);
  });

  it('counts a Cluster client as one node, and locks resources that share a hash tag', async () => {
    const client = clusterClient();
    const redlock = redlockOf({}, [client]);
    const tag = `{compat-${randomUUID()}}`;
    const lock = await redlock.acquire([`${tag}:items`, `${tag}:payment`], 5_000);
    expect((await lock.attempts[0])?.membershipSize).toBe(1);
    expect(await client.mget(`${tag}:items`, `${tag}:payment`)).toEqual([lock.value, lock.value]);
    await lock.release();
    expect(await client.exists(`${tag}:items`, `${tag}:payment`)).toBe(0);
  });

  it('runs a cluster beside two standalone nodes, as node-redlock advises for large installations', async () => {
    const cluster = clusterClient();
    const standalone = clientsOf().slice(0, 2);
    const redlock = redlockOf({ retryCount: 0 }, [cluster, ...standalone]);
    const key = `{${resource()}}`;
    const lock = await redlock.acquire([key], 5_000);
    const values = async (): Promise<(string | null)[]> => Promise.all([cluster.get(key), ...standalone.map((client) => client.get(key))]);
    // acquire() resolves at a quorum (2 of 3): the third node's SET may still be on its way.
    await waitFor(async () => (await values()).every((value) => value === lock.value));
    await expect(redlock.acquire([key], 5_000)).rejects.toThrow(ExecutionError);
    await lock.release();
  });

  it('fails resources in different slots at once with the core\'s MisconfiguredNodeError, where node-redlock retried', async () => {
    const redlock = redlockOf({ retryDelay: 1_000 }, [clusterClient()]);
    const startedAt = Date.now();
    await expect(redlock.acquire([`a-${randomUUID()}`, `b-${randomUUID()}`], 5_000)).rejects.toThrow(MisconfiguredNodeError);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `condition` holds, looking every 10 ms, for at most 5 s. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; await sleep(10)) if (await condition()) return;
  throw new Error('The condition did not hold within 5 s');
}
