import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { context, metrics, SpanStatusCode, trace, type TracerProvider } from '@opentelemetry/api';
import { type Instrumentation, registerInstrumentations } from '@opentelemetry/instrumentation';
import { AlwaysOffSampler, BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { DIAGNOSTICS_CHANNELS, LockAcquireError, type RedisAdapter, Redlock, type TracedCallContext } from 'redlock-core';
import { failingNode, grantingNodes, refusingNode } from 'redlock-core/testing';
import { REDLOCK_METRICS, RedlockInstrumentation } from '../../src/index.js';
import { PACKAGE_VERSION } from '../../src/version.js';
import { Telemetry, useStandardContextManager } from '../support/telemetry.js';

// The instrumentation on the fake nodes of redlock-core/testing, with the SDK's in-memory exporters and
// the standard AsyncLocalStorageContextManager: each operation's span and attributes, the metrics,
// errors, enable/disable, provider swaps, and that no token is ever recorded.

let restoreContextManager: () => void;
beforeAll(() => {
  restoreContextManager = useStandardContextManager();
});
afterAll(() => restoreContextManager());

const opened: { instrumentation: RedlockInstrumentation; telemetry: Telemetry }[] = [];
/** The test's Redlocks: closed after it, so that no cleanup re-sent in the background publishes into another test file's channels. */
const redlocks: Redlock[] = [];
afterEach(async () => {
  await Promise.all(redlocks.splice(0).map((redlock) => redlock.close()));
  for (const { instrumentation, telemetry } of opened.splice(0)) {
    instrumentation.disable();
    await telemetry.shutdown();
  }
});

/** An enabled instrumentation on its own in-memory providers. */
function instrumented(config: ConstructorParameters<typeof RedlockInstrumentation>[0] = {}) {
  const telemetry = new Telemetry();
  const instrumentation = new RedlockInstrumentation(config);
  instrumentation.setTracerProvider(telemetry.tracerProvider);
  instrumentation.setMeterProvider(telemetry.meterProvider);
  opened.push({ instrumentation, telemetry });
  return { telemetry, instrumentation };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function redlockOn(nodes: RedisAdapter[]): Redlock {
  const redlock = new Redlock(nodes, { retryCount: 0 });
  redlocks.push(redlock);
  return redlock;
}

/**
 * A node whose script calls run inside a span of their own, as an instrumented Redis client's commands
 * do: started from the active context when the core calls it.
 */
function commandSpanning(node: RedisAdapter, tracerProvider: TracerProvider): RedisAdapter {
  const tracer = tracerProvider.getTracer('fake-client');
  const spanning =
    (command: string, call: () => Promise<unknown>) =>
    (): Promise<unknown> => {
      const span = tracer.startSpan(`redis ${command}`, {}, context.active());
      return call().finally(() => span.end());
    };
  return {
    evalsha: (sha1, keys, args) => spanning('EVALSHA', () => node.evalsha(sha1, keys, args))(),
    eval: (source, keys, args) => spanning('EVAL', () => node.eval(source, keys, args))(),
  };
}

describe('RedlockInstrumentation on locks', () => {
  it('traces an acquire with its attempt inside, and a release, with the attributes of each', async () => {
    const { telemetry } = instrumented();
    const lock = await redlockOn(grantingNodes(undefined as never, 3)).acquire('orders:42', 10_000);
    await lock.release();

    const [acquire] = telemetry.named('redlock acquire');
    expect(acquire?.attributes).toMatchObject({
      'redlock.primitive': 'lock',
      'redlock.operation': 'acquire',
      'redlock.resources': ['orders:42'],
      'redlock.ttl_ms': 10_000,
      'redlock.quorum': 2,
      'redlock.node_count': 3,
      'redlock.reentrant': false,
      'redlock.attempts': 1,
      'redlock.outcome': 'acquired',
      'redlock.node.statuses': expect.arrayContaining(['acquired']),
    });
    expect(acquire?.status.code).toBe(SpanStatusCode.UNSET);
    const [attempt] = telemetry.named('redlock attempt');
    expect(attempt?.attributes).toMatchObject({ 'redlock.attempt.number': 1, 'redlock.outcome': 'acquired', 'redlock.resources': ['orders:42'] });
    expect(telemetry.parentOf(attempt!)).toBe(acquire);
    const [release] = telemetry.named('redlock release');
    expect(release?.attributes).toMatchObject({ 'redlock.primitive': 'lock', 'redlock.operation': 'release', 'redlock.released_count': 3 });
    expect(telemetry.parentOf(release!)).toBeUndefined();
  });

  it("makes each span the active context while the core calls the nodes, so the client's command spans nest in the attempt", async () => {
    const { telemetry } = instrumented();
    const lock = await redlockOn(grantingNodes(undefined as never, 3).map((node) => commandSpanning(node, telemetry.tracerProvider))).acquire('nested', 10_000);
    await lock.extend(10_000);
    await lock.release();

    const attempt = telemetry.named('redlock attempt')[0];
    const commandsIn = (parent: string) => telemetry.spans().filter((span) => span.name.startsWith('redis ') && telemetry.parentOf(span)?.name === parent);
    // At least one script call per node in each operation: every one of them is a child of our span.
    expect(commandsIn('redlock attempt').length).toBeGreaterThanOrEqual(3);
    expect(commandsIn('redlock attempt').every((span) => telemetry.parentOf(span) === attempt)).toBe(true);
    expect(commandsIn('redlock extend').length).toBeGreaterThanOrEqual(3);
    expect(commandsIn('redlock release').length).toBeGreaterThanOrEqual(3);
    expect(telemetry.spans().filter((span) => span.name.startsWith('redis ') && telemetry.parentOf(span) === undefined)).toEqual([]);
  });

  it("wraps the runInContext hook another subscriber set first: the call runs in both contexts", async () => {
    const theirs = new AsyncLocalStorage<string>();
    const { start } = diagnosticsChannel.tracingChannel(DIAGNOSTICS_CHANNELS.attempt);
    const onStart = (message: unknown): void => {
      (message as TracedCallContext).runInContext = (call) => theirs.run('their attempt', call);
    };
    start.subscribe(onStart);
    try {
      const { telemetry } = instrumented();
      const seen: (string | undefined)[] = [];
      const nodes = grantingNodes(undefined as never, 3).map((node): RedisAdapter => {
        const spanning = commandSpanning(node, telemetry.tracerProvider);
        return {
          evalsha: (sha1, keys, args) => {
            seen.push(theirs.getStore());
            return spanning.evalsha(sha1, keys, args);
          },
          eval: (source, keys, args) => {
            seen.push(theirs.getStore());
            return spanning.eval(source, keys, args);
          },
        };
      });
      await (await redlockOn(nodes).acquire('both', 10_000)).release();
      expect(seen.slice(0, 3)).toEqual(['their attempt', 'their attempt', 'their attempt']);
      const attempt = telemetry.named('redlock attempt')[0];
      const commands = telemetry.spans().filter((span) => span.name.startsWith('redis ') && telemetry.parentOf(span) === attempt);
      expect(commands.length).toBeGreaterThanOrEqual(3);
    } finally {
      start.unsubscribe(onStart);
    }
  });

  it('nests the command spans directly in the acquire span when attempt spans are off', async () => {
    const { telemetry } = instrumented({ attemptSpans: false });
    const lock = await redlockOn(grantingNodes(undefined as never, 3).map((node) => commandSpanning(node, telemetry.tracerProvider))).acquire('flat', 10_000);
    await lock.release();
    expect(telemetry.named('redlock attempt')).toEqual([]);
    const commands = telemetry.spans().filter((span) => span.name.startsWith('redis '));
    expect(commands.length).toBeGreaterThanOrEqual(3);
    expect(commands.map((span) => telemetry.parentOf(span)?.name)).toEqual(expect.arrayContaining(['redlock acquire', 'redlock release']));
    expect(commands.filter((span) => telemetry.parentOf(span) === undefined)).toEqual([]);
  });

  it("traces using()'s acquisition as `redlock using`, and the release after its routine", async () => {
    const { telemetry } = instrumented();
    const result = await redlockOn(grantingNodes(undefined as never, 3)).using('job', 10_000, async () => {
      expect(telemetry.named('redlock using')).toHaveLength(1);
      return 'done';
    });
    expect(result).toBe('done');
    expect(telemetry.named('redlock using')[0]?.attributes).toMatchObject({ 'redlock.operation': 'using', 'redlock.outcome': 'acquired' });
    expect(telemetry.named('redlock release')).toHaveLength(1);
    expect(await telemetry.pointsOf(REDLOCK_METRICS.holdDuration)).toEqual([expect.objectContaining({ value: 1 })]);
  });

  it('traces an extension with its TTL and the validity it left', async () => {
    const { telemetry } = instrumented();
    const lock = await redlockOn(grantingNodes(undefined as never, 3)).acquire('extended', 10_000);
    await lock.extend(20_000);
    await lock.release();
    const [extend] = telemetry.named('redlock extend');
    expect(extend?.attributes).toMatchObject({ 'redlock.operation': 'extend', 'redlock.ttl_ms': 20_000, 'redlock.resources': ['extended'] });
    expect(extend?.attributes['redlock.validity_ms']).toEqual(expect.any(Number));
  });

  it("ends a tryAcquire() that found the lock taken as not acquired, held by another owner, and not as an error", async () => {
    const { telemetry } = instrumented();
    const nodes = [refusingNode(), refusingNode(), refusingNode()];
    expect(await redlockOn(nodes).tryAcquire('taken', 10_000)).toBeUndefined();
    const [span] = telemetry.named('redlock tryAcquire');
    expect(span?.attributes).toMatchObject({ 'redlock.outcome': 'failed', 'redlock.failure.reason': 'held-by-another-owner' });
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
    expect(await telemetry.pointsOf(REDLOCK_METRICS.acquireFailures)).toEqual([
      expect.objectContaining({ attributes: { 'redlock.primitive': 'lock', 'redlock.failure.reason': 'held-by-another-owner' }, value: 1 }),
    ]);
  });

  it('records a failed acquisition as an error with its reason, and each failed node call as an event and a count', async () => {
    const { telemetry } = instrumented();
    const error = await redlockOn([failingNode(), failingNode(), failingNode()])
      .acquire('down', 10_000)
      .catch((rejection: unknown) => rejection);
    expect(error).toBeInstanceOf(LockAcquireError);

    const [acquire] = telemetry.named('redlock acquire');
    expect(acquire?.status).toEqual({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    expect(acquire?.attributes).toMatchObject({ 'error.type': 'LockAcquireError', 'redlock.outcome': 'failed', 'redlock.failure.reason': 'nodes-unreachable' });
    expect(acquire?.events.map((event) => event.name)).toContain('exception');
    const [attempt] = telemetry.named('redlock attempt');
    // Each node fails twice in the attempt: its acquisition, then the cleanup of the failed attempt.
    const nodeEvents = attempt?.events.filter((event) => event.name === 'redlock.node.error') ?? [];
    const failedCalls = nodeEvents.map((event) => `${String(event.attributes?.['redlock.node.operation'])} ${String(event.attributes?.['redlock.node.index'])}`);
    expect(failedCalls.sort()).toEqual(['acquire 0', 'acquire 1', 'acquire 2', 'cleanup 0', 'cleanup 1', 'cleanup 2']);

    const nodeErrors = await telemetry.pointsOf(REDLOCK_METRICS.nodeErrors);
    expect(nodeErrors.filter((point) => point.attributes['redlock.node.operation'] === 'acquire')).toHaveLength(3);
    expect(nodeErrors[0]).toMatchObject({ unit: '{error}', attributes: { 'error.type': expect.any(String) } });
    expect(await telemetry.pointsOf(REDLOCK_METRICS.acquireFailures)).toEqual([
      expect.objectContaining({ attributes: { 'redlock.primitive': 'lock', 'redlock.failure.reason': 'nodes-unreachable' }, value: 1 }),
    ]);
  });

  it('counts acquisitions, and records the wait and the hold time in seconds', async () => {
    const { telemetry } = instrumented();
    const redlock = redlockOn(grantingNodes(undefined as never, 3));
    for (const resource of ['a', 'b']) await (await redlock.acquire(resource, 10_000)).release();

    expect(await telemetry.pointsOf(REDLOCK_METRICS.acquisitions)).toEqual([
      { name: REDLOCK_METRICS.acquisitions, unit: '{acquisition}', attributes: { 'redlock.primitive': 'lock' }, value: 2 },
    ]);
    const [wait] = await telemetry.pointsOf(REDLOCK_METRICS.acquireDuration);
    expect(wait).toMatchObject({ unit: 's', value: 2, attributes: { 'redlock.primitive': 'lock', 'redlock.operation': 'acquire', 'redlock.outcome': 'acquired' } });
    const [hold] = await telemetry.pointsOf(REDLOCK_METRICS.holdDuration);
    expect(hold).toMatchObject({ unit: 's', value: 2, attributes: { 'redlock.primitive': 'lock', 'redlock.hold.end': 'released' } });
  });

  it('records the metrics of calls whose spans are not sampled, and keeps the unsampled span active for the commands', async () => {
    const { telemetry, instrumentation } = instrumented();
    const unsampled = new BasicTracerProvider({ sampler: new AlwaysOffSampler() });
    instrumentation.setTracerProvider(unsampled);
    const seen: (boolean | undefined)[] = [];
    const nodes = grantingNodes(undefined as never, 3).map(
      (node): RedisAdapter => ({
        evalsha: (sha1, keys, args) => node.evalsha(sha1, keys, args),
        eval: (source, keys, args) => {
          seen.push(trace.getSpan(context.active())?.isRecording());
          return node.eval(source, keys, args);
        },
      }),
    );
    await (await redlockOn(nodes).acquire('unsampled', 10_000)).release();

    expect(telemetry.spans()).toEqual([]);
    // The commands run in our (non-recording) span, so a client's spans follow its sampling decision.
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(new Set(seen)).toEqual(new Set([false]));
    expect(await telemetry.pointsOf(REDLOCK_METRICS.acquisitions)).toEqual([expect.objectContaining({ value: 1 })]);
    expect(await telemetry.pointsOf(REDLOCK_METRICS.holdDuration)).toEqual([
      expect.objectContaining({ attributes: { 'redlock.primitive': 'lock', 'redlock.hold.end': 'released' }, value: 1 }),
    ]);
    await unsampled.shutdown();
  });

  it('counts a lost lock and ends its hold time as lost', async () => {
    const { telemetry } = instrumented();
    const nodes = grantingNodes(undefined as never, 3);
    const lock = await redlockOn(nodes).acquire('lost', 10_000);
    for (const node of nodes.slice(0, 2)) node.keyspace.delete('lost');
    await lock.extend(10_000).catch(() => undefined);

    expect(await telemetry.pointsOf(REDLOCK_METRICS.locksLost)).toEqual([expect.objectContaining({ attributes: { 'redlock.lost.reason': 'quorum-lost' }, value: 1 })]);
    expect(await telemetry.pointsOf(REDLOCK_METRICS.holdDuration)).toEqual([
      expect.objectContaining({ attributes: { 'redlock.primitive': 'lock', 'redlock.hold.end': 'lost' }, value: 1 }),
    ]);
    expect(telemetry.named('redlock extend')[0]?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('records no lock token in any span or metric, failures included', async () => {
    const { telemetry } = instrumented();
    const nodes = grantingNodes(undefined as never, 3);
    const redlock = redlockOn(nodes);
    const tokens: string[] = [];
    const lock = await redlock.acquire('secret', 10_000);
    tokens.push(lock.token);
    const inner = await redlock.acquire('secret', 10_000, { reentrant: lock });
    tokens.push(inner.token);
    await inner.release();
    await lock.extend(10_000);
    await lock.release();
    const other = await redlock.acquire('secret', 10_000);
    tokens.push(other.token);
    for (const node of nodes) node.keyspace.delete('secret');
    await other.extend(10_000).catch(() => undefined);
    await other.release().catch(() => undefined);

    const recorded = await telemetry.serialized();
    expect(recorded).toContain('secret');
    for (const token of tokens) expect(recorded).not.toContain(token);
  });
});

describe('RedlockInstrumentation on semaphores and read-write locks', () => {
  it('traces a semaphore acquire, extend and release with the permits', async () => {
    const { telemetry } = instrumented();
    const permit = await redlockOn(grantingNodes(undefined as never, 3)).semaphore('jobs', { limit: 3 }).acquire(10_000, { permits: 2 });
    await permit.extend(10_000);
    await permit.release();

    expect(telemetry.spans().map((span) => span.name)).toEqual(
      expect.arrayContaining(['redlock semaphore acquire', 'redlock semaphore extend', 'redlock semaphore release']),
    );
    expect(telemetry.named('redlock semaphore acquire')[0]?.attributes).toMatchObject({
      'redlock.primitive': 'semaphore',
      'redlock.operation': 'acquire',
      'redlock.resources': ['jobs'],
      'redlock.permits': 2,
      'redlock.outcome': 'acquired',
    });
    expect(await telemetry.pointsOf(REDLOCK_METRICS.holdDuration)).toEqual([
      expect.objectContaining({ attributes: { 'redlock.primitive': 'semaphore', 'redlock.hold.end': 'released' }, value: 1 }),
    ]);
  });

  it('times each of several holds at once from its own acquisition, released in any order', async () => {
    const { telemetry } = instrumented();
    const redlock = redlockOn(grantingNodes(undefined as never, 3));
    const semaphore = redlock.semaphore('jobs', { limit: 3 });
    const first = await semaphore.acquire(10_000);
    const readers = redlock.readWriteLock('catalog');
    const firstReader = await readers.acquireRead(10_000);
    await sleep(40);
    const second = await semaphore.acquire(10_000);
    const secondReader = await readers.acquireRead(10_000);
    // The later holds end first: pairing by resource, oldest first, would time them from the first ones.
    await second.release();
    await secondReader.release();
    await sleep(40);
    await first.release();
    await firstReader.release();

    const holds = await telemetry.pointsOf(REDLOCK_METRICS.holdDuration);
    const semaphoreHold = holds.find((point) => point.attributes['redlock.primitive'] === 'semaphore');
    const readWriteHold = holds.find((point) => point.attributes['redlock.primitive'] === 'read-write');
    for (const hold of [semaphoreHold, readWriteHold]) {
      expect(hold?.value).toBe(2);
      // One hold of ~0 ms, one of ~80 ms: exact pairing; paired oldest first they would be ~40 ms each.
      expect(hold?.min).toBeLessThan(0.035);
      expect(hold?.max).toBeGreaterThanOrEqual(0.075);
    }
  });

  it('traces a read-write lock with its mode, and a single try that found it taken', async () => {
    const { telemetry } = instrumented();
    const redlock = redlockOn(grantingNodes(undefined as never, 3));
    const readWrite = redlock.readWriteLock('catalog');
    const reading = await readWrite.acquireRead(10_000);
    expect(await readWrite.tryAcquireWrite(10_000)).toBeUndefined();
    await reading.release();

    expect(telemetry.named('redlock read-write acquire')[0]?.attributes).toMatchObject({ 'redlock.primitive': 'read-write', 'redlock.mode': 'read', 'redlock.outcome': 'acquired' });
    const [miss] = telemetry.named('redlock read-write tryAcquire');
    expect(miss?.attributes).toMatchObject({ 'redlock.mode': 'write', 'redlock.outcome': 'failed', 'redlock.failure.reason': 'held-by-another-owner' });
    expect(telemetry.named('redlock read-write release')).toHaveLength(1);
  });
});

describe('RedlockInstrumentation as an instrumentation', () => {
  const tracingChannels = [DIAGNOSTICS_CHANNELS.acquire, DIAGNOSTICS_CHANNELS.attempt, DIAGNOSTICS_CHANNELS.release, DIAGNOSTICS_CHANNELS.holdAcquire];
  const isSubscribed = (): boolean =>
    tracingChannels.some((name) => diagnosticsChannel.tracingChannel(name).asyncEnd.hasSubscribers) ||
    diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.nodeError).hasSubscribers ||
    diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.lockLost).hasSubscribers;

  it('stops everything on disable(), and works again after enable()', async () => {
    const { telemetry, instrumentation } = instrumented();
    const redlock = redlockOn(grantingNodes(undefined as never, 3));
    instrumentation.disable();
    expect(isSubscribed()).toBe(false);
    expect(instrumentation.getConfig().enabled).toBe(false);
    await (await redlock.acquire('off', 10_000)).release();
    expect(telemetry.spans()).toEqual([]);
    expect(await telemetry.points()).toEqual([]);

    instrumentation.enable();
    expect(instrumentation.getConfig().enabled).toBe(true);
    await (await redlock.acquire('on', 10_000)).release();
    expect(telemetry.named('redlock acquire')).toHaveLength(1);
  });

  it('subscribes once however many times enable() is called', async () => {
    const { telemetry, instrumentation } = instrumented();
    instrumentation.enable();
    instrumentation.enable();
    await (await redlockOn(grantingNodes(undefined as never, 3)).acquire('once', 10_000)).release();
    expect(telemetry.named('redlock acquire')).toHaveLength(1);
    expect(await telemetry.pointsOf(REDLOCK_METRICS.acquisitions)).toEqual([expect.objectContaining({ value: 1 })]);
    instrumentation.disable();
    expect(isSubscribed()).toBe(false);
  });

  it('is not enabled by the constructor with enabled: false', () => {
    const instrumentation = new RedlockInstrumentation({ enabled: false });
    expect(isSubscribed()).toBe(false);
    expect(instrumentation.getConfig()).toEqual({ enabled: false, attemptSpans: true });
  });

  it('uses the global providers when given none: a tracer provider set after it, a meter provider set before', async () => {
    const telemetry = new Telemetry();
    metrics.setGlobalMeterProvider(telemetry.meterProvider);
    const instrumentation = new RedlockInstrumentation();
    trace.setGlobalTracerProvider(telemetry.tracerProvider);
    try {
      await (await redlockOn(grantingNodes(undefined as never, 3)).acquire('global', 10_000)).release();
    } finally {
      instrumentation.disable();
      trace.disable();
      metrics.disable();
    }
    expect(telemetry.named('redlock acquire')).toHaveLength(1);
    expect(await telemetry.pointsOf(REDLOCK_METRICS.acquisitions)).toEqual([expect.objectContaining({ value: 1 })]);
    await telemetry.shutdown();
  });

  it('makes spans and metrics with the providers set last', async () => {
    const { telemetry: first, instrumentation } = instrumented();
    const second = new Telemetry();
    const redlock = redlockOn(grantingNodes(undefined as never, 3));
    await (await redlock.acquire('first', 10_000)).release();
    instrumentation.setTracerProvider(second.tracerProvider);
    instrumentation.setMeterProvider(second.meterProvider);
    await (await redlock.acquire('second', 10_000)).release();

    expect(first.named('redlock acquire').map((span) => span.attributes['redlock.resources'])).toEqual([['first']]);
    expect(second.named('redlock acquire').map((span) => span.attributes['redlock.resources'])).toEqual([['second']]);
    expect(await first.pointsOf(REDLOCK_METRICS.acquisitions)).toEqual([expect.objectContaining({ value: 1 })]);
    expect(await second.pointsOf(REDLOCK_METRICS.acquisitions)).toEqual([expect.objectContaining({ value: 1 })]);
    await second.shutdown();
  });

  it('applies setConfig() at once: attempt spans off, then on again', async () => {
    const { telemetry, instrumentation } = instrumented();
    const redlock = redlockOn(grantingNodes(undefined as never, 3));
    instrumentation.setConfig({ attemptSpans: false });
    await (await redlock.acquire('a', 10_000)).release();
    expect(telemetry.named('redlock attempt')).toEqual([]);
    instrumentation.setConfig({});
    await (await redlock.acquire('b', 10_000)).release();
    expect(telemetry.named('redlock attempt')).toHaveLength(1);
  });

  it("is enabled by OpenTelemetry's registerInstrumentations() with the providers it is given, and disabled by its undo", async () => {
    const telemetry = new Telemetry();
    const instrumentation: Instrumentation = new RedlockInstrumentation({ enabled: false });
    const unregister = registerInstrumentations({
      instrumentations: [instrumentation],
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
    });
    await (await redlockOn(grantingNodes(undefined as never, 3)).acquire('registered', 10_000)).release();
    unregister();
    expect(isSubscribed()).toBe(false);
    expect(telemetry.named('redlock acquire')).toHaveLength(1);
    expect(instrumentation.instrumentationName).toBe('redlock-opentelemetry');
    expect(telemetry.spans()[0]?.instrumentationScope).toEqual({ name: 'redlock-opentelemetry', version: PACKAGE_VERSION, schemaUrl: undefined });
    await telemetry.shutdown();
  });

  it("reports this package's version", () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(new RedlockInstrumentation({ enabled: false }).instrumentationVersion).toBe(manifest.version);
  });
});
