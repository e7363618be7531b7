// One tracing channel turned into spans: a span starts on `start` as a child of the active context and
// is the active context for everything the call does, through the core's `runInContext` hook (so the
// client's command spans nest inside it); it ends when the call settles, with the result's attributes or
// the error recorded.
import diagnosticsChannel from 'node:diagnostics_channel';
import { type Attributes, context, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { REDLOCK_ATTRIBUTES as A } from './attributes.js';
import type { OperationFacts, TracedOperation, TraceMessage } from './operations.js';

/** What the spans of one operation need from the instrumentation, read at each call so providers can change. */
export interface SpanHooks {
  /** The tracer to start spans with now. */
  readonly tracer: () => Tracer;
  /** Called once per call when it settled, `durationMs` after it started; never for an attempt, which is a span only. */
  readonly onEnd: (operation: TracedOperation, facts: OperationFacts, message: TraceMessage, ended: CallEnd) => void;
}

/** How a call ended, as its span recorded it. */
export interface CallEnd {
  /** When it ended, in `performance.now()` milliseconds. */
  readonly endedAtMs: number;
  /** Milliseconds from its start. */
  readonly durationMs: number;
  /** For an acquisition that did not get its lock: why (see {@link failureReasonOf}); `undefined` otherwise. */
  readonly failureReason: string | undefined;
}

interface OpenSpan {
  readonly span: Span;
  readonly facts: OperationFacts;
  readonly startedAtMs: number;
}

/** Why an acquisition failed: the error's `reason` when it has one (`LockAcquireError`, `PermitError`…), else its name. */
export function failureReasonOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { reason, name } = error as { readonly reason?: unknown; readonly name?: unknown };
    if (typeof reason === 'string') return reason;
    if (typeof name === 'string') return name;
  }
  return 'error';
}

/** An error's name, for `error.type`. */
const errorTypeOf = (error: unknown): string => (error instanceof Error ? error.name : typeof error);

/** Subscribes `operation`'s tracing channel; returns what unsubscribes it. */
export function subscribeSpans(operation: TracedOperation, hooks: SpanHooks): () => void {
  const channel = diagnosticsChannel.tracingChannel<unknown, TraceMessage & object>(operation.channel);
  const open = new WeakMap<object, OpenSpan>();
  // An attempt is a span only (no metric): it needs no clock reading of ours, nor `onEnd`.
  const isMeasured = operation.role !== 'attempt';

  // Runs on `start`, before the call: the span's parent is the context active now (the enclosing call's
  // span, which its own `runInContext` made active), and the call runs inside `context.with()` our span,
  // through the hook the core gives (`runInContext`), so the client's command spans nest in ours with any
  // context manager. It must not throw (Node would report it as an uncaught exception), hence the guard.
  const startSpan = (message: TraceMessage & object): void => {
    try {
      const parent = context.active();
      const facts = operation.facts(message);
      // The SDK copies the attributes and their arrays: `resources` is not copied here too.
      const attributes: Attributes = { [A.primitive]: facts.primitive, [A.operation]: facts.operation, [A.resources]: facts.resources as string[] };
      operation.startAttributes(message, attributes);
      const span = hooks.tracer().startSpan(operation.spanName(message), { kind: SpanKind.INTERNAL, attributes }, parent);
      open.set(message, { span, facts, startedAtMs: isMeasured ? performance.now() : 0 });
      const active = trace.setSpan(parent, span);
      const ours = <T>(call: () => T): T => context.with(active, call);
      // Another subscriber's hook, set first, is wrapped, not replaced: the call runs in both contexts.
      const theirs = message.runInContext;
      message.runInContext = theirs === undefined ? ours : (call) => ours(() => theirs(call));
    } catch {
      // No span: the call runs as it would untraced by us.
    }
  };

  const finish = (message: TraceMessage & object): void => {
    const started = open.get(message);
    if (started === undefined) return;
    open.delete(message);
    const { span } = started;
    const { error } = message;
    // An unsampled span keeps nothing: what it would be given is not built.
    const isRecording = span.isRecording();
    if (isRecording && error === undefined) {
      span.setAttributes(operation.resultAttributes(message));
    } else if (isRecording) {
      if (error instanceof Error) span.recordException(error);
      span.setAttribute(A.errorType, errorTypeOf(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : errorTypeOf(error) });
    }
    let failureReason: string | undefined;
    if (operation.isHeld !== undefined) {
      const isHeld = error === undefined && operation.isHeld(message);
      // A single try that found the lock taken resolves without it: a failure, not an error.
      if (!isHeld) failureReason = error === undefined ? 'held-by-another-owner' : failureReasonOf(error);
      if (isRecording) {
        span.setAttribute(A.outcome, isHeld ? 'acquired' : 'failed');
        if (failureReason !== undefined) span.setAttribute(A.failureReason, failureReason);
      }
    }
    span.end();
    if (!isMeasured) return;
    const endedAtMs = performance.now();
    hooks.onEnd(operation, started.facts, message, { endedAtMs, durationMs: endedAtMs - started.startedAtMs, failureReason });
  };

  const handlers: diagnosticsChannel.TracingChannelSubscribers<TraceMessage & object> = {
    start: startSpan,
    // A call that throws before it returns a promise publishes `error` and `end`, and no `asyncEnd`.
    end: (message) => {
      if (message.error !== undefined) finish(message);
    },
    asyncStart: () => undefined,
    asyncEnd: finish,
    error: () => undefined,
  };
  channel.subscribe(handlers);
  return () => void channel.unsubscribe(handlers);
}
