// redlock-opentelemetry: OpenTelemetry spans and metrics from redlock-core's diagnostics channels.
export { REDLOCK_ATTRIBUTES } from './attributes.js';
export { REDLOCK_METRICS } from './lock-metrics.js';
export { RedlockInstrumentation, type RedlockInstrumentationConfig } from './redlock-instrumentation.js';
