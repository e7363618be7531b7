import type { MetricSpec } from '../scenario.js';

/** The figures of the acquire+release loop scenarios (S1, S2, S4), in table order. */
export const LOOP_METRICS = {
  opsPerSec: { key: 'opsPerSec', label: 'ops/s', better: 'higher', digits: 0 },
  p50Ms: { key: 'p50Ms', label: 'p50 ms', better: 'lower', digits: 3 },
  p99Ms: { key: 'p99Ms', label: 'p99 ms', better: 'lower', digits: 3 },
  acquireP50Ms: { key: 'acquireP50Ms', label: 'acquire p50 ms', better: 'lower', digits: 3 },
  clientCpuUsPerOp: { key: 'clientCpuUsPerOp', label: 'client CPU µs/op', better: 'lower', digits: 1 },
  redisCpuUsPerOp: { key: 'redisCpuUsPerOp', label: 'Redis CPU µs/op', better: 'lower', digits: 1 },
  redisCallsPerOp: { key: 'redisCallsPerOp', label: 'Redis cmds/op', better: 'lower', digits: 1 },
  errors: { key: 'errors', label: 'errors', digits: 0 },
} as const satisfies Record<string, MetricSpec>;
