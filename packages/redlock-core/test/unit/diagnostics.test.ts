import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  type AcquireTraceContext,
  type AttemptTraceContext,
  DIAGNOSTICS_CHANNELS,
  type ExtendTraceContext,
  type HoldTraceContext,
  LockAcquireError,
  LockExtendError,
  type LockLostMessage,
  LockReleaseError,
  MisconfiguredNodeError,
  type NodeErrorMessage,
  Redlock,
  type RedisAdapter,
  type ReleaseTraceContext,
  type TracedCallContext,
} from '../../src/index.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { failingNode, grantingNode, grantingNodes, hangingNode, keysOf, refusingNode, scriptDeniedNode, slowNode } from '../../src/testing/fake-nodes.js';
import { FakeClock } from '../support/fake-clock.js';
import { pubSubNode } from '../support/fake-pubsub.js';

const TRACING = ['acquire', 'attempt', 'extend', 'release', 'holdAcquire', 'holdExtend', 'holdRelease'] as const;
type Traced = (typeof TRACING)[number];
const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
type TraceEvent = (typeof EVENTS)[number];

/** Everything published on the core's channels while a test runs, in order. */
class Recorder {
  readonly events: { readonly channel: Traced; readonly event: TraceEvent; readonly context: object }[] = [];
  readonly lost: LockLostMessage[] = [];
  readonly nodeErrors: NodeErrorMessage[] = [];
  readonly #unsubscribe: (() => void)[] = [];

  constructor() {
    for (const name of TRACING) {
      const traced = diagnosticsChannel.tracingChannel(DIAGNOSTICS_CHANNELS[name]);
      const handlers = Object.fromEntries(
        EVENTS.map((event) => [event, (context: object) => this.events.push({ channel: name, event, context })]),
      ) as unknown as diagnosticsChannel.TracingChannelSubscribers<object>;
      traced.subscribe(handlers);
      this.#unsubscribe.push(() => traced.unsubscribe(handlers));
    }
    const onLost = (message: unknown): void => void this.lost.push(message as LockLostMessage);
    const onNodeError = (message: unknown): void => void this.nodeErrors.push(message as NodeErrorMessage);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.lockLost, onLost);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.nodeError, onNodeError);
    this.#unsubscribe.push(
      () => diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.lockLost, onLost),
      () => diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.nodeError, onNodeError),
    );
  }

  /** The contexts of one tracing channel, one per traced call, in order of their start. */
  contexts<C extends object>(channel: Traced): C[] {
    return this.events.filter((event) => event.channel === channel && event.event === 'start').map((event) => event.context as C);
  }

  /** The events of one context, in order. */
  eventsOf(context: object): TraceEvent[] {
    return this.events.filter((event) => event.context === context).map((event) => event.event);
  }

  stop(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
  }
}

/** Every string reachable from `value`, own properties (enumerable or not) and error causes included. */
function stringsIn(value: unknown, seen = new Set<unknown>()): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null || seen.has(value)) return [];
  seen.add(value);
  const strings: string[] = [];
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key === 'string') strings.push(key);
    const descriptor = Object.getOwnPropertyDescriptor(value, key);
    if (descriptor !== undefined && 'value' in descriptor) strings.push(...stringsIn(descriptor.value, seen));
  }
  return strings;
}

/** Every token the nodes were sent (the first argument of acquire, extend and release). */
function tokensSentTo(nodes: readonly FakeNode[]): Set<string> {
  const tokens = new Set<string>();
  for (const node of nodes) {
    for (const call of node.calls) {
      const carriesToken = ['acquire', 'extend', 'release', 'permit-acquire', 'permit-extend', 'permit-release', 'read-write-acquire'].includes(call.script ?? '');
      if (carriesToken && call.args[0] !== undefined) tokens.add(call.args[0]);
    }
  }
  return tokens;
}

/** Asserts that no payload recorded holds any token the nodes were sent. */
function expectNoToken(recorder: Recorder, nodes: readonly FakeNode[]): void {
  const tokens = tokensSentTo(nodes);
  expect(tokens.size).toBeGreaterThan(0);
  const published = stringsIn([recorder.events.map((event) => event.context), recorder.lost, recorder.nodeErrors]);
  for (const token of tokens) {
    expect(published.filter((text) => text.includes(token))).toEqual([]);
  }
}

async function rejectionOf(clock: FakeClock, pending: Promise<unknown>): Promise<unknown> {
  return clock.runUntilSettled(pending).then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

let recorder: Recorder;
beforeEach(() => {
  recorder = new Recorder();
});
afterEach(() => {
  recorder.stop();
});

describe('the redlock-core.acquire and redlock-core.attempt channels', () => {
  it('trace an acquisition that succeeds after a failed attempt, each attempt a child of the acquisition', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), slowNode(clock, 3)];
    nodes[0]?.failNext('acquire', new Error('ERR injected failure'));
    nodes[1]?.failNext('acquire', new Error('ERR injected failure'));
    const redlock = new Redlock(nodes, { clock, retryJitterMs: 0 });
    const lock = await clock.runUntilSettled(redlock.acquire(['orders:1', 'orders:2'], 10_000));

    const [acquire, ...otherAcquires] = recorder.contexts<AcquireTraceContext>('acquire');
    expect(otherAcquires).toEqual([]);
    expect(acquire).toMatchObject({ operation: 'acquire', resources: ['orders:1', 'orders:2'], ttlMs: 10_000, quorum: 2, nodeCount: 3, isReentrant: false });
    expect(acquire?.error).toBeUndefined();
    expect(acquire?.result).toEqual({ isAcquired: true, attempts: 2, remainingValidityMs: lock.remainingValidityMs, nodes: lock.nodes, holdId: expect.any(Number) });
    expect(acquire?.result?.remainingValidityMs).toBeGreaterThan(9_000);
    expect(acquire?.result?.nodes.map((node) => node.status)).toEqual(['acquired', 'acquired', 'pending']);
    expect(recorder.eventsOf(acquire as object)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);

    const attempts = recorder.contexts<AttemptTraceContext>('attempt');
    expect(attempts.map((attempt) => attempt.attemptNumber)).toEqual([1, 2]);
    expect(attempts[0]).toMatchObject({ resources: ['orders:1', 'orders:2'], quorum: 2, nodeCount: 3, isWoken: false });
    const [failed, won] = attempts.map((attempt) => attempt.result);
    expect(failed?.outcome).toBe('failed');
    expect(failed?.nodes.map((node) => node.status)).toEqual(['error', 'error', 'acquired']);
    expect(failed?.nodes[0]?.error?.message).toContain('ERR injected failure');
    expect(failed?.nodes[2]).toMatchObject({ nodeIndex: 2, latencyMs: 3, error: undefined });
    expect(won?.outcome).toBe('acquired');
    // The slow node had not answered when the two others made the quorum.
    expect(won?.nodes.map((node) => node.status)).toEqual(['acquired', 'acquired', 'pending']);
    expect(won?.nodes.map((node) => node.latencyMs)).toEqual([0, 0, undefined]);

    // Nesting: each attempt starts after the acquisition started and ends before it ends.
    const order = recorder.events.filter((event) => event.event === 'start' || event.event === 'asyncEnd').map((event) => `${event.channel}:${event.event}`);
    expect(order).toEqual(['acquire:start', 'attempt:start', 'attempt:asyncEnd', 'attempt:start', 'attempt:asyncEnd', 'acquire:asyncEnd']);

    expect(recorder.nodeErrors.map(({ nodeIndex, operation }) => ({ nodeIndex, operation }))).toEqual([
      { nodeIndex: 0, operation: 'acquire' },
      { nodeIndex: 1, operation: 'acquire' },
    ]);
    expect(recorder.nodeErrors[0]?.error.isTimeout).toBe(false);
    await clock.runUntilSettled(lock.release());
    expectNoToken(recorder, nodes);
  });

  it.each([
    ['held-by-another-owner', (clock: FakeClock) => [refusingNode(clock), refusingNode(clock), grantingNode(clock)]],
    ['nodes-unreachable', (clock: FakeClock) => [failingNode(clock), failingNode(clock), grantingNode(clock)]],
    [
      'foreign-key',
      (clock: FakeClock) => {
        const nodes = grantingNodes(clock, 3);
        for (const node of nodes) node.keyspace.setOfType('r', 'hash');
        return nodes;
      },
    ],
  ] as const)('trace a failure for %s as an error event with the LockAcquireError', async (reason, makeNodes) => {
    const clock = new FakeClock();
    const nodes = makeNodes(clock);
    const error = await rejectionOf(clock, new Redlock(nodes, { clock, retryCount: 1, retryJitterMs: 0 }).acquire('r', 10_000));
    expect(error).toBeInstanceOf(LockAcquireError);
    const [acquire] = recorder.contexts<AcquireTraceContext>('acquire');
    expect(acquire?.error).toBe(error);
    expect(acquire?.result).toBeUndefined();
    expect((acquire?.error as LockAcquireError).reason).toBe(reason);
    expect(recorder.eventsOf(acquire as object)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    const attempts = recorder.contexts<AttemptTraceContext>('attempt');
    // A foreign key stops at once; the others retry once.
    expect(attempts).toHaveLength(reason === 'foreign-key' ? 1 : 2);
    for (const attempt of attempts) expect(attempt.result?.outcome).toBe('failed');
    expectNoToken(recorder, nodes);
  });

  it('traces an attempt that met a setup mistake as failed, and its acquisition with the MisconfiguredNodeError', async () => {
    const clock = new FakeClock();
    const nodes = [scriptDeniedNode(clock), grantingNode(clock), grantingNode(clock)];
    const error = await rejectionOf(clock, new Redlock(nodes, { clock }).acquire('r', 10_000));
    expect(error).toBeInstanceOf(MisconfiguredNodeError);
    expect(recorder.contexts<AcquireTraceContext>('acquire')[0]?.error).toBe(error);
    // An attempt's `error` is for a bug only: this one failed, and the call rejected after it.
    const attempts = recorder.contexts<AttemptTraceContext>('attempt');
    expect(attempts).toHaveLength(1);
    expect(attempts[0]?.error).toBeUndefined();
    expect(attempts[0]?.result?.outcome).toBe('failed');
  });

  it('traces a failure for no-validity, when a stalled event loop ate the TTL', async () => {
    const clock = new FakeClock();
    const nodes = [slowNode(clock, 10), slowNode(clock, 10), slowNode(clock, 10)];
    clock.setTimeout(() => clock.stall(990), 5);
    const error = await rejectionOf(clock, new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000));
    const [acquire] = recorder.contexts<AcquireTraceContext>('acquire');
    expect((acquire?.error as LockAcquireError).reason).toBe('no-validity');
    expect(acquire?.error).toBe(error);
    const [attempt] = recorder.contexts<AttemptTraceContext>('attempt');
    expect(attempt?.result?.nodes.map((node) => node.status)).toEqual(['acquired', 'acquired', 'acquired']);
    expect(attempt?.result?.elapsedMs).toBeGreaterThanOrEqual(995);
    expectNoToken(recorder, nodes);
  });

  it('ends a tryAcquire() miss as a result with isAcquired false, not as an error', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), grantingNode(clock)];
    expect(await clock.runUntilSettled(new Redlock(nodes, { clock }).tryAcquire('r', 10_000))).toBeUndefined();
    const [acquire] = recorder.contexts<AcquireTraceContext>('acquire');
    expect(acquire?.operation).toBe('tryAcquire');
    expect(acquire?.error).toBeUndefined();
    expect(acquire?.result).toMatchObject({ isAcquired: false, attempts: 1, remainingValidityMs: 0 });
    expect(acquire?.result?.nodes.map((node) => node.status)).toEqual(['held', 'held', 'acquired']);
    expect(recorder.eventsOf(acquire as object)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expectNoToken(recorder, nodes);
  });

  it('reports a node a tryAcquire() miss did not wait for as pending, not as timed out', async () => {
    const clock = new FakeClock();
    // Two refusals settle the miss; the hanging node has not answered then, and never times out in the trace.
    const nodes = [refusingNode(clock), refusingNode(clock), hangingNode(clock)];
    const redlock = new Redlock(nodes, { clock });
    const miss = redlock.tryAcquire('r', 10_000);
    expect(await clock.runUntilSettled(miss)).toBeUndefined();
    const [acquire] = recorder.contexts<AcquireTraceContext>('acquire');
    expect(acquire?.result?.nodes.map((node) => node.status)).toEqual(['held', 'held', 'pending']);
    const [attempt] = recorder.contexts<AttemptTraceContext>('attempt');
    expect(attempt?.result?.nodes.map((node) => node.status)).toEqual(['held', 'held', 'pending']);
    expect(attempt?.result?.nodes[2]).toMatchObject({ latencyMs: undefined, error: undefined });
    await clock.runUntilSettled(redlock.close());
    // A call that retries waits for every node it has a timeout for (here a fixed one): that node times out.
    const waiting = new Redlock(nodes, { clock, nodeTimeoutMs: 100 });
    await rejectionOf(clock, waiting.acquire('r', 10_000, { retryCount: 1, retryDelayMs: 10 }));
    const [, waited] = recorder.contexts<AttemptTraceContext>('attempt');
    expect(waited?.result?.nodes.map((node) => node.status)).toEqual(['held', 'held', 'timeout']);
    expect(waited?.result?.nodes[2]?.error?.isTimeout).toBe(true);
    await clock.runUntilSettled(waiting.close());
  });

  it("reports a waiter's place in the nodes' wait queues from the attempt at whose end a quorum had it there", async () => {
    const clock = new FakeClock();
    const nodes = [pubSubNode(clock), pubSubNode(clock), pubSubNode(clock)];
    const processOver = () => new Redlock(nodes.map((node) => node.connectAnotherClient()), { clock, retryDelayMs: 1_000, retryJitterMs: 0 });
    const holder = processOver();
    const held = await clock.runUntilSettled(holder.acquire('r', 10_000));
    const placesFrom = (index: number) => recorder.contexts<AttemptTraceContext>('attempt').slice(index).map((attempt) => attempt.result?.queuePlace);
    const [first, second] = [processOver(), processOver()];
    const firstWaits = first.acquire('r', 10_000);
    // Past two timed retries: it asked every node for a place (the first attempt, a plain SET, sent no ticket),
    // then told them the highest, which a quorum then had.
    await clock.advance(2_010);
    const firstPlaces = placesFrom(1);
    expect(firstPlaces[0]).toBeUndefined();
    expect(firstPlaces.at(-1)).toBe(1);
    expect(new Set(firstPlaces)).toEqual(new Set([undefined, 1]));
    // A waiter that comes later gets the next place.
    const seen = recorder.contexts('attempt').length;
    const secondWaits = second.acquire('r', 10_000);
    await clock.advance(2_010);
    expect(new Set(placesFrom(seen))).toEqual(new Set([undefined, 1, 2]));
    await clock.runUntilSettled(held.release());
    await clock.runUntilSettled((await clock.runUntilSettled(firstWaits)).release());
    await clock.runUntilSettled((await clock.runUntilSettled(secondWaits)).release());
    for (const redlock of [holder, first, second]) await clock.runUntilSettled(redlock.close());
  });

  it('traces using() and a re-entrant acquisition, which makes no attempt', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock });
    await clock.runUntilSettled(
      redlock.using('r', 10_000, async (_signal, lock) => {
        const again = await redlock.acquire('r', 1_000, { reentrant: lock });
        await again.release();
      }),
    );
    const acquires = recorder.contexts<AcquireTraceContext>('acquire');
    expect(acquires.map(({ operation, isReentrant }) => ({ operation, isReentrant }))).toEqual([
      { operation: 'using', isReentrant: false },
      { operation: 'acquire', isReentrant: true },
    ]);
    expect(acquires[1]?.result?.attempts).toBe(0);
    expect(recorder.contexts('attempt')).toHaveLength(1);
    // One release on the nodes: the re-entrant handle's own release calls none.
    expect(recorder.contexts('release')).toHaveLength(1);
    expectNoToken(recorder, nodes);
  });
});

describe('the redlock-core.extend and redlock-core.release channels', () => {
  it('trace a successful extension and release with each node outcome', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('r', 10_000));
    await clock.advance(1_000);
    await clock.runUntilSettled(lock.extend(20_000));
    const [extend] = recorder.contexts<ExtendTraceContext>('extend');
    expect(extend).toMatchObject({ resources: ['r'], ttlMs: 20_000, quorum: 2, nodeCount: 3 });
    expect(extend?.result?.remainingValidityMs).toBe(lock.remainingValidityMs);
    expect(extend?.result?.nodes.map((node) => node.status)).toEqual(['extended', 'extended', 'extended']);
    expect(recorder.eventsOf(extend as object)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);

    const released = await clock.runUntilSettled(lock.release());
    const [release] = recorder.contexts<ReleaseTraceContext>('release');
    expect(release).toMatchObject({ resources: ['r'], quorum: 2, nodeCount: 3 });
    expect(release?.result).toEqual({ releasedCount: released.releasedCount, nodes: released.nodes });
    expect(release?.result?.releasedCount).toBe(3);
    expectNoToken(recorder, nodes);
  });

  it('trace a failed extension and a failed release as error events', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('r', 10_000));
    for (const node of nodes.slice(0, 2)) node.isDown = true;
    const extendError = await rejectionOf(clock, lock.extend(10_000));
    expect(extendError).toBeInstanceOf(LockExtendError);
    const [extend] = recorder.contexts<ExtendTraceContext>('extend');
    expect(extend?.error).toBe(extendError);
    expect(recorder.eventsOf(extend as object)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);

    const releaseError = await rejectionOf(clock, lock.release());
    expect(releaseError).toBeInstanceOf(LockReleaseError);
    const [release] = recorder.contexts<ReleaseTraceContext>('release');
    expect(release?.error).toBe(releaseError);
    expect(recorder.nodeErrors.map(({ nodeIndex, operation }) => `${nodeIndex}:${operation}`)).toEqual(
      expect.arrayContaining(['0:extend', '1:extend', '0:release', '1:release']),
    );
    for (const node of nodes) node.isDown = false;
    expectNoToken(recorder, nodes);
  });
});

describe('the redlock-core.hold.* channels', () => {
  it("trace a semaphore's and a read-write lock's acquisitions, extensions and releases, never a token", async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const semaphore = redlock.semaphore('pool', { limit: 2 });
    const permit = await clock.runUntilSettled(semaphore.acquire(10_000, { permits: 2 }));
    expect(await clock.runUntilSettled(semaphore.tryAcquire(10_000))).toBeUndefined();
    await clock.runUntilSettled(permit.extend(20_000));
    await clock.runUntilSettled(permit.release());
    const catalog = redlock.readWriteLock('catalog');
    const writer = await clock.runUntilSettled(catalog.acquireWrite(10_000));
    await expect(clock.runUntilSettled(catalog.acquireRead(10_000))).rejects.toMatchObject({ reason: 'locked' });
    await clock.runUntilSettled(writer.release());

    const acquisitions = recorder.contexts<HoldTraceContext>('holdAcquire');
    expect(acquisitions.map(({ primitive, operation, resource, mode, permits, result }) => ({ primitive, operation, resource, mode, permits, isHeld: result?.isHeld }))).toEqual([
      { primitive: 'semaphore', operation: 'acquire', resource: 'pool', mode: undefined, permits: 2, isHeld: true },
      { primitive: 'semaphore', operation: 'tryAcquire', resource: 'pool', mode: undefined, permits: 1, isHeld: false },
      { primitive: 'read-write', operation: 'acquire', resource: 'catalog', mode: 'write', permits: 1, isHeld: true },
      { primitive: 'read-write', operation: 'acquire', resource: 'catalog', mode: 'read', permits: 1, isHeld: undefined },
    ]);
    expect(acquisitions[0]).toMatchObject({ ttlMs: 10_000, quorum: 2, nodeCount: 3, result: { attempts: 1 } });
    expect(acquisitions[3]?.error).toMatchObject({ name: 'ReadWriteLockError' });
    expect(recorder.eventsOf(acquisitions[3] as object)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    const [extension] = recorder.contexts<HoldTraceContext>('holdExtend');
    expect(extension).toMatchObject({ primitive: 'semaphore', operation: 'extend', ttlMs: 20_000, result: { isHeld: true } });
    expect(extension?.result?.remainingValidityMs).toBeGreaterThan(10_000);
    // An extension is no acquisition: it reports no attempts.
    expect(extension?.result?.attempts).toBe(0);
    expect(recorder.contexts<HoldTraceContext>('holdRelease').map(({ primitive, mode, result }) => [primitive, mode, result?.isHeld])).toEqual([
      ['semaphore', undefined, false],
      ['read-write', 'write', false],
    ]);
    // The lock's own channels saw none of it.
    expect(recorder.contexts('acquire')).toEqual([]);
    expectNoToken(recorder, nodes);
  });
});

describe('the redlock-core.lock.lost channel', () => {
  it('publishes once when an extension finds that a quorum no longer holds our token', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('r', 10_000));
    for (const node of nodes.slice(0, 2)) node.keyspace.delete('r');
    await clock.advance(2_000);
    const error = (await rejectionOf(clock, lock.extend(10_000))) as LockExtendError;
    expect(error.isLost).toBe(true);
    await rejectionOf(clock, lock.extend(10_000));
    expect(recorder.lost).toHaveLength(1);
    const [lost] = recorder.lost;
    expect(lost).toMatchObject({ resources: ['r'], reason: 'quorum-lost' });
    expect(lost?.remainingValidityMs).toBeGreaterThan(7_000);
    expect(lost?.remainingValidityMs).toBeLessThan(8_000);
    expect(lost?.error).toBe(lock.signal.reason);
    expect(lost?.error.cause).toBe(error);
    await clock.runUntilSettled(lock.release());
    expectNoToken(recorder, nodes);
  });

  it('publishes validity-ran-out when automatic extension kept failing', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('r', 1_000, { autoExtend: true }));
    for (const node of nodes) node.errorReply = new Error('ERR injected failure');
    await clock.advance(2_000);
    expect(lock.state).toBe('expired');
    expect(recorder.lost.map(({ reason, remainingValidityMs }) => ({ reason, remainingValidityMs }))).toEqual([{ reason: 'validity-ran-out', remainingValidityMs: 0 }]);
    expect(recorder.lost[0]?.error).toBe(lock.signal.reason);
    for (const node of nodes) node.errorReply = undefined;
    await clock.runUntilSettled(lock.release());
    expectNoToken(recorder, nodes);
  });

  it('publishes nothing for a lock released in time', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('r', 1_000, { autoExtend: true }));
    await clock.advance(3_000);
    await clock.runUntilSettled(lock.release());
    await clock.advance(3_000);
    expect(recorder.lost).toEqual([]);
  });
});

describe('the redlock-core.node.error channel', () => {
  it('publishes the errors of a failed attempt\'s cleanup and of background re-sends of a release', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), refusingNode(clock), refusingNode(clock)];
    // Node 0 grants, the others refuse: the attempt fails and removes its key from node 0, which fails once.
    nodes[0]?.failNext('release', new Error('ERR cleanup failed'));
    await rejectionOf(clock, new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 10_000));
    await clock.advance(1_000);
    expect(keysOf(nodes[0] as FakeNode)).toEqual([]);
    const cleanup = recorder.nodeErrors.filter((message) => message.operation === 'cleanup');
    expect(cleanup).toHaveLength(1);
    expect(cleanup[0]).toMatchObject({ nodeIndex: 0 });
    expect(cleanup[0]?.error.message).toContain('ERR cleanup failed');

    const others = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(new Redlock(others, { clock }).acquire('r', 10_000));
    others[2]?.failNext('release', new Error('ERR first release failed'));
    others[2]?.failNext('release', new Error('ERR second release failed'));
    await clock.runUntilSettled(lock.release());
    await clock.advance(1_000);
    expect(keysOf(others[2] as FakeNode)).toEqual([]);
    expect(recorder.nodeErrors.filter((message) => message.operation === 'release').map((message) => message.error.message)).toEqual([
      'Node 2 failed: ERR first release failed',
      'Node 2 failed: ERR second release failed',
    ]);
    expectNoToken(recorder, [...nodes, ...others]);
  });

  it('publishes timeouts with isTimeout, and counts every kind in stats()', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), slowNode(clock, 5_000)];
    const redlock = new Redlock(nodes, { clock });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    await clock.advance(1_000);
    const timeouts = recorder.nodeErrors.filter((message) => message.error.isTimeout);
    expect(timeouts.map(({ nodeIndex, operation }) => ({ nodeIndex, operation }))).toEqual([{ nodeIndex: 2, operation: 'acquire' }]);
    expect(redlock.stats().nodes).toEqual([
      { nodeIndex: 0, errors: 0, timeouts: 0, skippedWhileDown: 0 },
      { nodeIndex: 1, errors: 0, timeouts: 0, skippedWhileDown: 0 },
      { nodeIndex: 2, errors: 0, timeouts: 1, skippedWhileDown: 0 },
    ]);
    // The late grant is removed by the release.
    await clock.runUntilSettled(lock.release());
    await clock.advance(10_000);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });
});

describe('without subscribers', () => {
  it('publishes nothing and still works', async () => {
    recorder.stop();
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    await clock.runUntilSettled(lock.extend(10_000));
    await clock.runUntilSettled(lock.release());
    expect(recorder.events).toEqual([]);
    expect(diagnosticsChannel.tracingChannel(DIAGNOSTICS_CHANNELS.acquire).start.hasSubscribers).toBe(false);
  });

  it('falls back on each event channel when TracingChannel lacks hasSubscribers (Node 20.0–20.12)', async () => {
    const traced = diagnosticsChannel.tracingChannel(DIAGNOSTICS_CHANNELS.acquire);
    const prototype = Object.getPrototypeOf(traced) as object;
    const original = Object.getOwnPropertyDescriptor(prototype, 'hasSubscribers');
    expect(original).toBeDefined();
    Object.defineProperty(prototype, 'hasSubscribers', { configurable: true, get: () => undefined });
    try {
      const clock = new FakeClock();
      const lock = await clock.runUntilSettled(new Redlock(grantingNodes(clock, 3), { clock }).acquire('r', 10_000));
      expect(recorder.contexts<AcquireTraceContext>('acquire')[0]?.result?.isAcquired).toBe(true);
      recorder.stop();
      await clock.runUntilSettled(lock.release());
      expect(recorder.contexts('release')).toEqual([]);
    } finally {
      Object.defineProperty(prototype, 'hasSubscribers', original as PropertyDescriptor);
    }
  });
});

describe('an APM that binds its context on start', () => {
  it('sees the acquisition, then the attempt, as the current context inside the adapter call', async () => {
    const spans = new AsyncLocalStorage<string>();
    const acquire = diagnosticsChannel.tracingChannel(DIAGNOSTICS_CHANNELS.acquire);
    const attempt = diagnosticsChannel.tracingChannel(DIAGNOSTICS_CHANNELS.attempt);
    acquire.start.bindStore(spans, (context) => `acquire ${(context as AcquireTraceContext).resources.join(',')}`);
    attempt.start.bindStore(spans, (context) => `${spans.getStore() ?? 'no parent'} > attempt ${(context as AttemptTraceContext).attemptNumber}`);
    try {
      const clock = new FakeClock();
      const seen: (string | undefined)[] = [];
      const nodes = grantingNodes(clock, 3).map((node) => ({
        evalsha: (sha1: string, keys: readonly string[], args: readonly string[]) => {
          seen.push(spans.getStore());
          return node.evalsha(sha1, keys, args);
        },
        eval: (source: string, keys: readonly string[], args: readonly string[]) => {
          seen.push(spans.getStore());
          return node.eval(source, keys, args);
        },
      }));
      const redlock = new Redlock(nodes, { clock });
      const lock = await clock.runUntilSettled(redlock.acquire('orders:7', 10_000));
      expect(spans.getStore()).toBeUndefined();
      expect(seen.length).toBeGreaterThanOrEqual(3);
      expect(new Set(seen)).toEqual(new Set(['acquire orders:7 > attempt 1']));
      await clock.runUntilSettled(lock.release());
    } finally {
      acquire.start.unbindStore(spans);
      attempt.start.unbindStore(spans);
    }
  });
});

/**
 * Subscribes to `channel`'s `start` as an APM would with {@link TracedCallContext.runInContext}: each call
 * runs inside `storage.run(label(context), …)`, wrapping a hook another subscriber set first. Returns
 * what unsubscribes it.
 */
function enterOnStart<C extends TracedCallContext>(channel: string, storage: AsyncLocalStorage<string>, label: (context: C) => string): () => void {
  const onStart = (message: unknown): void => {
    const context = message as C;
    const entered = label(context);
    const mine = <T>(call: () => T): T => storage.run(entered, call);
    const inner = context.runInContext;
    context.runInContext = inner === undefined ? mine : (call) => mine(() => inner(call));
  };
  const { start } = diagnosticsChannel.tracingChannel(channel);
  start.subscribe(onStart);
  return () => void start.unsubscribe(onStart);
}

/** Nodes that record, at each call, what `read()` returns: the context the adapter was called in. */
function watchedNodes(clock: FakeClock, read: () => string | undefined): { readonly nodes: RedisAdapter[]; readonly seen: (string | undefined)[] } {
  const seen: (string | undefined)[] = [];
  const nodes = grantingNodes(clock, 3).map((node) => ({
    evalsha: (sha1: string, keys: readonly string[], args: readonly string[]) => {
      seen.push(read());
      return node.evalsha(sha1, keys, args);
    },
    eval: (source: string, keys: readonly string[], args: readonly string[]) => {
      seen.push(read());
      return node.eval(source, keys, args);
    },
  }));
  return { nodes, seen };
}

describe('an APM that sets runInContext on start', () => {
  it('runs the acquisition, its attempt, the extension and the release inside it', async () => {
    const spans = new AsyncLocalStorage<string>();
    const stop = [
      enterOnStart<AcquireTraceContext>(DIAGNOSTICS_CHANNELS.acquire, spans, (context) => `acquire ${context.resources.join(',')}`),
      enterOnStart<AttemptTraceContext>(DIAGNOSTICS_CHANNELS.attempt, spans, (context) => `${spans.getStore() ?? 'no parent'} > attempt ${context.attemptNumber}`),
      enterOnStart<ExtendTraceContext>(DIAGNOSTICS_CHANNELS.extend, spans, () => 'extend'),
      enterOnStart<ReleaseTraceContext>(DIAGNOSTICS_CHANNELS.release, spans, () => 'release'),
    ];
    try {
      const clock = new FakeClock();
      const { nodes, seen } = watchedNodes(clock, () => spans.getStore());
      const lock = await clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('orders:7', 10_000));
      expect(spans.getStore()).toBeUndefined();
      expect(seen.length).toBeGreaterThanOrEqual(3);
      expect(new Set(seen)).toEqual(new Set(['acquire orders:7 > attempt 1']));
      seen.length = 0;
      await clock.runUntilSettled(lock.extend(10_000));
      expect(new Set(seen)).toEqual(new Set(['extend']));
      seen.length = 0;
      await clock.runUntilSettled(lock.release());
      expect(new Set(seen)).toEqual(new Set(['release']));
      expect(recorder.contexts<AcquireTraceContext>('acquire')[0]?.result?.isAcquired).toBe(true);
    } finally {
      for (const unsubscribe of stop) unsubscribe();
    }
  });

  it("composes two subscribers' hooks: the call runs inside both", async () => {
    const first = new AsyncLocalStorage<string>();
    const second = new AsyncLocalStorage<string>();
    const stop = [
      enterOnStart<HoldTraceContext>(DIAGNOSTICS_CHANNELS.holdAcquire, first, (context) => `first ${context.resource}`),
      enterOnStart<HoldTraceContext>(DIAGNOSTICS_CHANNELS.holdAcquire, second, (context) => `second ${context.resource}`),
    ];
    try {
      const clock = new FakeClock();
      const { nodes, seen } = watchedNodes(clock, () => `${first.getStore() ?? '-'} & ${second.getStore() ?? '-'}`);
      const permit = await clock.runUntilSettled(new Redlock(nodes, { clock }).semaphore('pool', { limit: 2 }).acquire(10_000));
      expect(seen.length).toBeGreaterThanOrEqual(3);
      expect(new Set(seen)).toEqual(new Set(['first pool & second pool']));
      await clock.runUntilSettled(permit.release());
    } finally {
      for (const unsubscribe of stop) unsubscribe();
    }
  });

  it('leaves the call as it was when no subscriber sets it', async () => {
    const spans = new AsyncLocalStorage<string>();
    const clock = new FakeClock();
    const { nodes, seen } = watchedNodes(clock, () => spans.getStore());
    const lock = await spans.run('caller', () => clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('r', 10_000)));
    await clock.runUntilSettled(lock.release());
    expect(new Set(seen)).toEqual(new Set(['caller', undefined]));
    const [acquire] = recorder.contexts<AcquireTraceContext>('acquire');
    expect(acquire?.runInContext).toBeUndefined();
    expect(acquire?.result?.isAcquired).toBe(true);
  });
});

describe('hold ids', () => {
  it('name one lock from its acquisition to its extension, release and loss, shared by re-entrant handles', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    const again = await clock.runUntilSettled(redlock.acquire('r', 10_000, { reentrant: lock }));
    const other = await clock.runUntilSettled(redlock.acquire('s', 10_000));
    await clock.runUntilSettled(again.extend(10_000));
    await clock.runUntilSettled(again.release());
    await clock.runUntilSettled(lock.release());
    const [first, reentered, second] = recorder.contexts<AcquireTraceContext>('acquire').map((context) => context.result?.holdId);
    expect(first).toEqual(expect.any(Number));
    expect(reentered).toBe(first);
    expect(second).toEqual(expect.any(Number));
    expect(second).not.toBe(first);
    expect(recorder.contexts<ExtendTraceContext>('extend').map((context) => context.holdId)).toEqual([first]);
    expect(recorder.contexts<ReleaseTraceContext>('release').map((context) => context.holdId)).toEqual([first]);

    for (const node of nodes.slice(0, 2)) node.keyspace.delete('s');
    await rejectionOf(clock, other.extend(10_000));
    expect(recorder.lost.map((message) => message.holdId)).toEqual([second]);
    await clock.runUntilSettled(other.release());
    expect(recorder.contexts<ReleaseTraceContext>('release').map((context) => context.holdId)).toEqual([first, second]);
    expect(recorder.contexts<ExtendTraceContext>('extend').map((context) => context.holdId)).toEqual([first, second]);
  });

  it("name each of a semaphore's and a read-write lock's concurrent holds apart", async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const semaphore = redlock.semaphore('pool', { limit: 3 });
    const permitA = await clock.runUntilSettled(semaphore.acquire(10_000));
    const permitB = await clock.runUntilSettled(semaphore.acquire(10_000));
    const catalog = redlock.readWriteLock('catalog');
    const readerA = await clock.runUntilSettled(catalog.acquireRead(10_000));
    const readerB = await clock.runUntilSettled(catalog.acquireRead(10_000));
    // Extended and released out of order: each message names its own hold.
    await clock.runUntilSettled(permitB.extend(20_000));
    await clock.runUntilSettled(readerB.extend(20_000));
    for (const held of [permitB, readerB, permitA, readerA]) await clock.runUntilSettled(held.release());

    const acquired = recorder.contexts<HoldTraceContext>('holdAcquire');
    const ids = acquired.map((context) => context.result?.holdId);
    expect(acquired.map((context) => context.holdId)).toEqual([undefined, undefined, undefined, undefined]);
    expect(ids.every((id) => typeof id === 'number')).toBe(true);
    expect(new Set(ids).size).toBe(4);
    const [idA, idB, readIdA, readIdB] = ids;
    expect(recorder.contexts<HoldTraceContext>('holdExtend').map((context) => context.holdId)).toEqual([idB, readIdB]);
    expect(recorder.contexts<HoldTraceContext>('holdRelease').map((context) => context.holdId)).toEqual([idB, readIdB, idA, readIdA]);
    // A release's and an extension's results name no hold: their context does.
    expect(recorder.contexts<HoldTraceContext>('holdExtend').map((context) => context.result?.holdId)).toEqual([undefined, undefined]);
  });
});
