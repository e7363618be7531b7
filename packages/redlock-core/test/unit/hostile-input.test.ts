import { describe, expect, it } from '@jest/globals';
import { Lock, LockAcquireError, MAX_TTL_MS, NodeError, type RedisAdapter, Redlock, RedlockError } from '../../src/index.js';
import { acquireScript } from '../../src/scripts/acquire.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeNode } from '../../src/testing/fake-adapter.js';
import { failingNode, grantingNode, grantingNodes, keysOf } from '../../src/testing/fake-nodes.js';

// Inputs a careless or hostile caller, adapter or node can produce. Each gets a clear typed error or the
// right behaviour, and no key is left behind. (Ordinary bad arguments are in validation.test.ts.)

const loose = <T>(value: unknown): T => value as T;

function setup(nodeCount = 3) {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, nodeCount);
  return { clock, nodes, redlock: new Redlock(nodes, { clock, retryCount: 0, keyPrefix: 'lock:' }) };
}

/** Acquires and releases `resources`, checking the keys each node held in between. */
async function roundTrip(resources: readonly string[]): Promise<{ keysWhileHeld: string[][]; lock: Lock }> {
  const { clock, nodes, redlock } = setup();
  const lock = await clock.runUntilSettled(redlock.acquire(resources, 10_000));
  const keysWhileHeld = nodes.map((node) => keysOf(node).sort());
  for (const node of nodes) for (const resource of resources) expect(node.keyspace.get(`lock:${resource}`)).toBe(lock.token);
  const released = await clock.runUntilSettled(lock.release());
  expect(released.releasedCount).toBe(3);
  expect(nodes.flatMap(keysOf)).toEqual([]);
  return { keysWhileHeld, lock };
}

describe('hostile resource names', () => {
  it.each<[string, string[]]>([
    ['very long (1 MB)', ['x'.repeat(1024 * 1024)]],
    ['unicode (emoji, right-to-left, combining marks)', ['訂單:42', '🔒:🗝️', 'שלום', 'e\u0301']],
    ['binary-looking (NUL, CR LF, 0xFF, RESP markers)', ['\u0000', '\r\n*1\r\n$4\r\nPING\r\n', '\u00ff\u00fe', '-ERR', '$-1']],
    ['the key prefix inside the name', ['lock:orders', 'lock:lock:orders']],
    ['glob and hash-tag characters', ['*', '?', '[a-z]', '{orders}:42']],
    ['unicode lookalikes that normalise alike (NFC and NFD "é")', ['\u00e9', 'e\u0301']],
  ])('locks and releases names that are %s, one key each, exactly prefix + name', async (_, resources) => {
    const { keysWhileHeld, lock } = await roundTrip(resources);
    expect(lock.resources).toEqual(resources);
    for (const keys of keysWhileHeld) expect(keys).toEqual(resources.map((resource) => `lock:${resource}`).sort());
  });

  it('keeps messages short for a 1 MB name', async () => {
    const clock = new FakeClock();
    const nodes = [failingNode(clock), failingNode(clock), grantingNode(clock)];
    const name = 'y'.repeat(1024 * 1024);
    const error = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire(name, 1000)).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as Error).message.length).toBeLessThan(300);
    expect((error as LockAcquireError).resources).toEqual([name]);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it.each<[string, unknown, ErrorConstructor]>([
    ['an empty name', '', RangeError],
    ['a duplicate', ['a', 'b', 'a'], RangeError],
    ['a duplicate 1 MB name', ['z'.repeat(1024 * 1024), 'z'.repeat(1024 * 1024)], RangeError],
    ['a String object', new String('a'), TypeError],
    ['a sparse array', [, 'a'], TypeError],
    ['a Symbol', Symbol('a'), TypeError],
  ])('rejects %s before any node is called', async (_, resources, type) => {
    const { nodes, redlock } = setup();
    await expect(redlock.acquire(loose(resources), 1000)).rejects.toBeInstanceOf(type);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});

describe('hostile TTLs', () => {
  it.each<[string, unknown, ErrorConstructor]>([
    ['negative zero', -0, RangeError],
    ['the smallest positive number', Number.MIN_VALUE, RangeError],
    ['2^31', 2 ** 31, RangeError],
    ['MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER, RangeError],
    ['a BigInt', 1000n, TypeError],
    ['a Number object', new Number(1000), TypeError],
    ['a numeric string', '1000', TypeError],
    ['null', null, TypeError],
  ])('rejects a TTL that is %s, for acquire, using and extend, before any node is called', async (_, ttlMs, type) => {
    const { clock, nodes, redlock } = setup();
    await expect(redlock.acquire('r', loose(ttlMs))).rejects.toBeInstanceOf(type);
    await expect(redlock.using('r', loose(ttlMs), () => undefined)).rejects.toBeInstanceOf(type);
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    await expect(lock.extend(loose(ttlMs))).rejects.toBeInstanceOf(type);
    expect(nodes.flatMap((node) => node.callsTo('extend'))).toEqual([]);
    await clock.runUntilSettled(lock.release());
  });

  it('accepts the largest TTL, 2^31 − 1 ms, and sends it to Redis as an integer string', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('r', MAX_TTL_MS));
    expect(nodes[0]?.callsTo('acquire')[0]?.args[1]).toBe('2147483647');
    expect(nodes[0]?.keyspace.pttl('lock:r')).toBe(MAX_TTL_MS);
    await clock.runUntilSettled(lock.release());
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });
});

describe('hostile options', () => {
  it('reads each option once, so a getter that changes its answer cannot slip a value past validation', () => {
    const clock = new FakeClock();
    let reads = 0;
    const options = {
      clock,
      get retryCount() {
        reads += 1;
        return reads === 1 ? 2 : -1;
      },
    };
    expect(() => new Redlock(grantingNodes(clock, 3), options)).not.toThrow();
    expect(reads).toBe(1);
  });

  it.each<[string, unknown]>([
    ['a Map', new Map([['retryCount', 1]])],
    ['a function', () => ({})],
    ['a string', 'retryCount=1'],
    ['a Date', new Date(0)],
  ])('treats options that are %s as a TypeError or as an object without known keys', (_, options) => {
    const clock = new FakeClock();
    let outcome: unknown;
    try {
      outcome = new Redlock(grantingNodes(clock, 3), loose(options));
    } catch (error) {
      outcome = error;
    }
    expect(outcome instanceof Redlock || outcome instanceof TypeError).toBe(true);
  });

  it('rejects a clock whose methods are not functions, naming `clock`', () => {
    const clock = { now: 1, wallNow: () => 0, setTimeout: () => 0, clearTimeout: () => undefined };
    expect(() => new Redlock(grantingNodes(new FakeClock(), 3), loose({ clock }))).toThrow(/`clock`/);
  });
});

/** Acquires "r" for 1 s and returns the LockAcquireError it must reject with. */
async function acquireError(clock: FakeClock, redlock: Redlock): Promise<LockAcquireError> {
  const error = await clock.runUntilSettled(redlock.acquire('r', 1000)).catch((failure: unknown) => failure);
  expect(error).toBeInstanceOf(LockAcquireError);
  return error as LockAcquireError;
}

/** An adapter built from two functions, for replies and failures no real node produces. */
function adapterOf(reply: () => unknown): RedisAdapter {
  return loose({ evalsha: reply, eval: reply });
}

describe('hostile adapters', () => {
  it.each<[string, unknown]>([
    ['the string "1"', '1'],
    ['true', true],
    ['the BigInt 1n', 1n],
    ['NaN', Number.NaN],
    ['an empty object', {}],
    ['an array [1]', [1]],
    ['null', null],
    ['undefined', undefined],
    ['-3', -3],
    ['2', 2],
    ['a Symbol', Symbol('1')],
    ['an object whose toJSON and toString throw', { toJSON: () => { throw new Error('toJSON'); }, toString: () => { throw new Error('toString'); } }],
  ])('reports an acquire reply of %s as a NodeError, never as a grant', async (_, reply) => {
    const clock = new FakeClock();
    const nodes = [adapterOf(() => Promise.resolve(reply)), adapterOf(() => Promise.resolve(reply)), grantingNode(clock)];
    const error = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000)).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    const acquireError = error as LockAcquireError;
    expect(acquireError.reason).toBe('nodes-unreachable');
    expect(acquireError.nodeErrors.map((nodeError) => nodeError.nodeIndex)).toEqual([0, 1]);
    expect(acquireError.nodeErrors.every((nodeError) => nodeError instanceof NodeError)).toBe(true);
    expect(keysOf(nodes[2] as FakeNode)).toEqual([]);
  });

  it.each<[string, () => unknown]>([
    ['throws synchronously', () => { throw new Error('adapter bug'); }],
    ['throws a non-Error synchronously', () => { throw 'a string'; }],
    ['rejects with undefined', () => Promise.reject(undefined)],
    ['rejects with a plain object', () => Promise.reject({ code: 'EWHATEVER' })],
    ['returns a value instead of a promise', () => 'OK'],
    ['returns a thenable that throws', () => ({ then: () => { throw new Error('thenable'); } })],
  ])('turns an adapter that %s into a NodeError and still acquires on the other nodes', async (_, reply) => {
    const clock = new FakeClock();
    const healthy = grantingNodes(clock, 2);
    const lock = await clock.runUntilSettled(new Redlock([adapterOf(reply), ...healthy], { clock, retryCount: 0 }).acquire('r', 1000));
    expect(lock.state).toBe('held');
    const released = await clock.runUntilSettled(lock.release());
    expect(released.nodes[0]?.status).toBe('error');
    expect(released.nodes[0] && 'error' in released.nodes[0] ? released.nodes[0].error : undefined).toBeInstanceOf(NodeError);
    expect(healthy.flatMap(keysOf)).toEqual([]);
  });

  it('ends an attempt on an adapter that never settles, after the node timeout, with no key left', async () => {
    const clock = new FakeClock();
    const healthy = grantingNode(clock);
    const nodes = [adapterOf(() => new Promise(() => undefined)), adapterOf(() => new Promise(() => undefined)), healthy];
    const redlock = new Redlock(nodes, { clock, retryCount: 1, retryDelayMs: 10, retryJitterMs: 0 });
    const error = await clock.runUntilSettled(redlock.acquire('r', 1000)).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).nodeErrors.every((nodeError) => nodeError.isTimeout)).toBe(true);
    // Nodes never heard from wait the longest node timeout, 100 ms for a 1 s TTL. Per attempt: 100 ms until
    // the acquire times out (its cleanup there is sent, not waited for); 10 ms between.
    expect(clock.now()).toBe(210);
    expect(keysOf(healthy)).toEqual([]);
  });

  it('does not loop when EVAL answers NOSCRIPT too', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const noScript = adapterOf(() => {
      calls += 1;
      return Promise.reject(new Error('NOSCRIPT No matching script. Please use EVAL.'));
    });
    const lock = await clock.runUntilSettled(new Redlock([noScript, ...grantingNodes(clock, 2)], { clock, retryCount: 0 }).acquire('r', 1000));
    expect(calls).toBe(2); // EVALSHA, then one EVAL
    await clock.runUntilSettled(lock.release());
  });

  it('reports a 1 MB error message from a node without copying it into the acquire error message', async () => {
    const clock = new FakeClock();
    const huge = new Error(`ERR ${'x'.repeat(1024 * 1024)}`);
    const nodes = [failingNode(clock, huge), failingNode(clock, huge), grantingNode(clock)];
    const error = await acquireError(clock, new Redlock(nodes, { clock, retryCount: 0 }));
    expect(error.message.length).toBeLessThan(300);
    expect(error.nodeErrors[0]?.cause).toBe(huge);
  });
});

describe('nodes that answer with a Redis error', () => {
  it.each([
    'OOM command not allowed when used memory > \'maxmemory\'.',
    'READONLY You can\'t write against a read only replica.',
    'WRONGTYPE Operation against a key holding the wrong kind of value',
    'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.',
    'LOADING Redis is loading the dataset in memory',
    'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to \'no\'.',
    // CROSSSLOT, MOVED, NOPERM and NOAUTH are setup mistakes, not outages: see misconfigured-nodes.test.ts.
  ])('keeps "%s" from a minority as a NodeError with the reply as cause, and fails cleanly on a majority', async (message) => {
    const clock = new FakeClock();
    const reply = new Error(message);
    const minority = [failingNode(clock, reply), ...grantingNodes(clock, 2)];
    const lock = await clock.runUntilSettled(new Redlock(minority, { clock, retryCount: 0 }).acquire('r', 1000));
    await clock.runUntilSettled(lock.release());
    expect(minority.flatMap(keysOf)).toEqual([]);

    const majority = [failingNode(clock, reply), failingNode(clock, reply), grantingNode(clock)];
    const error = await acquireError(clock, new Redlock(majority, { clock, retryCount: 0 }));
    expect(error).toBeInstanceOf(RedlockError);
    expect(error.reason).toBe('nodes-unreachable');
    expect(error.nodeErrors.map((nodeError) => nodeError.cause)).toEqual([reply, reply]);
    expect(majority.flatMap(keysOf)).toEqual([]);
  });

  it('falls back to EVAL on NOSCRIPT after a script flush, for every operation', async () => {
    const { clock, nodes, redlock } = setup();
    // Every script runs once, so that each node is known to have them all cached.
    const warm = await clock.runUntilSettled(redlock.acquire('warm', 1000));
    await clock.runUntilSettled(warm.extend(1000));
    await clock.runUntilSettled(warm.release());
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    for (const node of nodes) node.keyspace.flushScripts();
    await clock.runUntilSettled(lock.extend(1000));
    for (const node of nodes) node.keyspace.flushScripts();
    expect((await clock.runUntilSettled(lock.release())).releasedCount).toBe(3);
    for (const node of nodes) {
      // After NOSCRIPT the node counts as having lost every script: the release goes by EVAL at once.
      expect(node.calls.slice(-4).map((call) => `${call.method} ${call.script}`)).toEqual([
        'set acquire',
        'evalsha extend',
        'eval extend',
        'eval release',
      ]);
    }
  });

  it('treats a resource key held as another type as a foreign key, leaving it untouched', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    // A hash at the key: the acquire script's GET fails on it, so it refuses without touching it.
    for (const node of nodes) node.keyspace.setOfType('r', 'hash');
    const error = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000)).catch((failure: unknown) => failure);
    expect((error as LockAcquireError).reason).toBe('foreign-key');
    for (const node of nodes) expect(node.keyspace.typeOf('r')).toBe('hash');
    expect(nodes[0]?.callsTo('acquire')[0]?.script).toBe(acquireScript.name);
  });
});

describe('a FakeNode connection of another client', () => {
  it('sees the lock of the first client as held', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    const other = new Redlock(
      nodes.map((node) => node.connectAnotherClient()),
      { clock, retryCount: 0, keyPrefix: 'lock:' },
    );
    await expect(clock.runUntilSettled(other.acquire('r', 1000))).rejects.toBeInstanceOf(LockAcquireError);
    await clock.runUntilSettled(lock.release());
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(nodes[0]).toBeInstanceOf(FakeNode);
  });
});
