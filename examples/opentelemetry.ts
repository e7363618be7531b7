// Shows the core's diagnostics channels turned into OpenTelemetry spans and metrics, with ioredis' own command spans nested inside.
// Run: `pnpm --filter redlock-examples run opentelemetry` (REDIS_URLS=... to use your own nodes).
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { type Attributes, type Context, type ContextManager, context, ROOT_CONTEXT, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import {
  type AcquireTraceContext,
  type AttemptTraceContext,
  DIAGNOSTICS_CHANNELS,
  type ExtendTraceContext,
  LockAcquireError,
  type LockLostMessage,
  type NodeErrorMessage,
  Redlock,
  type ReleaseTraceContext,
} from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { openExampleNodes } from './redis-nodes.js';

/**
 * OpenTelemetry's context kept in an AsyncLocalStorage of our own, so that tracing channels can bind it
 * on their `start` (`channel.start.bindStore`): what an APM does to make spans nest across async calls.
 */
class StoreContextManager implements ContextManager {
  readonly storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(active: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.storage.run(active, () => fn.apply(thisArg, args));
  }
  bind<T>(active: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (thisArg: unknown, args: unknown[]): unknown => this.with(active, () => (target as (...args: unknown[]) => unknown).apply(thisArg, args));
    return function (this: unknown, ...args: unknown[]) {
      return run(this, args);
    } as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

/** Collects metrics when asked: `collect()` is all this example needs. */
class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const contextManager = new StoreContextManager();
context.setGlobalContextManager(contextManager);
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(tracerProvider);
const tracer = trace.getTracer('redlock-example');
const reader = new CollectingReader();
const meter = new MeterProvider({ readers: [reader] }).getMeter('redlock-example');

const acquireDuration = meter.createHistogram('redlock.acquire.duration', { unit: 'ms', description: 'Time to get a lock, or to give up' });
const attemptCount = meter.createCounter('redlock.attempts', { description: 'Attempts, by outcome' });
const nodeErrors = meter.createCounter('redlock.node.errors', { description: 'Failed node calls, by node and operation' });
const locksLost = meter.createCounter('redlock.locks.lost', { description: 'Held locks that could no longer be guaranteed' });

/**
 * Turns one tracing channel into spans: a span starts on `start`, as a child of the active context, and
 * becomes the active context for everything the call does; it ends on `asyncEnd`, with the result's
 * attributes, or with the error recorded.
 */
function spansFor<C extends { readonly result?: unknown; readonly error?: unknown }>(
  channelName: string,
  spanName: (message: C) => string,
  startAttributes: (message: C) => Attributes,
  resultAttributes: (message: C) => Attributes,
  onEnd?: (message: C, durationMs: number) => void,
): void {
  const channel = diagnosticsChannel.tracingChannel<unknown, C & object>(channelName);
  const spans = new WeakMap<object, { readonly span: Span; readonly startedAt: number }>();
  channel.start.bindStore(contextManager.storage, (message) => {
    const span = tracer.startSpan(spanName(message), { attributes: startAttributes(message) }, contextManager.active());
    spans.set(message, { span, startedAt: performance.now() });
    return trace.setSpan(contextManager.active(), span);
  });
  const ignore = (): void => undefined;
  channel.subscribe({
    start: ignore,
    end: ignore,
    asyncStart: ignore,
    error(message) {
      const span = spans.get(message)?.span;
      const { error } = message;
      if (error instanceof Error) span?.recordException(error);
      span?.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : String(error) });
    },
    asyncEnd(message) {
      const started = spans.get(message);
      if (started === undefined) return;
      if (message.error === undefined) started.span.setAttributes(resultAttributes(message));
      started.span.end();
      onEnd?.(message, performance.now() - started.startedAt);
    },
  });
}

spansFor<AcquireTraceContext>(
  DIAGNOSTICS_CHANNELS.acquire,
  (message) => `redlock ${message.operation}`,
  (message) => ({
    'redlock.resources': [...message.resources],
    'redlock.ttl_ms': message.ttlMs,
    'redlock.quorum': message.quorum,
    'redlock.node_count': message.nodeCount,
  }),
  ({ result }) => ({
    'redlock.acquired': result?.isAcquired ?? false,
    'redlock.attempts': result?.attempts ?? 0,
    'redlock.validity_ms': Math.round(result?.remainingValidityMs ?? 0),
    'redlock.node_statuses': (result?.nodes ?? []).map((node) => node?.status ?? 'pending'),
  }),
  (message, durationMs) => {
    const outcome = message.error instanceof LockAcquireError ? message.error.reason : message.error !== undefined ? 'error' : message.result?.isAcquired ? 'acquired' : 'held-by-another-owner';
    acquireDuration.record(durationMs, { 'redlock.operation': message.operation, 'redlock.outcome': outcome });
  },
);
spansFor<AttemptTraceContext>(
  DIAGNOSTICS_CHANNELS.attempt,
  (message) => `redlock attempt ${message.attemptNumber}`,
  (message) => ({ 'redlock.attempt': message.attemptNumber, 'redlock.asks_lead_first': message.asksLeadFirst }),
  ({ result }) => ({
    'redlock.outcome': result?.outcome ?? 'unknown',
    'redlock.node_statuses': (result?.nodes ?? []).map((node) => node.status),
    'redlock.node_latencies_ms': (result?.nodes ?? []).map((node) => Math.round((node.latencyMs ?? -1) * 10) / 10),
  }),
  (message) => attemptCount.add(1, { 'redlock.outcome': message.result?.outcome ?? 'error' }),
);
spansFor<ExtendTraceContext>(
  DIAGNOSTICS_CHANNELS.extend,
  () => 'redlock extend',
  (message) => ({ 'redlock.resources': [...message.resources], 'redlock.ttl_ms': message.ttlMs }),
  ({ result }) => ({ 'redlock.validity_ms': Math.round(result?.remainingValidityMs ?? 0) }),
);
spansFor<ReleaseTraceContext>(
  DIAGNOSTICS_CHANNELS.release,
  () => 'redlock release',
  (message) => ({ 'redlock.resources': [...message.resources] }),
  ({ result }) => ({ 'redlock.released_count': result?.releasedCount ?? 0 }),
);

// ioredis 5.11 and later publishes every command on `ioredis:command`. Its span nests under the
// attempt that sent it. Only the command's name is recorded: its arguments include the lock's token.
interface IoredisCommandContext {
  readonly command: string;
  readonly serverPort: number | undefined;
  readonly error?: unknown;
}
spansFor<IoredisCommandContext>(
  'ioredis:command',
  (message) => `redis ${message.command.toUpperCase()}`,
  (message) => ({ 'db.system.name': 'redis', 'db.operation.name': message.command.toUpperCase(), 'server.port': message.serverPort ?? 0 }),
  () => ({}),
);

diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.nodeError, (message) => {
  const { nodeIndex, operation, error } = message as NodeErrorMessage;
  const kind = error.isTimeout ? 'timeout' : error.isDown ? 'down' : 'error';
  nodeErrors.add(1, { 'redlock.node': nodeIndex, 'redlock.operation': operation, 'redlock.kind': kind });
  trace.getActiveSpan()?.addEvent('redlock.node.error', { 'redlock.node': nodeIndex, 'redlock.operation': operation, 'exception.message': error.message });
});
diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.lockLost, (message) => {
  const { reason } = message as LockLostMessage;
  locksLost.add(1, { 'redlock.reason': reason });
});

const nodes = await openExampleNodes();
// A client whose connection is closed, in place of node 4 for one Redlock: its calls fail at once.
const brokenClient = new Redis(nodes.urls[4] as string, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
const tokens: string[] = [];
try {
  const redlock = new Redlock(nodes.adapters, { keyPrefix: 'otel-example:', retryDelayMs: 100 });
  // Another process, as far as the locks go: its own Redlock on the same nodes.
  const other = new Redlock(nodes.adapters, { keyPrefix: 'otel-example:' });
  const degraded = new Redlock([...nodes.adapters.slice(0, 4), new IoredisAdapter(brokenClient)], { keyPrefix: 'otel-example:' });

  // 1. Contention: the other owner holds the lock for 250 ms; ours retries until it is released.
  const held = await other.acquire('reports:daily', 5_000);
  tokens.push(held.token);
  setTimeout(() => void held.release(), 250);
  const lock = await redlock.acquire('reports:daily', 5_000);
  tokens.push(lock.token);
  console.log(`acquired after ${lock.attempts} attempts; per node: ${lock.nodes.map((node) => node?.status ?? 'pending').join(', ')}`);
  await lock.extend(5_000);
  await lock.release();

  // 2. A single try while another owner holds the lock: `undefined`, traced as not acquired.
  const blocker = await other.acquire('reports:weekly', 5_000);
  tokens.push(blocker.token);
  console.log(`tryAcquire while held: ${String(await redlock.tryAcquire('reports:weekly', 5_000))}`);
  await blocker.release();

  // 3. A degraded Redlock: node 4 fails, the other four still make a quorum, and node.error reports it.
  const degradedLock = await degraded.acquire('reports:monthly', 5_000);
  tokens.push(degradedLock.token);
  console.log(`degraded: node 4 ${degradedLock.nodes[4]?.status ?? 'pending'}; stats: ${JSON.stringify(degraded.stats().nodes[4])}`);
  await degradedLock.release();
  await Promise.all([redlock.close(), other.close(), degraded.close()]);
} finally {
  brokenClient.disconnect();
  await nodes.close();
}

// Everything below checks and prints what the channels gave OpenTelemetry.
const spans = exporter.getFinishedSpans();
const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]));
const parentOf = (span: ReadableSpan): ReadableSpan | undefined => {
  const parentId = span.parentSpanContext?.spanId;
  return parentId === undefined ? undefined : byId.get(parentId);
};
const named = (prefix: string): ReadableSpan[] => spans.filter((span) => span.name.startsWith(prefix));

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`OpenTelemetry example: expected ${what}`);
}
const contended = named('redlock acquire').find((span) => span.attributes['redlock.resources']?.toString() === 'reports:daily' && parentOf(span) === undefined && (span.attributes['redlock.attempts'] as number) >= 2);
check(contended !== undefined, 'an acquire span for reports:daily with at least 2 attempts');
const attemptsOfContended = named('redlock attempt').filter((span) => parentOf(span) === contended);
// A woken waiter that finds the lock taken again at the lead node does not count that look as an attempt.
check(attemptsOfContended.length >= (contended?.attributes['redlock.attempts'] as number), 'an attempt span per attempt, each a child of its acquire span');
const nestedCommands = named('redis EVAL').filter((span) => attemptsOfContended.includes(parentOf(span) as ReadableSpan));
check(nestedCommands.length >= 5, "ioredis' EVALSHA/EVAL spans nested under the attempt spans");
check(named('redlock extend').length === 1 && named('redlock release').length >= 3, 'the extend and release spans');
const miss = named('redlock tryAcquire')[0];
check(miss?.attributes['redlock.acquired'] === false && miss.status.code !== SpanStatusCode.ERROR, 'a tryAcquire span that is not acquired and not an error');
const events = spans.flatMap((span) => span.events.filter((event) => event.name === 'redlock.node.error'));
check(events.some((event) => event.attributes?.['redlock.node'] === 4), 'a node.error event for the broken node 4');
const published = JSON.stringify(spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events })));
check(tokens.length === 4 && tokens.every((token) => !published.includes(token)), 'no lock token in any span');

function printTree(span: ReadableSpan, depth: number): void {
  const durationMs = span.duration[0] * 1_000 + span.duration[1] / 1e6;
  const attributes = Object.entries(span.attributes)
    .filter(([key]) => key.startsWith('redlock.') && key !== 'redlock.resources')
    .map(([key, value]) => `${key.slice('redlock.'.length)}=${Array.isArray(value) ? `[${value.join(',')}]` : String(value)}`);
  const status = span.status.code === SpanStatusCode.ERROR ? ' ERROR' : '';
  console.log(`${'  '.repeat(depth)}${span.name} ${durationMs.toFixed(1)} ms${status} ${attributes.join(' ')}`.trimEnd());
  for (const child of spans.filter((candidate) => parentOf(candidate) === span)) printTree(child, depth + 1);
}
console.log('\nspans (redis commands outside a lock operation left out):');
for (const root of spans.filter((span) => parentOf(span) === undefined && span.name.startsWith('redlock'))) printTree(root, 1);

const { resourceMetrics } = await reader.collect();
console.log('\nmetrics:');
for (const metric of resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)) {
  for (const point of metric.dataPoints) {
    const value = metric.dataPointType === DataPointType.HISTOGRAM ? `count=${(point.value as { count: number }).count}` : String(point.value);
    console.log(`  ${metric.descriptor.name} ${JSON.stringify(point.attributes)} ${value}`);
  }
}
console.log('\nOpenTelemetry example: every expected span was seen, none holds a token');
