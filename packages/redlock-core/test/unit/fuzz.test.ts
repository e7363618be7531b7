import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { Lock, LockAcquireError, LockExtendError, MAX_TTL_MS, NodeError, type RedisAdapter, Redlock } from '../../src/index.js';
import { parseAcquireReply } from '../../src/scripts/acquire.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNode, grantingNodes, keysOf } from '../../src/testing/fake-nodes.js';
import { simulationParameters } from '../support/simulation/run-parameters.js';

// Fuzzes the public API with fast-check, a bounded number of runs (SIM_RUNS raises it, SIM_SEED replays
// a failure). Whatever comes in, the API throws or rejects with a TypeError or RangeError before calling
// any node, or works; nothing else escapes, nothing hangs, and no key is left behind.

const RUNS = 200;
const loose = <T>(value: unknown): T => value as T;

/** Whether `error` is the kind of error a caller's mistake must produce. */
const isArgumentError = (error: unknown): boolean => error instanceof TypeError || error instanceof RangeError;

/** Settles `promise` on the fake clock and tells how it ended, or that it threw before returning one. */
async function outcomeOf<T>(clock: FakeClock, run: () => Promise<T>): Promise<{ value: T } | { error: unknown }> {
  let pending: Promise<T>;
  try {
    pending = run();
  } catch (error) {
    throw new Error(`Threw synchronously instead of rejecting: ${String(error)}`);
  }
  return clock.runUntilSettled(pending, 60_000).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/** Any value, including the shapes options and resources are made of. */
const anyValue = fc.oneof(
  fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, MAX_TTL_MS, MAX_TTL_MS + 1, 0.5, -1, '', 'r', () => 1),
);

/** Options objects mixing known keys with any values, so the validation of every key is exercised. */
const anyOptions = fc.oneof(
  anyValue,
  fc.record(
    {
      driftFactor: anyValue,
      retryCount: anyValue,
      retryDelayMs: anyValue,
      retryJitterMs: anyValue,
      nodeTimeoutMs: anyValue,
      keyPrefix: anyValue,
      signal: anyValue,
    },
    { requiredKeys: [] },
  ),
);

/** `{ adapter, timeoutMs }` with any timeout; the adapter is filled in by the property. */
const nodeWithOptions = fc.record({ adapter: fc.constant('node'), timeoutMs: anyValue });
const isNodeWithOptions = (entry: unknown): entry is { adapter: 'node' } =>
  typeof entry === 'object' && entry !== null && (entry as { adapter?: unknown }).adapter === 'node';

/** Resource names as a user could write them: any unicode, control characters, long. */
const resourceName = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  fc.string({ minLength: 1, maxLength: 5000 }),
);

/** Resources as anything: one name, several, or a value of any type. */
const anyResources = fc.oneof(anyValue, resourceName, fc.array(resourceName, { maxLength: 4 }));

describe('fuzzing the public API', () => {
  // Nodes that answer the probe script with noise get a RedlockWarning each, and a TTL under a second
  // (`shortTtlMs`) gets one: expected here, so they are captured instead of printed, and anything else a
  // run warns about fails the test.
  let warnings: unknown[][] = [];
  beforeEach(() => {
    warnings = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((...args: unknown[]) => void warnings.push(args));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    const REDLOCK_WARNINGS = ['REDLOCK_UNVERIFIED_NODE', 'REDLOCK_EVICTING_NODE', 'REDLOCK_SHORT_TTL'].map((code) => ({ type: 'RedlockWarning', code }));
    for (const [, options] of warnings) expect(REDLOCK_WARNINGS).toContainEqual(options);
  });

  it('constructs a Redlock or throws a TypeError or RangeError at once, for any options', () => {
    fc.assert(
      fc.property(anyOptions, (options) => {
        const clock = new FakeClock();
        try {
          const redlock = new Redlock(grantingNodes(clock, 3), loose(options));
          expect(redlock.quorum).toBe(2);
        } catch (error) {
          expect(isArgumentError(error)).toBe(true);
        }
      }),
      simulationParameters(RUNS),
    );
  });

  it('constructs a Redlock or throws a TypeError or RangeError at once, for any node list', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, fc.array(fc.oneof(anyValue, fc.constant('node'), nodeWithOptions))), (nodes) => {
        const clock = new FakeClock();
        const node = grantingNode(clock);
        // 'node' stands for one shared adapter (so duplicates occur), { adapter: 'node' } for a fresh one.
        const adapterFor = (entry: unknown): unknown =>
          entry === 'node' ? node : isNodeWithOptions(entry) ? { ...entry, adapter: grantingNode(clock) } : entry;
        const list = Array.isArray(nodes) ? nodes.map(adapterFor) : nodes;
        try {
          new Redlock(loose(list), { clock });
        } catch (error) {
          expect(isArgumentError(error)).toBe(true);
        }
      }),
      simulationParameters(RUNS),
    );
  });

  it('acquire() and using() reject any bad argument before calling a node, or work and leave no key', async () => {
    await fc.assert(
      fc.asyncProperty(anyResources, anyValue, anyOptions, fc.boolean(), async (resources, ttlMs, options, viaUsing) => {
        const clock = new FakeClock();
        const nodes = grantingNodes(clock, 3);
        const redlock = new Redlock(nodes, { clock, retryCount: 0 });
        const outcome = await outcomeOf<unknown>(clock, () =>
          viaUsing
            ? redlock.using(loose(resources), loose(ttlMs), () => 'done', loose(options))
            : redlock.acquire(loose(resources), loose(ttlMs), loose(options)),
        );
        if ('error' in outcome) {
          expect(isArgumentError(outcome.error)).toBe(true);
          expect(nodes.flatMap((node) => node.calls)).toEqual([]);
          return;
        }
        if (outcome.value instanceof Lock) await clock.runUntilSettled(outcome.value.release());
        else expect(outcome.value).toBe('done');
        expect(nodes.flatMap(keysOf)).toEqual([]);
      }),
      simulationParameters(RUNS),
    );
  });

  it('locks any valid resources under any key prefix as exactly prefix + name, with the TTL, and releases them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(resourceName, { minLength: 1, maxLength: 4 }),
        // From 100 ms: a shorter TTL leaves less validity than one node timeout, which acquire() refuses.
        fc.integer({ min: 100, max: MAX_TTL_MS }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        async (resources, ttlMs, keyPrefix) => {
          const clock = new FakeClock();
          const nodes = grantingNodes(clock, 3);
          const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0, keyPrefix }).acquire(resources, ttlMs));
          expect(lock.resources).toEqual(resources);
          for (const node of nodes) {
            expect(keysOf(node).sort()).toEqual(resources.map((resource) => keyPrefix + resource).sort());
            for (const resource of resources) expect(node.keyspace.pttl(keyPrefix + resource)).toBe(ttlMs);
          }
          expect((await clock.runUntilSettled(lock.release())).releasedCount).toBe(3);
          expect(nodes.flatMap(keysOf)).toEqual([]);
        },
      ),
      simulationParameters(RUNS),
    );
  });

  it('extend() rejects a bad TTL with a TypeError or RangeError before calling a node, or extends', async () => {
    await fc.assert(
      fc.asyncProperty(anyValue, async (ttlMs) => {
        const clock = new FakeClock();
        const nodes = grantingNodes(clock, 3);
        const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000));
        const outcome = await outcomeOf(clock, () => lock.extend(loose(ttlMs)));
        if ('error' in outcome) {
          expect(isArgumentError(outcome.error) || outcome.error instanceof LockExtendError).toBe(true);
          if (isArgumentError(outcome.error)) expect(nodes.flatMap((node) => node.callsTo('extend'))).toEqual([]);
        } else {
          expect(outcome.value).toBe(lock);
        }
        await clock.runUntilSettled(lock.release());
        expect(nodes.flatMap(keysOf)).toEqual([]);
      }),
      simulationParameters(RUNS),
    );
  });

  it('grants only on a reply of exactly 1, and turns every reply the acquire script cannot give into a NodeError', async () => {
    /** Whether the acquire script can reply `reply` (1 granted, 0 held, and whatever else its parser knows). */
    const isScriptReply = (reply: unknown): boolean => {
      try {
        parseAcquireReply(reply);
        return true;
      } catch {
        return false;
      }
    };
    /** Replies of any kind, often the acquire script's own. */
    const anyReply = fc.oneof(anyValue, fc.constantFrom(0, 1, 1, -1));
    await fc.assert(
      fc.asyncProperty(fc.array(anyReply, { minLength: 3, maxLength: 3 }), fc.boolean(), async (replies, isRejection) => {
        const clock = new FakeClock();
        const adapters: RedisAdapter[] = replies.map((reply) => {
          const answer = () => (isRejection && reply !== 1 ? Promise.reject(reply) : Promise.resolve(reply));
          return { evalsha: answer, eval: answer };
        });
        const grants = replies.filter((reply, index) => reply === 1 && !(isRejection && replies[index] !== 1)).length;
        const outcome = await outcomeOf(clock, () => new Redlock(adapters, { clock, retryCount: 0 }).acquire('r', 1000));
        if (grants >= 2) {
          expect('value' in outcome && outcome.value instanceof Lock).toBe(true);
          return;
        }
        expect('error' in outcome && outcome.error instanceof LockAcquireError).toBe(true);
        const error = (outcome as { error: LockAcquireError }).error;
        const expectedErrors = replies.filter((reply) => (isRejection ? reply !== 1 : !isScriptReply(reply))).length;
        expect(error.nodeErrors.every((nodeError) => nodeError instanceof NodeError)).toBe(true);
        expect(error.nodeErrors).toHaveLength(expectedErrors);
      }),
      simulationParameters(RUNS),
    );
  });

  it('keeps every message one line-free sentence of bounded length, whatever the resource names', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(resourceName, { minLength: 1, maxLength: 6 }), async (resources) => {
        const clock = new FakeClock();
        const refusing = grantingNodes(clock, 3).map((node: FakeNode) => {
          node.keyspace.isHeldByAnotherOwner = true;
          return node;
        });
        const outcome = await outcomeOf(clock, () => new Redlock(refusing, { clock, retryCount: 0 }).acquire(resources, 1000));
        const error = (outcome as { error: LockAcquireError }).error;
        expect(error).toBeInstanceOf(LockAcquireError);
        expect(error.message.length).toBeLessThan(600);
        expect(error.message.endsWith('.')).toBe(false);
      }),
      simulationParameters(RUNS),
    );
  });
});
