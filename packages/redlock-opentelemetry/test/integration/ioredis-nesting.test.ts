import diagnosticsChannel from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { context, type Span, SpanKind, type Tracer } from '@opentelemetry/api';
import { Redis } from 'ioredis';
import { type LocalRedisNodes, startRedisNodes } from 'local-redis-nodes';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { RedlockInstrumentation } from '../../src/index.js';
import { Telemetry, useStandardContextManager } from '../support/telemetry.js';

// On real redis-server nodes with ioredis and the standard AsyncLocalStorageContextManager (what the
// NodeSDK installs): ioredis' command spans are children of the attempt, extend and release spans.
// The command spans come from ioredis' own `ioredis:command` tracing channel (ioredis 5.11 and later),
// started from `context.active()` when the command is sent, as a client instrumentation does.

/** Spans for ioredis' commands, from its tracing channel; returns what unsubscribes. */
function traceIoredisCommands(tracer: Tracer): () => void {
  const channel = diagnosticsChannel.tracingChannel<unknown, { readonly command: string } & object>('ioredis:command');
  const spans = new WeakMap<object, Span>();
  const end = (message: object): void => spans.get(message)?.end();
  const handlers = {
    start: (message: { readonly command: string } & object) => {
      spans.set(message, tracer.startSpan(`redis ${message.command.toUpperCase()}`, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'redis' } }, context.active()));
    },
    end: () => undefined,
    asyncStart: () => undefined,
    asyncEnd: end,
    error: () => undefined,
  };
  channel.subscribe(handlers);
  return () => channel.unsubscribe(handlers);
}

let nodes: LocalRedisNodes | undefined;
let urls: readonly string[];
let clients: Redis[] = [];
let restoreContextManager: () => void;

beforeAll(async () => {
  restoreContextManager = useStandardContextManager();
  const fromEnv = process.env['REDLOCK_TEST_NODES']?.split(',').map((url) => url.trim());
  if (fromEnv === undefined) nodes = await startRedisNodes({ count: 3 });
  urls = fromEnv?.slice(0, 3) ?? nodes?.urls ?? [];
  clients = urls.map((url) => new Redis(url, { maxRetriesPerRequest: 0 }));
  await Promise.all(clients.map((client) => client.ping()));
}, 30_000);

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await nodes?.stop();
  restoreContextManager();
});

describe('RedlockInstrumentation with ioredis on real nodes', () => {
  it("nests ioredis' command spans in the attempt, extend and release spans, retries included", async () => {
    const telemetry = new Telemetry();
    const instrumentation = new RedlockInstrumentation();
    instrumentation.setTracerProvider(telemetry.tracerProvider);
    instrumentation.setMeterProvider(telemetry.meterProvider);
    const stopCommandSpans = traceIoredisCommands(telemetry.tracerProvider.getTracer('ioredis-commands'));
    const adapters = clients.map((client) => new IoredisAdapter(client));
    const prefix = `otel-nesting-${process.pid}:`;
    const ours = new Redlock(adapters, { keyPrefix: prefix, retryDelayMs: 50, retryCount: 40 });
    const other = new Redlock(adapters, { keyPrefix: prefix });
    const tokens: string[] = [];
    try {
      // Another owner holds the lock for 150 ms: ours retries, each attempt sending its own commands.
      const held = await other.acquire('report', 5_000);
      tokens.push(held.token);
      const releasing = new Promise((resolve) => setTimeout(resolve, 150)).then(() => held.release());
      const lock = await ours.acquire('report', 5_000);
      tokens.push(lock.token);
      await releasing;
      await lock.extend(5_000);
      await lock.release();
    } finally {
      stopCommandSpans();
      instrumentation.disable();
      await Promise.all([ours.close(), other.close()]);
    }

    const acquire = telemetry.named('redlock acquire').find((span) => (span.attributes['redlock.attempts'] as number) >= 2 && telemetry.parentOf(span) === undefined);
    expect(acquire).toBeDefined();
    const attempts = telemetry.named('redlock attempt').filter((span) => telemetry.parentOf(span) === acquire);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    const commandsUnder = (parent: unknown) => telemetry.spans().filter((span) => span.name.startsWith('redis ') && telemetry.parentOf(span) === parent);
    // Every attempt that asked the nodes has its command spans as children: a plain SET NX PX GET or the
    // acquire script (EVALSHA), whichever the core chose for it, which depends on how it was woken.
    expect(attempts.filter((attempt) => commandsUnder(attempt).length > 0).length).toBeGreaterThanOrEqual(2);
    const lastAttemptCommands = commandsUnder(attempts.at(-1)).map((span) => span.name);
    expect(lastAttemptCommands.length).toBeGreaterThanOrEqual(2);
    expect(lastAttemptCommands.filter((name) => !['redis SET', 'redis EVALSHA', 'redis EVAL'].includes(name))).toEqual([]);
    const [extend] = telemetry.named('redlock extend');
    expect(commandsUnder(extend).length).toBeGreaterThanOrEqual(2);
    const ourRelease = telemetry.named('redlock release').at(-1);
    expect(commandsUnder(ourRelease).length).toBeGreaterThanOrEqual(2);
    expect(commandsUnder(ourRelease).every((span) => span.kind === SpanKind.CLIENT)).toBe(true);

    const recorded = await telemetry.serialized();
    for (const token of tokens) expect(recorded).not.toContain(token);
    await telemetry.shutdown();
  });
});
