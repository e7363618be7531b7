import { describe, expect, it } from '@jest/globals';
import { ClaimError, LockLostError, PermitError, ReadWriteHandle, ReadWriteLockError, Redlock, RedlockClosedError } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNodes } from '../../src/testing/fake-nodes.js';
import { pubSubNode } from '../support/fake-pubsub.js';

// A read-write lock's bad inputs (typed errors before any node call), and its rules on the fake nodes of
// `redlock-core/testing`: readers share, a writer is alone, a waiting writer stops new readers, and a
// resource means one thing. Real nodes: the adapters' read-write tests; faults: simulation-read-write.test.ts.

const loose = <T>(value: unknown): T => value as T;

/** A read-write lock on 3 fake nodes, and a way to make other clients of the same nodes. */
function setup(options: { retryCount?: number; retryDelayMs?: number } = {}) {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, 3);
  const client = (more: { retryCount?: number; retryDelayMs?: number; waitMs?: number } = {}) =>
    new Redlock(
      nodes.map((node) => node.connectAnotherClient()),
      { clock, retryJitterMs: 0, ...options, ...more },
    );
  return { clock, nodes, client, lock: client().readWriteLock('catalog') };
}

/** The fields of the lock's hash on each node. */
const fieldsOn = (nodes: ReturnType<typeof setup>['nodes']) => nodes.map((node) => [...(node.keyspace.hashOf('catalog')?.keys() ?? [])].sort());

describe("a read-write lock's arguments", () => {
  it.each<[string, () => Promise<unknown>, ErrorConstructor, RegExp]>([
    ['a TTL in seconds', () => setup().lock.acquireRead(10), RangeError, /did you mean 10_000/],
    ['a NaN TTL', () => setup().lock.acquireWrite(Number.NaN), RangeError, /`ttlMs`.*got `NaN`/],
    ["a semaphore's option", () => setup().lock.acquireWrite(10_000, loose({ permits: 2 })), TypeError, /`permits` is an option of/],
    ['a lock-only option', () => setup().lock.acquireRead(10_000, loose({ fencing: true })), TypeError, /`fencing` is an option of/],
    ['a retry option on a single try', () => setup().lock.tryAcquireWrite(10_000, loose({ retryCount: 3 })), TypeError, /exactly one attempt.*`acquireRead\(\)` or `acquireWrite\(\)`/],
    ['maxExtensions without autoExtend', () => setup().lock.acquireRead(10_000, { maxExtensions: 2 }), TypeError, /`autoExtend: true` with `maxExtensions`/],
    ['a routine that is not a function', () => setup().lock.usingWrite(10_000, loose('rebuild')), TypeError, /`routine` to be a function/],
  ])('refuses %s before any node call', async (_, call, type, message) => {
    await expect(call()).rejects.toThrow(type);
    await expect(call()).rejects.toThrow(message);
  });

  it('calls no node for a bad argument, and refuses a bad resource at once', async () => {
    const { nodes, lock, client } = setup();
    await expect(lock.acquireRead(10)).rejects.toThrow(RangeError);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
    expect(() => client().readWriteLock(loose(['a', 'b']))).toThrow(/`resource` to be a string/);
    expect(() => client().readWriteLock('')).toThrow(RangeError);
  });

  it('rejects with a RedlockClosedError once the Redlock is closed, before any node call', async () => {
    const { clock, client } = setup();
    const redlock = client();
    await clock.runUntilSettled(redlock.close());
    await expect(redlock.readWriteLock('catalog').acquireWrite(10_000)).rejects.toBeInstanceOf(RedlockClosedError);
  });
});

describe("a read-write lock's failed attempt", () => {
  it('ends a single try once the refusals settle it, as a lock does, and sends the cleanup to the silent node at its timeout', async () => {
    const { clock, nodes, lock } = setup();
    const reader = await clock.runUntilSettled(lock.acquireRead(60_000));
    const connections = nodes.map((node) => node.connectAnotherClient());
    connections[2]!.hang();
    const writer = new Redlock(connections, { clock, nodeTimeoutMs: 100 }).readWriteLock('catalog');
    // Readers hold it on nodes 0 and 1, no answer from node 2: the try ends at once; node 2 is cleaned up at its timeout, once.
    await expect(clock.runUntilSettled(writer.tryAcquireWrite(10_000))).resolves.toBeUndefined();
    expect(clock.now()).toBe(0);
    expect(connections[2]!.callsTo('permit-release')).toHaveLength(0);
    await clock.advance(100);
    expect(connections[2]!.callsTo('permit-release')).toHaveLength(1);
    connections[2]!.resume();
    await clock.runUntilSettled(reader.release());
  });
});

describe("a read-write lock's wait", () => {
  it('retries until waitMs when no retryCount is given, and says how to wait longer when its default retries ran out', async () => {
    const { clock, client } = setup({ retryDelayMs: 100 });
    const writer = await clock.runUntilSettled(client().readWriteLock('catalog').acquireWrite(60_000));
    // 10 retries take 1 s at this pace: the wait goes on to 5.5 s.
    const waited = await clock.runUntilSettled(client().readWriteLock('catalog').acquireRead(10_000, { waitMs: 5_500 })).catch((failure: unknown) => failure);
    expect(waited).toMatchObject({ reason: 'locked', waitMs: 5_500 });
    // It says how many attempts it made, and that it kept 11 of them, as a lock's error does.
    expect((waited as ReadWriteLockError).attempts).toHaveLength(11);
    expect((waited as ReadWriteLockError).message).toMatch(new RegExp(`^Could not take the read lock on "catalog" within \`waitMs\` \\(5500 ms\\), after ${(waited as ReadWriteLockError).attemptCount} attempts \\(the error keeps the first and the latest 10\\): `));
    expect(clock.now()).toBe(5_500);
    const error = await clock.runUntilSettled(client().readWriteLock('catalog').acquireRead(10_000)).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(ReadWriteLockError);
    expect((error as ReadWriteLockError).message).toMatch(/ after 11 attempts: .*; its 10 retries \(the default\) ran out: give `waitMs` to wait longer$/);
    await clock.runUntilSettled(writer.release());
  });
});

describe('a read-write lock on fake nodes', () => {
  it('lets readers share it and keeps a writer alone, each way round', async () => {
    const { clock, lock, client } = setup({ retryCount: 0 });
    const readers = [await clock.runUntilSettled(lock.acquireRead(10_000)), await clock.runUntilSettled(client().readWriteLock('catalog').acquireRead(10_000))];
    expect(readers.map((reader) => [reader.mode, reader.state])).toEqual([
      ['read', 'held'],
      ['read', 'held'],
    ]);
    const other = client().readWriteLock('catalog');
    expect(await clock.runUntilSettled(other.tryAcquireWrite(10_000))).toBeUndefined();
    await expect(clock.runUntilSettled(other.acquireWrite(10_000))).rejects.toMatchObject({ name: 'ReadWriteLockError', reason: 'locked', mode: 'write' });
    for (const reader of readers) await clock.runUntilSettled(reader.release());
    const writer = await clock.runUntilSettled(other.acquireWrite(10_000));
    expect(writer).toBeInstanceOf(ReadWriteHandle);
    expect(await clock.runUntilSettled(lock.tryAcquireRead(10_000))).toBeUndefined();
    expect(await clock.runUntilSettled(lock.tryAcquireWrite(10_000))).toBeUndefined();
    await expect(clock.runUntilSettled(lock.acquireRead(10_000))).rejects.toThrow(/Could not take the read lock on "catalog" after 1 attempt: locked \(last attempt: 3 held by a writer, quorum is 2\)/);
    await clock.runUntilSettled(writer.release());
    expect((await clock.runUntilSettled(lock.tryAcquireRead(10_000)))?.state).toBe('held');
  });

  it("frees a crashed holder's entry by the nodes' clocks, and extends only what it still holds", async () => {
    const { clock, lock, client } = setup({ retryCount: 0 });
    const writer = await clock.runUntilSettled(lock.acquireWrite(1_000));
    await clock.advance(800);
    await clock.runUntilSettled(writer.extend(1_000));
    await clock.advance(900);
    expect(await clock.runUntilSettled(client().readWriteLock('catalog').tryAcquireRead(10_000))).toBeUndefined();
    await clock.advance(200);
    expect(writer.state).toBe('expired');
    expect(() => writer.assertValid()).toThrow(/the write lock on "catalog" is expired/);
    const reader = await clock.runUntilSettled(client().readWriteLock('catalog').tryAcquireRead(10_000));
    expect(reader?.state).toBe('held');
    await expect(clock.runUntilSettled(writer.extend(1_000))).rejects.toMatchObject({ operation: 'extend', reason: 'not-held' });
  });

  it("keeps a new writer alone where a crashed writer's expired entry was left in a key that outlived it", async () => {
    const { clock, lock, client } = setup({ retryCount: Infinity, retryDelayMs: 100 });
    const reader = await clock.runUntilSettled(lock.acquireRead(10_000));
    const writing = client().readWriteLock('catalog').acquireWrite(1_000);
    await clock.advance(50);
    await clock.runUntilSettled(reader.release());
    // This writer crashes: never released, its entry expires while the readers' TTL keeps the key.
    await clock.runUntilSettled(writing);
    await clock.advance(1_100);
    const writer = await clock.runUntilSettled(client().readWriteLock('catalog').tryAcquireWrite(10_000));
    expect(writer?.state).toBe('held');
    expect(await clock.runUntilSettled(client().readWriteLock('catalog').tryAcquireRead(10_000))).toBeUndefined();
  });

  it('stops new readers while a writer waits for readers, lets those holding finish, and hands the lock to the writer', async () => {
    const { clock, nodes, lock, client } = setup({ retryCount: Infinity, retryDelayMs: 100 });
    const reader = await clock.runUntilSettled(lock.acquireRead(10_000));
    const writing = client().readWriteLock('catalog').acquireWrite(10_000);
    await clock.advance(50);
    // The writer's intent is on every node: a new reader is refused, even by a single try.
    expect(fieldsOn(nodes)).toEqual(Array.from({ length: 3 }, () => ['i', `r:${fieldsOn(nodes)[0]?.[1]?.slice(2)}`, 'rw']));
    expect(await clock.runUntilSettled(client().readWriteLock('catalog').tryAcquireRead(10_000))).toBeUndefined();
    // The reader already holding may extend and finish.
    await clock.runUntilSettled(reader.extend(10_000));
    await clock.runUntilSettled(reader.release());
    const writer = await clock.runUntilSettled(writing);
    expect([writer.mode, writer.state]).toEqual(['write', 'held']);
    // Admitted, the writer removed its intent; released, nothing is left.
    expect(fieldsOn(nodes)).toEqual(Array.from({ length: 3 }, () => ['rw', 'w']));
    await clock.runUntilSettled(writer.release());
    expect(fieldsOn(nodes)).toEqual([[], [], []]);
  });

  it('withdraws the intent of a writer that gives up, and a single try leaves none', async () => {
    const { clock, nodes, lock, client } = setup({ retryCount: Infinity, retryDelayMs: 100 });
    const reader = await clock.runUntilSettled(lock.acquireRead(10_000));
    expect(await clock.runUntilSettled(client().readWriteLock('catalog').tryAcquireWrite(10_000))).toBeUndefined();
    expect(fieldsOn(nodes).every((fields) => !fields.includes('i'))).toBe(true);
    const waiting = client().readWriteLock('catalog').acquireWrite(10_000, { waitMs: 350 });
    await expect(clock.runUntilSettled(waiting)).rejects.toMatchObject({ reason: 'locked', waitMs: 350 });
    await clock.advance(10);
    expect(fieldsOn(nodes).every((fields) => !fields.includes('i'))).toBe(true);
    expect((await clock.runUntilSettled(client().readWriteLock('catalog').tryAcquireRead(10_000)))?.state).toBe('held');
    await clock.runUntilSettled(reader.release());
  });

  it('withdraws the intent a slow node leaves after the writer gave up, when its call was re-sent after a NOSCRIPT', async () => {
    const { clock, nodes, lock } = setup();
    const reader = await clock.runUntilSettled(lock.acquireRead(10_000));
    const writerNodes = nodes.map((node) => node.connectAnotherClient());
    const writer = new Redlock(writerNodes, { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0 }).readWriteLock('catalog');
    // A first try caches the acquire script on every node for this client, so its next calls go by EVALSHA.
    expect(await clock.runUntilSettled(writer.tryAcquireWrite(10_000))).toBeUndefined();
    // Node 2 then loses its scripts (a SCRIPT FLUSH) and holds this client's calls until resumed.
    nodes[2]?.keyspace.scripts.clear();
    writerNodes[2]?.hang();
    await expect(clock.runUntilSettled(writer.acquireWrite(10_000, { waitMs: 300 }))).rejects.toMatchObject({ reason: 'locked' });
    // Node 2 now answers NOSCRIPT to the held calls, after it ran the give-up's withdrawal; their
    // re-sent scripts find the reader and leave the intent, and their late answers have it withdrawn.
    writerNodes[2]?.resume();
    await clock.advance(100);
    expect(fieldsOn(nodes).map((fields) => fields.includes('i'))).toEqual([false, false, false]);
    await clock.runUntilSettled(reader.release());
  });

  it('is a typed error at once, without retrying, where the resource is a lock or a semaphore', async () => {
    const { clock, lock, client } = setup({ retryCount: 5, retryDelayMs: 100 });
    const other = client();
    const held = await clock.runUntilSettled(other.acquire(['catalog'], 10_000));
    const error = await clock.runUntilSettled(lock.acquireWrite(10_000).catch((caught: unknown) => caught));
    expect(error).toBeInstanceOf(ReadWriteLockError);
    // One class catches the errors of both kinds of claim.
    expect(error).toBeInstanceOf(ClaimError);
    expect(error).toMatchObject({ reason: 'foreign-key', attemptCount: 1 });
    await clock.runUntilSettled(held.release());
    const reading = await clock.runUntilSettled(lock.acquireRead(10_000));
    const permitError = await clock.runUntilSettled(other.semaphore('catalog', { limit: 3 }).acquire(10_000).catch((caught: unknown) => caught));
    expect([permitError instanceof PermitError, permitError instanceof ClaimError]).toEqual([true, true]);
    await expect(clock.runUntilSettled(other.semaphore('catalog', { limit: 3 }).acquire(10_000))).rejects.toMatchObject({ reason: 'foreign-key' });
    await expect(clock.runUntilSettled(other.acquire(['catalog'], 10_000, { retryCount: 0 }))).rejects.toMatchObject({ reason: 'foreign-key' });
    await clock.runUntilSettled(reading.release());
  });

  it('counts a waiting writer only where its intent keeps readers from a quorum, not an intent left on one node', async () => {
    const { clock, nodes } = setup();
    const redlock = new Redlock(nodes, { clock, retryDelayMs: 100 });
    const reader = await clock.runUntilSettled(redlock.readWriteLock('catalog').acquireRead(60_000));
    // The reader's entry is left on node 2 alone, as a cleanup that never reached it would leave it.
    for (const node of nodes.slice(0, 2)) {
      const hash = node.keyspace.hashOf('catalog');
      for (const field of [...(hash?.keys() ?? [])]) if (field.startsWith('r:')) hash?.delete(field);
    }
    const writer = await clock.runUntilSettled(redlock.readWriteLock('catalog').acquireWrite(60_000));
    // Its first attempt left its intent on node 2, where the reader's entry refused it.
    expect(fieldsOn(nodes).map((fields) => fields.includes('i'))).toEqual([false, false, true]);
    expect(await clock.runUntilSettled(redlock.readWriteLock('catalog').inspect())).toMatchObject({ isWriteLocked: true, readers: 0, isWriterWaiting: false });
    await clock.runUntilSettled(writer.release());
  });

  it('inspects readers, a writer and a waiting writer by the quorum, without a token', async () => {
    const { clock, nodes, lock, client } = setup({ retryCount: Infinity, retryDelayMs: 100 });
    expect(await clock.runUntilSettled(lock.inspect())).toMatchObject({ isWriteLocked: false, readers: 0, isWriterWaiting: false });
    const readers = [await clock.runUntilSettled(lock.acquireRead(10_000)), await clock.runUntilSettled(lock.acquireRead(10_000))];
    const writing = client().readWriteLock('catalog').acquireWrite(10_000);
    await clock.advance(50);
    const seen = await clock.runUntilSettled(lock.inspect());
    expect(seen).toMatchObject({ resource: 'catalog', isWriteLocked: false, readers: 2, isWriterWaiting: true });
    expect(JSON.stringify(seen)).not.toMatch(/[0-9a-f]{20}/);
    for (const reader of readers) await clock.runUntilSettled(reader.release());
    const writer = await clock.runUntilSettled(writing);
    expect(await clock.runUntilSettled(lock.inspect())).toMatchObject({ isWriteLocked: true, readers: 0, isWriterWaiting: false });
    const inspector = new Redlock(nodes, { clock });
    nodes[0]?.hang();
    nodes[1]?.hang();
    await expect(clock.runUntilSettled(inspector.readWriteLock('catalog').inspect())).rejects.toMatchObject({ operation: 'inspect', reason: 'nodes-unreachable' });
    nodes[0]?.resume();
    nodes[1]?.resume();
    await clock.runUntilSettled(writer.release());
  });

  it("keeps the lock extended under using*() while the routine runs past its TTL, and releases it at the end", async () => {
    const { clock, nodes, lock } = setup();
    let finish: () => void = () => undefined;
    let signal: AbortSignal | undefined;
    const running = lock.usingWrite(1_000, (routineSignal) => {
      signal = routineSignal;
      return new Promise<string>((resolve) => (finish = () => resolve('rebuilt')));
    });
    await clock.advance(3_500);
    expect(signal?.aborted).toBe(false);
    expect(fieldsOn(nodes)).toEqual(Array.from({ length: 3 }, () => ['rw', 'w']));
    finish();
    expect(await clock.runUntilSettled(running)).toBe('rebuilt');
    expect(fieldsOn(nodes)).toEqual([[], [], []]);
    expect(await clock.runUntilSettled(lock.usingRead(1_000, () => 'read'))).toBe('read');
  });

  it('rejects under using*() with LockLostError when the routine released the lock itself only after it expired', async () => {
    const { clock, lock } = setup();
    const running = lock.usingWrite(1_000, async (_, held) => {
      clock.stall(1_500);
      await held.release();
      return 'rebuilt';
    });
    const error = await clock.runUntilSettled(running).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ result: 'rebuilt', cause: { message: 'the write lock on "catalog" was expired when released' } });
  });
});

describe('close() while a read-write acquisition runs', () => {
  it("withdraws a waiting writer's intent before close() resolves", async () => {
    const { clock, nodes, lock } = setup();
    const reader = await clock.runUntilSettled(lock.acquireRead(60_000));
    const writerNodes = nodes.map((node) => node.connectAnotherClient());
    for (const node of writerNodes) node.latencyMs = 30;
    const writerRedlock = new Redlock(writerNodes, { clock, retryCount: Infinity, retryDelayMs: 100, retryJitterMs: 0 });
    const writing = writerRedlock.readWriteLock('catalog').acquireWrite(60_000);
    void writing.catch(() => undefined);
    // Its intent is on every node, and its second attempt in flight.
    await clock.advance(150);
    expect(fieldsOn(nodes).map((fields) => fields.includes('i'))).toEqual([true, true, true]);
    let intentAtClose: boolean[] | undefined;
    await clock.runUntilSettled(writerRedlock.close().then(() => (intentAtClose = fieldsOn(nodes).map((fields) => fields.includes('i')))));
    await expect(writing).rejects.toBeInstanceOf(RedlockClosedError);
    expect(intentAtClose).toEqual([false, false, false]);
    await clock.runUntilSettled(reader.release());
  });

  it('never hands out a lock a single try took after close(), which releases it', async () => {
    const { clock, nodes } = setup();
    const tryingNodes = nodes.map((node) => node.connectAnotherClient());
    for (const node of tryingNodes) node.latencyMs = 30;
    const redlock = new Redlock(tryingNodes, { clock });
    const trying = redlock.readWriteLock('catalog').tryAcquireWrite(10_000);
    void trying.catch(() => undefined);
    await clock.advance(5);
    let fieldsAtClose: string[][] | undefined;
    await clock.runUntilSettled(redlock.close().then(() => (fieldsAtClose = fieldsOn(nodes))));
    await expect(trying).rejects.toBeInstanceOf(RedlockClosedError);
    expect(fieldsAtClose).toEqual([[], [], []]);
  });

  it('sends nothing for a signal aborted already', async () => {
    const { clock, nodes } = setup();
    const lock = new Redlock(nodes, { clock }).readWriteLock('catalog');
    const reason = new Error('shutting down');
    await expect(clock.runUntilSettled(lock.acquireWrite(10_000, { signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
    await expect(clock.runUntilSettled(lock.usingRead(10_000, () => 1, { signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});

describe('a writer behind a stream of readers', () => {
  // Four readers in turn, each holding 150 ms, overlapping: the lock is never free of readers by itself.
  it.each([1_000, 100])('gets the lock with a TTL of %i ms (the 100 ms one shorter than its retry delay)', async (ttlMs) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = new Redlock(nodes, { clock, retryJitterMs: 0 }).readWriteLock('catalog');
    const sleep = (ms: number) => new Promise((resolve) => clock.setTimeout(() => resolve(undefined), ms));
    let isStopped = false;
    const readerLoop = async (startMs: number) => {
      await sleep(startMs);
      while (!isStopped) {
        const held = await lock.acquireRead(10_000, { retryCount: Infinity, retryDelayMs: 20 }).catch(() => undefined);
        if (held === undefined) continue;
        await sleep(150);
        await held.release();
        await sleep(10);
      }
    };
    const loops = [0, 40, 80, 120].map(readerLoop);
    await clock.advance(300);
    const writing = lock.acquireWrite(ttlMs, { waitMs: 10_000, retryCount: Infinity, retryDelayMs: 200 });
    const writer = await clock.runUntilSettled(writing);
    isStopped = true;
    expect(writer.attempts).toBeLessThanOrEqual(3);
    await clock.runUntilSettled(writer.release());
    await clock.runUntilSettled(Promise.all(loops));
  });
});

describe("a read-write lock's woken attempt", () => {
  it('asks no other node once its signal aborted while the node that woke it had not answered', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    await clock.runUntilSettled(new Redlock(nodes, { clock }).readWriteLock('catalog').acquireWrite(10_000));
    const connections = nodes.map((node) => node.connectAnotherClient());
    const controller = new AbortController();
    const waiting = new Redlock(connections, { clock, retryDelayMs: 5_000, retryJitterMs: 0 }).readWriteLock('catalog').acquireRead(10_000, { signal: controller.signal });
    void waiting.catch(() => undefined);
    await clock.advance(50);
    const before = connections.map((connection) => connection.callsTo('read-write-acquire').length);
    connections[2]!.hang();
    // A wake from node 2 (forged: the write lock is still held), on the channel the waiter listens to there.
    nodes[2]!.publish(connections[2]!.subscribeCalls[0]!);
    await clock.advance(10);
    controller.abort(new Error('stop'));
    await clock.advance(2_000);
    await expect(waiting).rejects.toThrow('stop');
    expect(connections.map((connection, nodeIndex) => connection.callsTo('read-write-acquire').length - before[nodeIndex]!)).toEqual([0, 0, 1, 0, 0]);
  });

  it('wakes every waiting process at a release: the readers among them all get in', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 3 }, () => pubSubNode(clock));
    const writer = await clock.runUntilSettled(new Redlock(nodes, { clock }).readWriteLock('catalog').acquireWrite(10_000));
    // Three reading processes wait, 5 s between timed retries: only wakes can let them in within a second.
    const readers = [0, 1, 2].map(() =>
      new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryDelayMs: 5_000, retryJitterMs: 0 }).readWriteLock('catalog').acquireRead(10_000),
    );
    await clock.advance(50);
    // Queued by their looks, on the node each subscribed first.
    expect(nodes.map((node) => node.queueOf('catalog').length)).toEqual([3, 0, 0]);
    const startedAt = clock.now();
    await clock.runUntilSettled(writer.release());
    const held = await clock.runUntilSettled(Promise.all(readers));
    expect(clock.now() - startedAt).toBeLessThan(1_000);
    expect(held.map((reader) => reader.state)).toEqual(['held', 'held', 'held']);
    expect(nodes.map((node) => node.queueOf('catalog').length)).toEqual([0, 0, 0]);
  });

  it('asks only the other nodes once the node that woke it admitted it: its answer counts in the vote', async () => {
    const clock = new FakeClock();
    const nodes = Array.from({ length: 5 }, () => pubSubNode(clock));
    const held = await clock.runUntilSettled(new Redlock(nodes, { clock }).readWriteLock('catalog').acquireWrite(10_000));
    const connections = nodes.map((node) => node.connectAnotherClient());
    const waiting = new Redlock(connections, { clock, retryDelayMs: 5_000, retryJitterMs: 0 }).readWriteLock('catalog').acquireRead(10_000);
    await clock.advance(50);
    const before = connections.map((connection) => connection.callsTo('read-write-acquire').length);
    await clock.runUntilSettled(held.release());
    const reader = await clock.runUntilSettled(waiting);
    expect(connections.map((connection, nodeIndex) => connection.callsTo('read-write-acquire').length - before[nodeIndex]!)).toEqual([1, 1, 1, 1, 1]);
    expect(reader.state).toBe('held');
    expect(nodes.every((node) => node.keyspace.peek('catalog') !== undefined)).toBe(true);
    await clock.runUntilSettled(reader.release());
    expect(nodes.map((node) => node.keyspace.peek('catalog'))).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});
