import { describe, expect, it } from '@jest/globals';
import { LockLostError, MAX_PERMIT_LIMIT, type Permit, PermitError, Redlock, RedlockClosedError } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { connectionRefused } from '../../src/testing/fake-adapter.js';
import { grantingNodes, keysOf, slowNode } from '../../src/testing/fake-nodes.js';
import { pubSubNode } from '../support/fake-pubsub.js';

// A semaphore's bad inputs: each is a TypeError or RangeError that names the argument, thrown (or rejected)
// before any node is called; and a semaphore on the fake nodes of `redlock-core/testing`, as a user's own
// tests use it. Its behaviour on real nodes is in the adapters' semaphore tests, under faults in
// simulation-semaphore.test.ts.

const loose = <T>(value: unknown): T => value as T;

function setup() {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, 3);
  return { nodes, redlock: new Redlock(nodes, { clock }) };
}

describe('redlock.semaphore() arguments', () => {
  it.each<[string, unknown, unknown, ErrorConstructor, RegExp]>([
    ['a limit of 0', 'jobs', { limit: 0 }, RangeError, /`limit` to be a positive integer up to 1000, got `0`/],
    ['a negative limit', 'jobs', { limit: -3 }, RangeError, /`limit`.*got `-3`/],
    ['a NaN limit', 'jobs', { limit: Number.NaN }, RangeError, /`limit`.*got `NaN`/],
    ['a fractional limit', 'jobs', { limit: 2.5 }, RangeError, /`limit`.*got `2.5`/],
    ['a limit above the most', 'jobs', { limit: MAX_PERMIT_LIMIT + 1 }, RangeError, /`limit`.*got `1001`/],
    ['a limit given as a string', 'jobs', { limit: '3' }, TypeError, /`limit` to be a number, got `"3"`/],
    ['no limit', 'jobs', {}, TypeError, /set `limit`/],
    ['no options', 'jobs', undefined, TypeError, /with a `limit`/],
    ['an unknown option, named as redis-semaphore names the wait', 'jobs', { limit: 3, acquireTimeout: 10 }, TypeError, /`acquireTimeout`.*`waitMs`/],
    ['a lock option', 'jobs', { limit: 3, retryCount: 2 }, TypeError, /`retryCount` is an option of/],
    ['an empty resource', '', { limit: 3 }, RangeError, /non-empty string/],
    ['several resources', ['a', 'b'], { limit: 3 }, TypeError, /`resource` to be a string/],
  ])('refuses %s at once', (_, resource, options, type, message) => {
    const { nodes, redlock } = setup();
    expect(() => redlock.semaphore(loose(resource), loose(options))).toThrow(type);
    expect(() => redlock.semaphore(loose(resource), loose(options))).toThrow(message);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});

describe("a semaphore's acquire() and tryAcquire() arguments", () => {
  it.each<[string, unknown, unknown, ErrorConstructor, RegExp]>([
    ['more permits than the limit', 10_000, { permits: 4 }, RangeError, /`permits` to be a positive integer up to 3, got `4`/],
    ['0 permits', 10_000, { permits: 0 }, RangeError, /`permits`.*got `0`/],
    ['NaN permits', 10_000, { permits: Number.NaN }, RangeError, /`permits`.*got `NaN`/],
    ['a TTL in seconds', 10, {}, RangeError, /did you mean 10_000/],
    ['a NaN TTL', Number.NaN, {}, RangeError, /`ttlMs`.*got `NaN`/],
    ['a signal that is not an AbortSignal', 10_000, { signal: {} }, TypeError, /`signal` to be an AbortSignal/],
    ['a lock-only option', 10_000, { fencing: true }, TypeError, /`fencing` is an option of/],
  ])('acquire() refuses %s before any node call', async (_, ttlMs, options, type, message) => {
    const { nodes, redlock } = setup();
    const semaphore = redlock.semaphore('jobs', { limit: 3 });
    await expect(semaphore.acquire(loose(ttlMs), loose(options))).rejects.toThrow(type);
    await expect(semaphore.acquire(loose(ttlMs), loose(options))).rejects.toThrow(message);
    await expect(semaphore.tryAcquire(loose(ttlMs), loose(options))).rejects.toThrow(type);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('tryAcquire() refuses the retry options and waitMs, since it makes one attempt', async () => {
    const { nodes, redlock } = setup();
    const semaphore = redlock.semaphore('jobs', { limit: 3 });
    for (const option of [{ retryCount: 2 }, { waitMs: 100 }, { retryDelayMs: 5 }]) {
      await expect(semaphore.tryAcquire(10_000, loose(option))).rejects.toThrow(/it makes exactly one attempt.*wait for permits/);
    }
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('rejects with a RedlockClosedError once the Redlock is closed, before any node call', async () => {
    const { nodes, redlock } = setup();
    const semaphore = redlock.semaphore('jobs', { limit: 3 });
    await redlock.close();
    await expect(semaphore.acquire(10_000)).rejects.toThrow(RedlockClosedError);
    await expect(semaphore.tryAcquire(10_000)).rejects.toThrow(RedlockClosedError);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });

  it('rejects with the reason of a signal that aborted already, before any node call', async () => {
    const { nodes, redlock } = setup();
    const reason = new Error('shutting down');
    const signal = AbortSignal.abort(reason);
    await expect(redlock.semaphore('jobs', { limit: 3 }).tryAcquire(10_000, { signal })).rejects.toBe(reason);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});

describe("a permit's extension", () => {
  it('rejects as not held, and lost, when the permit was released while it ran, as a lock does', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 3 }, () => slowNode(clock, 50));
    const permit = await clock.runUntilSettled(new Redlock(nodes, { clock }).semaphore('jobs', { limit: 1 }).acquire(10_000));
    const extending = permit.extend(10_000).catch((failure: unknown) => failure);
    await clock.runUntilSettled(permit.release());
    const error = await clock.runUntilSettled(extending);
    expect(error).toBeInstanceOf(PermitError);
    expect(error).toMatchObject({ operation: 'extend', reason: 'not-held', isLost: true });
    expect((error as PermitError).message).toBe('Could not extend 1 of 1 permits of "jobs": they were released meanwhile');
    expect(permit.state).toBe('released');
  });
});

describe("a semaphore's failed attempt", () => {
  it('waits as for a full semaphore when a node left over from another limit refuses, and ends at once when a quorum holds that limit', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    // Node 2 alone holds the semaphore with limit 2, left over from an earlier configuration.
    await clock.runUntilSettled(new Redlock([nodes[2]!.connectAnotherClient()], { clock }).semaphore('jobs', { limit: 2 }).acquire(60_000));
    const client = () => new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryDelayMs: 100, retryJitterMs: 0 }).semaphore('jobs', { limit: 1 });
    // Nodes 0 and 1 agree on limit 1: a quorum.
    const held = await clock.runUntilSettled(client().acquire(60_000));
    const waiting = client().acquire(10_000, { waitMs: 5_000 });
    await clock.advance(1_000);
    await clock.runUntilSettled(held.release());
    const next = await clock.runUntilSettled(waiting);
    expect(next.state).toBe('held');
    expect(clock.now()).toBeLessThan(1_200);
    await clock.runUntilSettled(next.release());
    // Where the other limit denies a quorum (nodes 1 and 2), the call ends at once, without retrying.
    await clock.runUntilSettled(new Redlock([nodes[1]!.connectAnotherClient()], { clock }).semaphore('jobs', { limit: 2 }).acquire(60_000));
    const startedAt = clock.now();
    const error = await clock.runUntilSettled(client().acquire(10_000, { waitMs: 5_000 })).catch((failure: unknown) => failure);
    expect(error).toMatchObject({ reason: 'limit-mismatch', recordedLimit: 2, attemptCount: 1 });
    expect((error as PermitError).message).toBe(
      'Could not acquire 1 of 1 permits of "jobs" after 1 attempt: limit mismatch (last attempt: 2 holding a semaphore of another limit, 1 admitted, quorum is 2); held with limit 2, and every client of a semaphore must give the same limit',
    );
    expect(clock.now()).toBe(startedAt);
  });

  it('ends a single try once the refusals settle it, as a lock does, and sends the cleanup to the silent node at its timeout', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const held = await clock.runUntilSettled(new Redlock(nodes, { clock }).semaphore('jobs', { limit: 1 }).acquire(60_000));
    const connections = nodes.map((node) => node.connectAnotherClient());
    connections[2]!.hang();
    const waiter = new Redlock(connections, { clock, nodeTimeoutMs: 100 }).semaphore('jobs', { limit: 1 });
    // Full on nodes 0 and 1, no answer from node 2: the try ends at once; node 2 is cleaned up at its timeout, once.
    await expect(clock.runUntilSettled(waiter.tryAcquire(10_000))).resolves.toBeUndefined();
    expect(clock.now()).toBe(0);
    expect(connections[2]!.callsTo('permit-release')).toHaveLength(0);
    await clock.advance(100);
    expect(connections[2]!.callsTo('permit-release')).toHaveLength(1);
    connections[2]!.resume();
    await clock.runUntilSettled(held.release());
  });
});

describe("a semaphore's wait", () => {
  it('listens for releases only once a node found the permits taken, not while the nodes cannot be reached', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 3 }, () => pubSubNode(clock));
    for (const node of nodes) node.errorReply = connectionRefused();
    const error = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 2 }).semaphore('jobs', { limit: 1 }).acquire(10_000)).catch((failure: unknown) => failure);
    expect(error).toMatchObject({ reason: 'nodes-unreachable', attemptCount: 3 });
    // No SUBSCRIBE, which to a node that is down would wait for its connection (and hold close() until then).
    expect(nodes.map((node) => node.subscribeCalls.length)).toEqual([0, 0, 0]);
    for (const node of nodes) node.errorReply = undefined;
    const held = await clock.runUntilSettled(new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock }).semaphore('jobs', { limit: 1 }).acquire(10_000));
    await expect(clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 1 }).semaphore('jobs', { limit: 1 }).acquire(10_000))).rejects.toMatchObject({ reason: 'no-permits-free' });
    expect(nodes.some((node) => node.subscribeCalls.length > 0)).toBe(true);
    await clock.runUntilSettled(held.release());
  });

  it('retries until waitMs runs out when no retryCount is given, past the default 10 retries', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const holder = new Redlock(nodes, { clock }).semaphore('jobs', { limit: 1 });
    const held = await clock.runUntilSettled(holder.acquire(60_000));
    const waiter = new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryDelayMs: 100, retryJitterMs: 0 }).semaphore('jobs', { limit: 1 });
    // 10 retries take 1 s at this pace: the wait goes on to 5.5 s.
    const waited = await clock.runUntilSettled(waiter.acquire(10_000, { waitMs: 5_500 })).catch((failure: unknown) => failure);
    expect(waited).toMatchObject({ reason: 'no-permits-free', attemptCount: 55 });
    // It keeps 11 of its attempts, and says how many it made, as a lock's error does.
    expect((waited as PermitError).attempts).toHaveLength(11);
    expect((waited as PermitError).message).toMatch(/^Could not acquire 1 of 1 permits of "jobs" within `waitMs` \(5500 ms\), after 55 attempts \(the error keeps the first and the latest 10\): no permits free \(last attempt: /);
    expect(clock.now()).toBe(5_500);
    // Without waitMs, the default retries end the wait, and the error says how to wait longer.
    const error = await clock.runUntilSettled(waiter.acquire(10_000)).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(PermitError);
    expect((error as PermitError).message).toMatch(/ after 11 attempts: .*; its 10 retries \(the default\) ran out: give `waitMs` to wait longer$/);
    await clock.runUntilSettled(held.release());
  });
});

describe('a semaphore on the fake nodes of redlock-core/testing', () => {
  it('admits up to its limit, refuses more, frees a released permit and extends a held one', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const semaphore = new Redlock(nodes, { clock }).semaphore('jobs', { limit: 2 });
    const first = await clock.runUntilSettled(semaphore.acquire(10_000));
    const second = await clock.runUntilSettled(semaphore.tryAcquire(10_000));
    expect([first.state, second?.state]).toEqual(['held', 'held']);
    expect(await clock.runUntilSettled(semaphore.tryAcquire(10_000))).toBeUndefined();
    const other = new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryCount: 0 }).semaphore('jobs', { limit: 3 });
    await expect(clock.runUntilSettled(other.acquire(10_000))).rejects.toMatchObject({ reason: 'limit-mismatch', recordedLimit: 2 });
    await clock.runUntilSettled(first.release());
    expect(first.state).toBe('released');
    const third = await clock.runUntilSettled(semaphore.tryAcquire(10_000));
    expect(third?.state).toBe('held');
    await clock.advance(9_000);
    await clock.runUntilSettled((third as NonNullable<typeof third>).extend(10_000));
    await clock.advance(2_000);
    expect([second?.state, third?.state]).toEqual(['expired', 'held']);
    await expect(clock.runUntilSettled((second as NonNullable<typeof second>).extend(10_000))).rejects.toBeInstanceOf(PermitError);
  });

  it('lives as long as its longest permit held: after a release, a holder gone long ago keeps neither key nor limit', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock });
    const three = redlock.semaphore('jobs', { limit: 3 });
    const long = await clock.runUntilSettled(three.acquire(600_000));
    // A holder that crashes: never released.
    await clock.runUntilSettled(three.acquire(1_000));
    await clock.runUntilSettled(long.release());
    // The key now lives as long as the crashed holder's permit, not as long as the released one's.
    expect(nodes.map((node) => node.keyspace.pttl('jobs'))).toEqual([1_000, 1_000, 1_000]);
    await clock.advance(1_000);
    expect(nodes.map((node) => node.keyspace.pttl('jobs'))).toEqual([undefined, undefined, undefined]);
    await expect(clock.runUntilSettled(redlock.semaphore('jobs', { limit: 5 }).acquire(10_000))).resolves.toMatchObject({ state: 'held' });
  });

  it('extends a permit to a shorter TTL: its validity follows, and the permit is free for others once it ran out', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const permit = await clock.runUntilSettled(new Redlock(nodes, { clock }).semaphore('jobs', { limit: 1 }).acquire(10_000));
    await clock.runUntilSettled(permit.extend(1_000));
    expect(permit.remainingValidityMs).toBe(1_000 - 12);
    await clock.advance(1_000);
    expect(permit.state).toBe('expired');
    const other = new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryCount: 0 }).semaphore('jobs', { limit: 1 });
    expect((await clock.runUntilSettled(other.tryAcquire(10_000)))?.state).toBe('held');
  });
});

describe("a semaphore's using() on fake nodes", () => {
  /** A semaphore of limit 2 on 3 fake nodes, and a routine under `using()` that runs until `finish()`. */
  async function usingUntilFinished(ttlMs: number) {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const semaphore = new Redlock(nodes, { clock }).semaphore('jobs', { limit: 2 });
    let finish: (value: string) => void = () => undefined;
    let routine: { signal: AbortSignal; permit: Permit } | undefined;
    const running = semaphore.using(ttlMs, (signal, permit) => {
      routine = { signal, permit };
      return new Promise<string>((resolve) => (finish = resolve));
    });
    await clock.advance(0);
    if (routine === undefined) throw new Error('the routine did not start');
    return { clock, nodes, running, finish, ...routine };
  }

  it('keeps the permits extended while the routine runs past their TTL, and releases them at the end', async () => {
    const { clock, nodes, running, finish, signal, permit } = await usingUntilFinished(1_000);
    await clock.advance(3_500);
    expect([signal.aborted, permit.state]).toEqual([false, 'held']);
    // Extended about every half TTL: 6 or more extensions in 3.5 s of a 1 s TTL.
    expect(nodes[0]?.callsTo('permit-extend').length).toBeGreaterThanOrEqual(6);
    finish('done');
    expect(await clock.runUntilSettled(running)).toBe('done');
    expect(permit.state).toBe('released');
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it("aborts the routine's signal with a LockLostError when a quorum loses the permits, and rejects with what it returned", async () => {
    const { clock, nodes, running, finish, signal, permit } = await usingUntilFinished(1_000);
    // Two of three nodes lose the semaphore's key (deleted by someone, or restarted empty).
    for (const node of nodes.slice(0, 2)) node.keyspace.delete('jobs');
    await clock.advance(600);
    expect(signal.reason).toBeInstanceOf(LockLostError);
    expect((signal.reason as LockLostError).message).toBe('Lost 1 of 2 permits of "jobs": a quorum of nodes no longer holds our token');
    expect(permit.state).toBe('lost');
    finish('partial');
    const error = await clock.runUntilSettled(running).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ result: 'partial', message: 'Lost 1 of 2 permits of "jobs" while the routine ran; what it returned is in `result`' });
  });

  it('rejects with LockLostError when the routine released the permits itself only after they expired', async () => {
    const { clock, running, finish, permit } = await usingUntilFinished(1_000);
    clock.stall(1_500);
    await clock.runUntilSettled(permit.release());
    finish('late');
    const error = await clock.runUntilSettled(running).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ result: 'late', cause: { message: '1 of 2 permits of "jobs" were expired when released' } });
  });

  it('refuses a routine that is not a function, and a limit option without using(), before any node call', async () => {
    const { nodes, redlock } = setup();
    const semaphore = redlock.semaphore('jobs', { limit: 3 });
    await expect(semaphore.using(10_000, loose('not a function'))).rejects.toThrow(/`routine` to be a function, got `string`/);
    await expect(semaphore.using(10_000, async () => undefined, { maxExtensions: -1 })).rejects.toThrow(/`maxExtensions`/);
    await expect(semaphore.acquire(10_000, { maxHoldMs: 1_000 })).rejects.toThrow(/Expected `autoExtend: true` with `maxHoldMs`/);
    await expect(semaphore.tryAcquire(10_000, loose({ autoExtend: 'yes' }))).rejects.toThrow(/`autoExtend` to be a boolean/);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});

describe("a semaphore's inspect() on fake nodes", () => {
  it('counts the permits held on a quorum and their holders, and rejects when fewer than a quorum answer', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const semaphore = new Redlock(nodes, { clock }).semaphore('jobs', { limit: 3 });
    await clock.runUntilSettled(semaphore.acquire(10_000, { permits: 2 }));
    await clock.runUntilSettled(semaphore.acquire(10_000));
    expect(await clock.runUntilSettled(semaphore.inspect())).toMatchObject({ resource: 'jobs', limit: 3, permitsInUse: 3, holders: 2 });
    // A slot one node alone holds is not in use: the holder's request failed on the others.
    nodes[1]?.keyspace.delete('jobs');
    nodes[2]?.keyspace.delete('jobs');
    expect(await clock.runUntilSettled(semaphore.inspect())).toMatchObject({ permitsInUse: 0, holders: 0 });
    for (const node of nodes.slice(0, 2)) node.isDown = true;
    await expect(clock.runUntilSettled(semaphore.inspect())).rejects.toMatchObject({ name: 'PermitError', operation: 'inspect', reason: 'nodes-unreachable' });
  });
});

describe("a semaphore's autoExtend and permit.signal on fake nodes", () => {
  function setupSemaphore() {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock });
    return { clock, nodes, redlock, semaphore: redlock.semaphore('jobs', { limit: 2 }) };
  }

  it('keeps the permits extended until release, then stops extending', async () => {
    const { clock, nodes, semaphore } = setupSemaphore();
    const permit = await clock.runUntilSettled(semaphore.acquire(1_000, { autoExtend: true }));
    await clock.advance(3_000);
    expect([permit.state, permit.signal.aborted]).toEqual(['held', false]);
    await clock.runUntilSettled(permit.release());
    const extensions = nodes[0]?.callsTo('permit-extend').length;
    await clock.advance(3_000);
    expect(nodes[0]?.callsTo('permit-extend').length).toBe(extensions);
    expect([permit.state, permit.signal.aborted]).toEqual(['released', false]);
  });

  it('aborts the signal with a LockLostError when a quorum loses the permits, and with a LockLimitError at maxExtensions', async () => {
    const { clock, nodes, semaphore } = setupSemaphore();
    const lost = await clock.runUntilSettled(semaphore.acquire(1_000, { autoExtend: true }));
    for (const node of nodes.slice(0, 2)) node.keyspace.delete('jobs');
    await clock.advance(600);
    expect(lost.state).toBe('lost');
    expect(lost.signal.reason).toBeInstanceOf(LockLostError);
    const limited = await clock.runUntilSettled(semaphore.tryAcquire(1_000, { autoExtend: true, maxExtensions: 1 }));
    await clock.advance(1_000);
    expect(limited?.signal.reason).toMatchObject({ name: 'LockLimitError', limit: 'maxExtensions' });
    // The last extension's validity is still there: the permits stay held until it runs out.
    expect(limited?.state).toBe('held');
    await clock.advance(1_000);
    expect(limited?.state).toBe('expired');
  });

  it('aborts the signal of a held permit with a RedlockClosedError at close(), and of an expired one with a LockLostError', async () => {
    const { clock, redlock, semaphore } = setupSemaphore();
    const expiring = await clock.runUntilSettled(semaphore.acquire(1_000));
    const { signal } = expiring;
    await clock.advance(1_000);
    expect(signal.reason).toMatchObject({ name: 'LockLostError', message: 'Lost 1 of 2 permits of "jobs": its validity ran out' });
    const held = await clock.runUntilSettled(semaphore.acquire(10_000, { autoExtend: true }));
    await clock.runUntilSettled(redlock.close());
    expect(held.signal.reason).toBeInstanceOf(RedlockClosedError);
    expect((held.signal.reason as Error).message).toBe('The Redlock was closed: 1 of 2 permits of "jobs" is no longer extended');
  });
});

describe("a semaphore's attempt when the nodes give different slots", () => {
  it('asks again for slots its answers show free on a quorum, in the same attempt, and frees the others', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    // Other holders' slots, as trims and races leave them: nodes 0 and 1 lack slot 2, nodes 3 and 4 slot 1.
    const taken = [[2], [2], [1, 2], [1], [1]];
    nodes.forEach((node, nodeIndex) => {
      node.keyspace.createHash('jobs', new Map([['limit', '3'], ...(taken[nodeIndex] ?? []).map((slot): [string, string] => [String(slot), `${1e13}:other-holder`])]));
      // With a TTL, as the scripts always give a semaphore's key: a hash without one is not a semaphore.
      node.keyspace.pexpire('jobs', 60_000);
    });
    const semaphore = new Redlock(nodes, { clock }).semaphore('jobs', { limit: 3 });
    // From slot 1 on: nodes 0 and 1 give slot 1, node 2 slot 3, nodes 3 and 4 slot 2; slot 3 is free everywhere.
    const random = Math.random;
    Math.random = () => 0;
    let permit: Permit | undefined;
    try {
      permit = await clock.runUntilSettled(semaphore.tryAcquire(10_000));
    } finally {
      Math.random = random;
    }
    expect([permit?.state, permit?.attempts]).toEqual(['held', 1]);
    expect(nodes.map((node) => node.callsTo('permit-acquire').length)).toEqual([2, 2, 2, 2, 2]);
    // Slot 3 is ours on every node, and no node keeps the slot it gave in the first round.
    await clock.advance(10);
    expect(nodes.map((node) => [...(node.keyspace.hashOf('jobs')?.keys() ?? [])].sort())).toEqual(
      taken.map((slots) => [...slots.map(String), '3', 'limit'].sort()),
    );
  });
});

describe('a late grant after the release, for a semaphore and a write lock', () => {
  type Take = (redlock: Redlock, ttlMs?: number) => Promise<{ release(): Promise<unknown> }>;
  const kinds: [string, Take, string][] = [
    ['a semaphore', (redlock, ttlMs = 10_000) => redlock.semaphore('jobs', { limit: 3 }).acquire(ttlMs), 'permit-acquire'],
    ['a write lock', (redlock, ttlMs = 10_000) => redlock.readWriteLock('jobs').acquireWrite(ttlMs), 'read-write-acquire'],
  ];
  /** The scripts a node ran, but the server probe of a first contact. */
  const scriptsOf = (node: { readonly calls: readonly { readonly script?: string }[] }) => node.calls.map(({ script }) => script).filter((script) => script !== 'probe');

  it.each(kinds)('%s: the release, which ran after it there, freed it: no third call', async (_, take, acquireScript) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    // Nodes 3 and 4 take the grant at once but answer after the quorum decided and the holder released.
    for (const node of nodes.slice(3)) node.latencyMs = 20;
    const held = await clock.runUntilSettled(take(new Redlock(nodes, { clock })));
    await clock.runUntilSettled(held.release());
    await clock.advance(100);
    expect(nodes.map(scriptsOf)).toEqual(nodes.map(() => [acquireScript, 'permit-release']));
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it.each(kinds)('%s: a grant that ran after the release there is freed once it answers', async (_, take, acquireScript) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    // Node 4's grant reaches it late, and the release, sent later, before it: as after a NOSCRIPT re-send.
    const late = nodes[4] as (typeof nodes)[number];
    late.requestLatencyMs = 20;
    const held = await clock.runUntilSettled(take(new Redlock(nodes, { clock })));
    late.requestLatencyMs = 0;
    await clock.runUntilSettled(held.release());
    await clock.advance(100);
    expect(scriptsOf(late)).toEqual([acquireScript, 'permit-release', 'permit-release']);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it.each(kinds)('%s: a grant that answers once the hold expired, never released, is freed there at once, as a lock\'s is', async (_, take, acquireScript) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    // Nodes 3 and 4 answer long after their timeout, and after the hold's 1 s validity ran out.
    for (const node of nodes.slice(3)) node.latencyMs = 1_500;
    await clock.runUntilSettled(take(new Redlock(nodes, { clock }), 1_000));
    await clock.advance(2_000);
    expect(nodes.slice(3).map(scriptsOf)).toEqual([[acquireScript, 'permit-release'], [acquireScript, 'permit-release']]);
    expect(nodes.slice(0, 3).map(scriptsOf)).toEqual([[acquireScript], [acquireScript], [acquireScript]]);
  });
});

describe("a semaphore's waiting acquire() on fake nodes", () => {
  it('stops waiting at once with signal.reason, or with a RedlockClosedError at close(), leaving no slot of its own', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const holderSemaphore = new Redlock(nodes, { clock }).semaphore('jobs', { limit: 1 });
    await clock.runUntilSettled(holderSemaphore.acquire(10_000));
    const waiter = new Redlock(
      nodes.map((node) => node.connectAnotherClient()),
      { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0 },
    );
    const controller = new AbortController();
    const aborted = waiter.semaphore('jobs', { limit: 1 }).acquire(10_000, { signal: controller.signal });
    const closed = waiter.semaphore('jobs', { limit: 1 }).acquire(10_000);
    void aborted.catch(() => undefined);
    void closed.catch(() => undefined);
    await clock.advance(250);
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    await clock.runUntilSettled(waiter.close());
    await expect(closed).rejects.toBeInstanceOf(RedlockClosedError);
    // Only the holder's slot is left on every node.
    expect(nodes.map((node) => [...(node.keyspace.hashOf('jobs')?.keys() ?? [])].filter((field) => field !== 'limit').length)).toEqual([1, 1, 1]);
  });
});

describe('close() while a semaphore acquisition runs', () => {
  /** The slots taken on each node of `nodes`, by number. */
  const slotsOn = (nodes: ReturnType<typeof grantingNodes>) => nodes.map((node) => [...(node.keyspace.hashOf('jobs')?.keys() ?? [])].filter((field) => field !== 'limit'));

  /**
   * Starts `call` on nodes that take the slots at once and answer 30 ms later, closes the Redlock 5 ms in,
   * and tells the slots each node held then, and those when `close()` resolved.
   */
  async function closedWhileInFlight(call: (redlock: Redlock) => Promise<unknown>) {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes) node.latencyMs = 30;
    const redlock = new Redlock(nodes, { clock });
    const running = call(redlock);
    void running.catch(() => undefined);
    await clock.advance(5);
    const slotsInFlight = slotsOn(nodes);
    let slotsAtClose: string[][] | undefined;
    await clock.runUntilSettled(redlock.close().then(() => (slotsAtClose = slotsOn(nodes))));
    return { running, slotsInFlight, slotsAtClose };
  }

  it('rejects the call at once, and resolves only once the attempt in flight freed its slots', async () => {
    const { running, slotsInFlight, slotsAtClose } = await closedWhileInFlight((redlock) => redlock.semaphore('jobs', { limit: 2 }).acquire(10_000));
    expect(slotsInFlight.map((slots) => slots.length)).toEqual([1, 1, 1]);
    await expect(running).rejects.toBeInstanceOf(RedlockClosedError);
    expect(slotsAtClose).toEqual([[], [], []]);
  });

  it('never hands out permits a single try took after close(), which releases them', async () => {
    const { running, slotsInFlight, slotsAtClose } = await closedWhileInFlight((redlock) => redlock.semaphore('jobs', { limit: 2 }).tryAcquire(10_000));
    expect(slotsInFlight.map((slots) => slots.length)).toEqual([1, 1, 1]);
    await expect(running).rejects.toBeInstanceOf(RedlockClosedError);
    expect(slotsAtClose).toEqual([[], [], []]);
  });

  it('sends nothing for a signal aborted already', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const semaphore = new Redlock(nodes, { clock }).semaphore('jobs', { limit: 3 });
    const reason = new Error('shutting down');
    await expect(clock.runUntilSettled(semaphore.acquire(10_000, { signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
    await expect(clock.runUntilSettled(semaphore.using(10_000, () => 1, { signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});

describe("a semaphore's woken attempt", () => {
  /** The only permit of "jobs" held, and a waiter in another process (5 s between its timed retries) past its first attempt. */
  async function waiterBehindHolder() {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const holder = new Redlock(nodes, { clock }).semaphore('jobs', { limit: 1 });
    await clock.runUntilSettled(holder.acquire(10_000));
    const connections = nodes.map((node) => node.connectAnotherClient());
    const waiting = new Redlock(connections, { clock, retryCount: 1, retryDelayMs: 5_000, retryJitterMs: 0 }).semaphore('jobs', { limit: 1 }).acquire(10_000);
    void waiting.catch(() => undefined);
    await clock.advance(50);
    return { clock, nodes, connections };
  }

  it('asks no other node once its signal aborted while the node that woke it had not answered', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    await clock.runUntilSettled(new Redlock(nodes, { clock }).semaphore('jobs', { limit: 1 }).acquire(10_000));
    const connections = nodes.map((node) => node.connectAnotherClient());
    const controller = new AbortController();
    const waiting = new Redlock(connections, { clock, retryDelayMs: 5_000, retryJitterMs: 0 }).semaphore('jobs', { limit: 1 }).acquire(10_000, { signal: controller.signal });
    void waiting.catch(() => undefined);
    await clock.advance(50);
    const before = connections.map((connection) => connection.callsTo('permit-acquire').length);
    connections[1]!.hang();
    // A wake from node 1 (forged: the permit is still held), on the channel the waiter listens to there.
    nodes[1]!.publish(connections[1]!.subscribeCalls[0]!);
    await clock.advance(10);
    controller.abort(new Error('stop'));
    await clock.advance(2_000);
    await expect(waiting).rejects.toThrow('stop');
    expect(connections.map((connection, nodeIndex) => connection.callsTo('permit-acquire').length - before[nodeIndex]!)).toEqual([0, 1, 0, 0, 0]);
  });

  it('asks the node that woke it alone first, and no other node when the permits are taken there', async () => {
    const { clock, nodes, connections } = await waiterBehindHolder();
    const afterFirst = connections.map((connection) => connection.callsTo('permit-acquire').length);
    // The first attempt, and the look once subscribed (a wake may have gone unheard meanwhile), which asked
    // the node that subscribed first alone: queued there, the waiter is woken at the next release.
    expect(afterFirst).toEqual([2, 1, 1, 1, 1]);
    // A wake from node 3 (forged: the permit is still held).
    nodes[3]!.publish(connections[3]!.subscribeCalls[0]!);
    await clock.advance(50);
    const woken = connections.map((connection, nodeIndex) => connection.callsTo('permit-acquire').length - (afterFirst[nodeIndex] ?? 0));
    expect(woken).toEqual([0, 0, 0, 1, 0]);
    // Nothing was written, so nothing is cleaned up.
    expect(connections.flatMap((connection) => connection.callsTo('permit-release'))).toEqual([]);
  });

  it('asks only the other nodes once the node that woke it gave the permit: its grant counts in the vote', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const held = await clock.runUntilSettled(new Redlock(nodes, { clock }).semaphore('jobs', { limit: 1 }).acquire(10_000));
    const connections = nodes.map((node) => node.connectAnotherClient());
    const waiting = new Redlock(connections, { clock, retryDelayMs: 5_000, retryJitterMs: 0 }).semaphore('jobs', { limit: 1 }).acquire(10_000);
    await clock.advance(50);
    const before = connections.map((connection) => connection.callsTo('permit-acquire').length);
    await clock.runUntilSettled(held.release());
    const permit = await clock.runUntilSettled(waiting);
    const woken = connections.map((connection, nodeIndex) => connection.callsTo('permit-acquire').length - (before[nodeIndex] ?? 0));
    expect(woken).toEqual([1, 1, 1, 1, 1]);
    expect(permit.state).toBe('held');
    expect(nodes.every((node) => node.keyspace.peek('jobs') !== undefined)).toBe(true);
    await clock.runUntilSettled(permit.release());
    expect(nodes.map((node) => node.keyspace.peek('jobs'))).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it('wakes one waiting process per permit freed, the one that waited longest', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 3 }, () => pubSubNode(clock));
    const holder = new Redlock(nodes, { clock }).semaphore('jobs', { limit: 2 });
    const held = await clock.runUntilSettled(holder.acquire(10_000, { permits: 2 }));
    // Three processes wait, 5 s between timed retries: only wakes can let them in within a second.
    const waiters = [0, 1, 2].map(() => new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryDelayMs: 5_000, retryJitterMs: 0 }).semaphore('jobs', { limit: 2 }));
    const waiting: Promise<unknown>[] = [];
    for (const waiter of waiters) {
      waiting.push(waiter.acquire(10_000));
      await clock.advance(10);
    }
    const acquiredAt: (number | undefined)[] = [undefined, undefined, undefined];
    waiting.forEach((promise, index) => void promise.then(() => (acquiredAt[index] = clock.now()), () => undefined));
    await clock.runUntilSettled(held.release());
    await clock.advance(1_000);
    // Two permits freed: the two that waited longest got them; the third waits for its timed retry.
    expect(acquiredAt.map((at) => at !== undefined)).toEqual([true, true, false]);
    // Queued by their looks, on the node each subscribed first.
    expect(nodes.map((node) => node.queueOf('jobs').length)).toEqual([1, 0, 0]);
  });
});

describe('a request for several permits behind 1-permit holders (issue 57)', () => {
  /** Two of 3 permits held on 3 fake nodes, and a way to make other clients of the same nodes. */
  async function twoHeld() {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const client = () => new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0 }).semaphore('jobs', { limit: 3 });
    const holders = await clock.runUntilSettled(Promise.all([client().acquire(10_000), client().acquire(10_000)]));
    const fieldsOn = () => nodes.map((node) => [...(node.keyspace.hashOf('jobs')?.keys() ?? [])].sort());
    return { clock, nodes, client, holders, fieldsOn };
  }

  it('leaves its intent while it waits, keeps 1-permit requests out, and removes it once admitted; released, nothing is left', async () => {
    const { clock, client, holders, fieldsOn } = await twoHeld();
    const acquiring = client().acquire(10_000, { permits: 3 });
    await clock.advance(50);
    // The intent is on every node: a request for the free permit is refused, even a single try.
    expect(fieldsOn().every((fields) => fields.includes('i'))).toBe(true);
    expect(await clock.runUntilSettled(client().tryAcquire(10_000))).toBeUndefined();
    // Its next attempts refresh the same intent, which outlives the wait.
    await clock.advance(1_000);
    expect(fieldsOn().every((fields) => fields.includes('i'))).toBe(true);
    await clock.runUntilSettled(Promise.all(holders.map((held) => held.release())));
    const permit = await clock.runUntilSettled(acquiring);
    expect([permit.permits, permit.state]).toEqual([3, 'held']);
    // Admitted, it removed its intent; released, nothing is left.
    expect(fieldsOn()).toEqual(Array.from({ length: 3 }, () => ['1', '2', '3', 'limit']));
    await clock.runUntilSettled(permit.release());
    expect(fieldsOn()).toEqual([[], [], []]);
  });

  it('withdraws the intent of a request that gives up, and a single try or a request for 1 permit leaves none', async () => {
    const { clock, nodes, client, holders, fieldsOn } = await twoHeld();
    expect(await clock.runUntilSettled(client().tryAcquire(10_000, { permits: 2 }))).toBeUndefined();
    // One attempt by `retryCount: 0` is a single try too: no later attempt of its own could use an intent,
    // so none is left, and none is withdrawn.
    const singleTry = nodes.map((node) => node.connectAnotherClient());
    const once = new Redlock(singleTry, { clock, retryCount: 0 }).semaphore('jobs', { limit: 3 }).acquire(10_000, { permits: 2 });
    await expect(clock.runUntilSettled(once)).rejects.toMatchObject({ reason: 'no-permits-free' });
    await clock.advance(10);
    expect(singleTry.map((node) => node.callsTo('permit-release').length)).toEqual([0, 0, 0]);
    const one = await clock.runUntilSettled(client().acquire(10_000));
    const waitingForOne = client().acquire(10_000, { waitMs: 250 });
    await expect(clock.runUntilSettled(waitingForOne)).rejects.toMatchObject({ reason: 'no-permits-free', waitMs: 250 });
    expect(fieldsOn().every((fields) => !fields.includes('i'))).toBe(true);
    await clock.runUntilSettled(one.release());
    await expect(clock.runUntilSettled(client().acquire(10_000, { permits: 3, waitMs: 250 }))).rejects.toMatchObject({ reason: 'no-permits-free', waitMs: 250 });
    await clock.advance(10);
    expect(fieldsOn().every((fields) => !fields.includes('i'))).toBe(true);
    expect((await clock.runUntilSettled(client().tryAcquire(10_000)))?.state).toBe('held');
    await clock.runUntilSettled(Promise.all(holders.map((held) => held.release())));
  });

  it('withdraws the intent a slow node leaves after the request gave up, when its call was re-sent after a NOSCRIPT', async () => {
    const { clock, nodes, holders, fieldsOn } = await twoHeld();
    const waiterNodes = nodes.map((node) => node.connectAnotherClient());
    const waiter = new Redlock(waiterNodes, { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0 }).semaphore('jobs', { limit: 3 });
    // A first try caches the acquire script on every node for this client, so its next calls go by EVALSHA.
    expect(await clock.runUntilSettled(waiter.tryAcquire(10_000, { permits: 3 }))).toBeUndefined();
    // Node 2 then loses its scripts (a SCRIPT FLUSH) and holds this client's calls until resumed.
    nodes[2]?.keyspace.scripts.clear();
    waiterNodes[2]?.hang();
    await expect(clock.runUntilSettled(waiter.acquire(10_000, { permits: 3, waitMs: 300 }))).rejects.toMatchObject({ reason: 'no-permits-free' });
    // Node 2 now answers NOSCRIPT to the held calls, after it ran the give-up's withdrawal; their re-sent
    // scripts find too few free and leave the intent, and their late answers have it withdrawn.
    waiterNodes[2]?.resume();
    await clock.advance(100);
    expect(fieldsOn().map((fields) => fields.includes('i'))).toEqual([false, false, false]);
    await clock.runUntilSettled(Promise.all(holders.map((held) => held.release())));
  });

  // Four other processes take 1 permit of 3 for 40 ms in turns, back to back, on nodes that announce releases:
  // 3 free permits at once were never seen without the waiter's intent.
  it('gets 3 of 3 permits within 3 s', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const sleep = (ms: number) => new Promise((resolve) => clock.setTimeout(() => resolve(undefined), ms));
    let isStopped = false;
    const holderLoop = async (startMs: number) => {
      const semaphore = new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock }).semaphore('jobs', { limit: 3 });
      await sleep(startMs);
      while (!isStopped) {
        const permit = await semaphore.acquire(10_000, { retryCount: Infinity }).catch(() => undefined);
        if (permit === undefined) continue;
        await sleep(40);
        await permit.release();
      }
    };
    const loops = [0, 10, 20, 30].map(holderLoop);
    await clock.advance(200);
    const semaphore = new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock }).semaphore('jobs', { limit: 3 });
    const startedAt = clock.now();
    let tookMs: number | undefined;
    const acquiring = semaphore.acquire(10_000, { permits: 3, waitMs: 10_000 }).then((permit) => ((tookMs = clock.now() - startedAt), permit));
    const permit = await clock.runUntilSettled(acquiring.catch((error: unknown) => error));
    isStopped = true;
    expect(permit).not.toBeInstanceOf(PermitError);
    expect(tookMs).toBeLessThan(3_000);
    await clock.runUntilSettled((permit as Permit).release());
    await clock.runUntilSettled(Promise.all(loops));
  });
});
