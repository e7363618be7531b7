// What redlock-opentelemetry costs a lone lock (issue 60): a serial acquire+release loop on 5 local nodes
// with the instrumentation off; with no-op subscribers on the core's acquire, attempt and release channels
// instead (what the core's own tracing costs, whoever listens); on with spans that are not sampled; and
// on with a real export pipeline (the SDK's BatchSpanProcessor and PeriodicExportingMetricReader, OTLP
// over HTTP/JSON to a local sink that reads each request and answers 200), with and without attempt
// spans. In every mode the standard AsyncLocalStorageContextManager is installed and its
// AsyncLocalStorage in use, as in an application under the NodeSDK (on Node 20 that turns on the promise
// hooks, whoever uses them first). Modes alternate within each round, their order rotating; each figure
// is the median over the rounds. Run after `pnpm run build`.
// Usage: node bench/scripts/opentelemetry-cost.mjs [--rounds=7] [--cycles=3000]
//
// Figures per acquire+release: wall µs (the loop's time over its cycles, the export's flush at the end of
// the window included) and client CPU µs (process.cpuUsage(): the nodes run in processes of their own).
import diagnosticsChannel from 'node:diagnostics_channel';
import { createServer } from 'node:http';
import { context, metrics, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { AlwaysOffSampler, BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import { startRedisNodes } from 'local-redis-nodes';
import { DIAGNOSTICS_CHANNELS, Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { RedlockInstrumentation } from 'redlock-opentelemetry';

const flags = Object.fromEntries(process.argv.slice(2).filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')));
const ROUNDS = Number(flags.rounds ?? 7);
const CYCLES = Number(flags.cycles ?? 3_000);
const WARMUP_CYCLES = 500;

/** An OTLP/HTTP endpoint that reads every request to its end and accepts it: what a collector does first. */
async function startSink() {
  const received = { requests: 0, bytes: 0 };
  const server = createServer((request, response) => {
    request.on('data', (chunk) => (received.bytes += chunk.length));
    request.on('end', () => {
      received.requests += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, received, close: () => new Promise((resolve) => server.close(resolve)) };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const nodes = await startRedisNodes({ count: 5 });
const sink = await startSink();
const clients = nodes.urls.map((url) => new Redis(url));
await Promise.all(clients.map((client) => client.ping()));
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
context.with(ROOT_CONTEXT, () => undefined);
const exported = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${sink.url}/v1/traces` }))] });
const unsampled = new BasicTracerProvider({ sampler: new AlwaysOffSampler() });
const meterProvider = new MeterProvider({
  readers: [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${sink.url}/v1/metrics` }), exportIntervalMillis: 1_000 })],
});
metrics.setGlobalMeterProvider(meterProvider);
trace.setGlobalTracerProvider(exported);
const instrumentation = new RedlockInstrumentation({ enabled: false });
instrumentation.setMeterProvider(meterProvider);
const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)));

const noOp = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} };
const coreChannels = [DIAGNOSTICS_CHANNELS.acquire, DIAGNOSTICS_CHANNELS.attempt, DIAGNOSTICS_CHANNELS.release].map((name) => diagnosticsChannel.tracingChannel(name));
/** Enables the instrumentation afresh with these spans. */
function enableWith(tracerProvider, attemptSpans) {
  instrumentation.disable();
  instrumentation.setConfig({ attemptSpans });
  instrumentation.setTracerProvider(tracerProvider);
  instrumentation.enable();
}
/** Each mode, set up from any other. */
const MODES = {
  off: () => instrumentation.disable(),
  'core channels, no-op subscribers': () => {
    instrumentation.disable();
    for (const channel of coreChannels) channel.subscribe(noOp);
  },
  'on, not sampled': () => enableWith(unsampled, true),
  'on, OTLP export': () => enableWith(exported, true),
  'on, OTLP export, no attempt spans': () => enableWith(exported, false),
};

async function loop(cycles) {
  for (let cycle = 0; cycle < cycles; cycle += 1) {
    const lock = await redlock.acquire('bench:otel', 10_000);
    await lock.release();
  }
}

const results = Object.fromEntries(Object.keys(MODES).map((mode) => [mode, { wallUs: [], cpuUs: [] }]));
const names = Object.keys(MODES);
try {
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const mode of names.map((_, index) => names[(index + round) % names.length])) {
      for (const channel of coreChannels) channel.unsubscribe(noOp);
      MODES[mode]();
      await loop(WARMUP_CYCLES);
      await exported.forceFlush();
      const cpuBefore = process.cpuUsage();
      const startedAt = performance.now();
      await loop(CYCLES);
      if (mode.includes('OTLP')) await exported.forceFlush();
      const wallMs = performance.now() - startedAt;
      const cpu = process.cpuUsage(cpuBefore);
      results[mode].wallUs.push((wallMs * 1_000) / CYCLES);
      results[mode].cpuUs.push((cpu.user + cpu.system) / CYCLES);
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${mode}: ${((wallMs * 1_000) / CYCLES).toFixed(1)} µs/cycle\n`);
    }
  }
} finally {
  instrumentation.disable();
  await redlock.close();
  for (const client of clients) client.disconnect();
  await meterProvider.shutdown();
  await Promise.all([exported.shutdown(), unsampled.shutdown()]);
  await sink.close();
  await nodes.stop();
}

const off = results.off;
console.log(`| mode | wall µs per acquire+release | client CPU µs per acquire+release | CPU vs off |`);
console.log(`| --- | --- | --- | --- |`);
for (const [mode, { wallUs, cpuUs }] of Object.entries(results)) {
  const extraCpu = median(cpuUs) - median(off.cpuUs);
  console.log(`| ${mode} | ${median(wallUs).toFixed(1)} (${Math.min(...wallUs).toFixed(1)}-${Math.max(...wallUs).toFixed(1)}) | ${median(cpuUs).toFixed(1)} (${Math.min(...cpuUs).toFixed(1)}-${Math.max(...cpuUs).toFixed(1)}) | ${mode === 'off' ? '' : `${extraCpu >= 0 ? '+' : ''}${extraCpu.toFixed(1)} µs (${((extraCpu / median(off.cpuUs)) * 100).toFixed(0)}%)`} |`);
}
console.log(`\n${ROUNDS} rounds of ${CYCLES} cycles per mode (medians, range in brackets); the sink received ${sink.received.requests} OTLP requests, ${(sink.received.bytes / 1e6).toFixed(1)} MB.`);
