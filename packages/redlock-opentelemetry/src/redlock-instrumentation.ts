// The instrumentation: subscribes to redlock-core's diagnostics channels when enabled and turns what they
// publish into spans and metrics. It has OpenTelemetry's `Instrumentation` shape, implemented on the API
// alone: `InstrumentationBase` patches modules on load, which a diagnostics_channel subscriber never needs.
import diagnosticsChannel from 'node:diagnostics_channel';
import { context, type MeterProvider, metrics, trace, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { DIAGNOSTICS_CHANNELS, type LockLostMessage, type NodeErrorMessage } from 'redlock-core';
import { REDLOCK_ATTRIBUTES as A } from './attributes.js';
import { HoldTimes } from './hold-times.js';
import { LockMetrics } from './lock-metrics.js';
import { type CallEnd, subscribeSpans } from './operation-spans.js';
import { holdIdOf, type OperationFacts, TRACED_OPERATIONS, type TracedOperation, type TraceMessage } from './operations.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from './version.js';

/** Options of {@link RedlockInstrumentation}, the same shape as OpenTelemetry's `InstrumentationConfig`. */
export interface RedlockInstrumentationConfig {
  /**
   * Whether the constructor enables the instrumentation. Read by the constructor only: after it, call
   * `enable()` and `disable()`. `registerInstrumentations()` enables it either way.
   * @defaultValue `true`
   */
  readonly enabled?: boolean;
  /**
   * Whether each attempt (one round over the nodes) gets a span of its own, a child of its acquisition's
   * span, with the node calls' spans inside it. Without, the node calls' spans are children of the
   * acquisition's span, and the core does not time its node calls.
   * @defaultValue `true`
   */
  readonly attemptSpans?: boolean;
}

const DEFAULT_CONFIG: Required<RedlockInstrumentationConfig> = { enabled: true, attemptSpans: true };

/**
 * OpenTelemetry instrumentation for redlock-core: a span for every acquisition, attempt, extension and
 * release of a lock, a semaphore's permits and a read-write lock, with the Redis client's command spans
 * nested inside; metrics of acquisitions, failures by reason, wait time, hold time, node errors and lost
 * locks. It reads redlock-core's `node:diagnostics_channel` channels, so it covers every `Redlock` in the
 * process, and it costs nothing while disabled. No attribute ever holds a lock's token.
 *
 * Spans are made by the tracer provider given to {@link RedlockInstrumentation.setTracerProvider}, else
 * the global one; metrics by the meter provider given to {@link RedlockInstrumentation.setMeterProvider},
 * else the global one when the instrumentation was made. Each span is the active context while the core
 * calls the nodes, through `context.with()` in the core's `runInContext` hook, so any context manager works, the NodeSDK's
 * `AsyncLocalStorageContextManager` included.
 *
 * @example
 * ```ts
 * import { registerInstrumentations } from '@opentelemetry/instrumentation';
 * import { RedlockInstrumentation } from 'redlock-opentelemetry';
 *
 * registerInstrumentations({ instrumentations: [new RedlockInstrumentation()] });
 * ```
 */
export class RedlockInstrumentation {
  /** The instrumentation's name, also the scope name of its tracer and meter: `'redlock-opentelemetry'`. */
  readonly instrumentationName: string = PACKAGE_NAME;
  /** This package's version, also the scope version of its tracer and meter. */
  readonly instrumentationVersion: string = PACKAGE_VERSION;

  #config: Required<RedlockInstrumentationConfig>;
  #tracer: Tracer;
  readonly #holds = new HoldTimes();
  #metrics: LockMetrics;
  /** What undoes each subscription while enabled; `undefined` while disabled. */
  #unsubscribe: (() => void)[] | undefined;

  /** Makes the instrumentation, and enables it unless `config.enabled` is `false`. */
  constructor(config: RedlockInstrumentationConfig = {}) {
    this.#config = { ...DEFAULT_CONFIG, ...config };
    this.#tracer = trace.getTracer(PACKAGE_NAME, PACKAGE_VERSION);
    this.#metrics = new LockMetrics(metrics.getMeter(PACKAGE_NAME, PACKAGE_VERSION), this.#holds);
    if (this.#config.enabled) this.enable();
  }

  /** Subscribes to redlock-core's channels. Calling it while enabled does nothing: never two subscriptions. */
  enable(): void {
    if (this.#unsubscribe !== undefined) return;
    const hooks = { tracer: () => this.#tracer, onEnd: this.#onEnd };
    const operations = TRACED_OPERATIONS.filter((operation) => operation.role !== 'attempt' || this.#config.attemptSpans);
    this.#unsubscribe = operations.map((operation) => subscribeSpans(operation, hooks));
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.nodeError, this.#onNodeError);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.lockLost, this.#onLockLost);
    this.#unsubscribe.push(
      () => diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.nodeError, this.#onNodeError),
      () => diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.lockLost, this.#onLockLost),
    );
  }

  /** Unsubscribes from every channel: no span or metric is made until `enable()`; holds being timed are forgotten. */
  disable(): void {
    for (const unsubscribe of this.#unsubscribe ?? []) unsubscribe();
    this.#unsubscribe = undefined;
    this.#holds.clear();
  }

  /** Makes spans with `tracerProvider` from now on. */
  setTracerProvider(tracerProvider: TracerProvider): void {
    this.#tracer = tracerProvider.getTracer(PACKAGE_NAME, PACKAGE_VERSION);
  }

  /** Records metrics with `meterProvider` from now on (its instruments are made now). */
  setMeterProvider(meterProvider: MeterProvider): void {
    this.#metrics = new LockMetrics(meterProvider.getMeter(PACKAGE_NAME, PACKAGE_VERSION), this.#holds);
  }

  /** Replaces the options (missing ones take their defaults); `enabled` is not applied, see {@link RedlockInstrumentationConfig.enabled}. */
  setConfig(config: RedlockInstrumentationConfig): void {
    const wasEnabled = this.#unsubscribe !== undefined;
    this.#config = { ...DEFAULT_CONFIG, ...config };
    // Which channels are subscribed depends on the options: subscribe again to apply them.
    if (wasEnabled) {
      this.disable();
      this.enable();
    }
  }

  /** The options, with `enabled` saying whether it is enabled now. */
  getConfig(): RedlockInstrumentationConfig {
    return { ...this.#config, enabled: this.#unsubscribe !== undefined };
  }

  readonly #onEnd = (operation: TracedOperation, facts: OperationFacts, message: TraceMessage, ended: CallEnd): void => {
    const { role } = operation;
    if (role === 'acquire') this.#metrics.acquired(facts, holdIdOf(role, message), ended.failureReason, ended.durationMs, ended.endedAtMs);
    else if (role === 'release') {
      const holdId = holdIdOf(role, message);
      if (holdId !== undefined) this.#metrics.released(holdId, ended.endedAtMs);
    }
  };

  readonly #onNodeError = (message: unknown): void => {
    const { nodeIndex, operation, error } = message as NodeErrorMessage;
    const attributes = {
      [A.nodeIndex]: nodeIndex,
      [A.nodeOperation]: operation,
      [A.errorType]: error.isTimeout ? 'timeout' : error.isDown ? 'down' : (error.cause as Error | undefined)?.name ?? error.name,
    };
    this.#metrics.nodeFailed(attributes);
    // The call's own span when it failed inside one (an attempt, an extension, a release).
    trace.getSpan(context.active())?.addEvent('redlock.node.error', attributes);
  };

  readonly #onLockLost = (message: unknown): void => {
    const { holdId, reason } = message as LockLostMessage;
    this.#metrics.lost(holdId, reason, performance.now());
  };
}
