// An in-memory OpenTelemetry SDK for tests: spans in an InMemorySpanExporter, metrics collected on demand,
// and the standard AsyncLocalStorageContextManager (what the NodeSDK installs) as the global context manager.
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** Collects metrics when asked. */
class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** One data point, flattened: a counter's value, or a histogram's count, sum, min and max. */
export interface Point {
  readonly name: string;
  readonly unit: string;
  readonly attributes: Record<string, unknown>;
  readonly value: number;
  readonly sum?: number;
  readonly min?: number;
  readonly max?: number;
}

/** A tracer provider and a meter provider that keep what they get, for one test. */
export class Telemetry {
  readonly exporter = new InMemorySpanExporter();
  readonly tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(this.exporter)] });
  readonly reader = new CollectingReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  readonly meterProvider = new MeterProvider({ readers: [this.reader] });

  /** The finished spans, in the order they ended. */
  spans(): ReadableSpan[] {
    return this.exporter.getFinishedSpans();
  }

  /** The finished spans named `name`. */
  named(name: string): ReadableSpan[] {
    return this.spans().filter((span) => span.name === name);
  }

  /** The parent of `span` among the finished spans. */
  parentOf(span: ReadableSpan): ReadableSpan | undefined {
    const parentId = span.parentSpanContext?.spanId;
    return this.spans().find((candidate) => candidate.spanContext().spanId === parentId);
  }

  /** Every data point collected now. */
  async points(): Promise<Point[]> {
    const { resourceMetrics } = await this.reader.collect();
    return pointsOf(resourceMetrics);
  }

  /** The data points of metric `name`. */
  async pointsOf(name: string): Promise<Point[]> {
    return (await this.points()).filter((point) => point.name === name);
  }

  /** Everything recorded, as one string: spans (names, attributes, events, status) and metrics. */
  async serialized(): Promise<string> {
    const spans = this.spans().map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, status: span.status, links: span.links }));
    return JSON.stringify({ spans, points: await this.points() });
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.tracerProvider.shutdown(), this.meterProvider.shutdown()]);
  }
}

function pointsOf(resourceMetrics: ResourceMetrics): Point[] {
  return resourceMetrics.scopeMetrics.flatMap((scope) =>
    scope.metrics.flatMap((metric) =>
      metric.dataPoints.map((point): Point => {
        const common = { name: metric.descriptor.name, unit: metric.descriptor.unit, attributes: point.attributes };
        if (metric.dataPointType === DataPointType.HISTOGRAM) {
          const histogram = point.value as { count: number; sum?: number; min?: number; max?: number };
          return { ...common, value: histogram.count, sum: histogram.sum ?? 0, min: histogram.min, max: histogram.max };
        }
        return { ...common, value: point.value as number };
      }),
    ),
  );
}

/** Installs the standard AsyncLocalStorageContextManager as the global context manager; returns what removes it. */
export function useStandardContextManager(): () => void {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  return () => {
    context.disable();
  };
}

