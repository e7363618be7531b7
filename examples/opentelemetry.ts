// Shows redlock-opentelemetry: spans and metrics for every lock operation, with ioredis' command spans nested inside.
// Run: `pnpm --filter redlock-examples run opentelemetry` (REDIS_URLS=... to use your own nodes).
import diagnosticsChannel from 'node:diagnostics_channel';
import { context, metrics, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { RedlockInstrumentation } from 'redlock-opentelemetry';
import { openExampleNodes } from './redis-nodes.js';

/** Collects metrics when asked: `collect()` is all this example needs. */
class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

// The SDK as an application sets it up (the NodeSDK does the same): the standard context manager, and a
// tracer and a meter provider, here in memory so the example can print what they got.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
const reader = new CollectingReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

// The instrumentation: one line.
registerInstrumentations({ instrumentations: [new RedlockInstrumentation()] });

// The client's command spans, as an ioredis instrumentation makes them: here from ioredis' own
// `ioredis:command` channel (ioredis 5.11 and later), started from the active context, which is the
// attempt that sent the command. Only the command's name is recorded.
const commandSpans = new WeakMap<object, Span>();
diagnosticsChannel.tracingChannel<unknown, { readonly command: string } & object>('ioredis:command').subscribe({
  start: (message) => void commandSpans.set(message, trace.getTracer('ioredis-commands').startSpan(`redis ${message.command.toUpperCase()}`, { kind: SpanKind.CLIENT })),
  end: () => undefined,
  asyncStart: () => undefined,
  asyncEnd: (message) => commandSpans.get(message)?.end(),
  error: () => undefined,
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
  console.log(`acquired after ${lock.attempts} attempts`);
  await lock.extend(5_000);
  await lock.release();

  // 2. A single try while another owner holds the lock: `undefined`, traced as failed but not an error.
  const blocker = await other.acquire('reports:weekly', 5_000);
  tokens.push(blocker.token);
  console.log(`tryAcquire while held: ${String(await redlock.tryAcquire('reports:weekly', 5_000))}`);
  await blocker.release();

  // 3. A degraded Redlock: node 4 fails, the other four still make a quorum; its errors are counted.
  const degradedLock = await degraded.acquire('reports:monthly', 5_000);
  tokens.push(degradedLock.token);
  await degradedLock.release();

  // 4. A semaphore: its own spans and metrics, through the same instrumentation.
  const permit = await redlock.semaphore('exports', { limit: 2 }).acquire(5_000);
  await permit.release();
  await Promise.all([redlock.close(), other.close(), degraded.close()]);
} finally {
  brokenClient.disconnect();
  await nodes.close();
}

// Everything below checks and prints what OpenTelemetry got.
const spans = exporter.getFinishedSpans();
const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]));
const parentOf = (span: ReadableSpan): ReadableSpan | undefined => byId.get(span.parentSpanContext?.spanId ?? '');
const named = (name: string): ReadableSpan[] => spans.filter((span) => span.name === name);
function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`OpenTelemetry example: expected ${what}`);
}
const contended = named('redlock acquire').find((span) => span.attributes['redlock.resources']?.toString() === 'reports:daily' && (span.attributes['redlock.attempts'] as number) >= 2);
check(contended !== undefined && parentOf(contended) === undefined, 'a root acquire span for reports:daily with at least 2 attempts');
const attempts = named('redlock attempt').filter((span) => parentOf(span) === contended);
check(attempts.length >= 2, 'an attempt span per attempt, each a child of its acquire span');
check(spans.filter((span) => span.name.startsWith('redis EVAL') && attempts.includes(parentOf(span) as ReadableSpan)).length >= 5, "ioredis' EVALSHA/EVAL spans nested in the attempt spans");
const miss = named('redlock tryAcquire')[0];
check(miss?.attributes['redlock.failure.reason'] === 'held-by-another-owner' && miss.status.code !== SpanStatusCode.ERROR, 'a tryAcquire span that failed, not as an error');
check(named('redlock semaphore acquire').length === 1 && named('redlock semaphore release').length === 1, 'the semaphore spans');
const published = JSON.stringify(spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events })));
check(tokens.length === 4 && tokens.every((token) => !published.includes(token)), 'no lock token in any span');

function printTree(span: ReadableSpan, depth: number): void {
  const durationMs = span.duration[0] * 1_000 + span.duration[1] / 1e6;
  const attributes = Object.entries(span.attributes)
    .filter(([key]) => key.startsWith('redlock.') && !['redlock.resources', 'redlock.primitive', 'redlock.operation'].includes(key))
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
