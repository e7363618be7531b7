import { startRedisTopology } from 'local-redis-nodes';
import { NODE_COUNT } from '../bench-nodes.js';
import { ContenderPool } from '../contender-pool.js';
import { describeSampling, runInterleavedRounds } from '../interleaved-rounds.js';
import { runBoundedLoop } from './bounded-loop.js';
import type { ScenarioId } from '../scenario-ids.js';
import type { ContenderResult, MetricSpec, Scenario } from '../scenario.js';

/** One multi-datacenter topology of S6: the client's round trip to each node, and the silent nodes. */
export interface S6Topology {
  readonly id: Extract<ScenarioId, `S6-${string}`>;
  /** The round trip from the client to each node, in milliseconds, by node index. */
  readonly rttsMs: readonly number[];
  /** Nodes that accept connections and never answer. */
  readonly blackholed: readonly number[];
  readonly description: string;
}

/** The four topologies; the client sits in the datacenter of the 0 ms nodes (T2: 10 ms from its nearest). */
export const S6_TOPOLOGIES: readonly S6Topology[] = [
  { id: 'S6-T1', rttsMs: [0, 0, 30, 30, 80], blackholed: [], description: 'RTTs 0, 0, 30, 30, 80 ms' },
  { id: 'S6-T2', rttsMs: [10, 30, 30, 80, 80], blackholed: [], description: 'RTTs 10, 30, 30, 80, 80 ms' },
  {
    id: 'S6-T3',
    rttsMs: [0, 0, 30, 30, 80],
    blackholed: [3, 4],
    description: 'T1 with the 80 ms node and one 30 ms node black-holed (connections accepted, never answered)',
  },
  { id: 'S6-T4', rttsMs: [0, 0, 70, 70, 140], blackholed: [], description: 'RTTs 0, 0, 70, 70, 140 ms' },
];

/**
 * The physical limit of an acquire in milliseconds: the quorum-th smallest round trip among the nodes that
 * answer (no Redlock can hear a quorum sooner); `Infinity` when fewer than a quorum answer.
 */
export function physicalLimitMs(rttsMs: readonly number[], blackholed: readonly number[]): number {
  const quorum = Math.floor(rttsMs.length / 2) + 1;
  const answering = rttsMs.filter((_, index) => !blackholed.includes(index)).sort((a, b) => a - b);
  return answering[quorum - 1] ?? Number.POSITIVE_INFINITY;
}

/** How long building a contender on a topology may take, in milliseconds: connecting, loading scripts. */
const BUILD_TIMEOUT_MS = 10_000;

function metrics(opTimeoutMs: number): MetricSpec[] {
  return [
    { key: 'physicalLimitMs', label: 'physical limit ms', digits: 0 },
    { key: 'acquireP50Ms', label: 'acquire p50 ms', better: 'lower', digits: 1 },
    { key: 'acquireVsLimit', label: 'acquire ÷ limit', digits: 2 },
    { key: 'p50Ms', label: 'acq+rel p50 ms', better: 'lower', digits: 1 },
    { key: 'cycleVsLimit', label: 'acq+rel ÷ 2× limit', digits: 2 },
    { key: 'cycles', label: 'cycles', digits: 0 },
    { key: 'errors', label: 'errors', digits: 0 },
    { key: 'timeouts', label: `calls cut at ${opTimeoutMs / 1000} s`, digits: 0 },
    { key: 'misjudgedTimeouts', label: 'answering-node timeouts', digits: 0 },
  ];
}

/** Figures summed over the rounds instead of their median: counts of what happened. */
const SUMMED = ['cycles', 'errors', 'timeouts', 'misjudgedTimeouts'] as const;

/**
 * S6 on one topology: a fresh set of 5 nodes behind latency proxies (`startRedisTopology`), every
 * contender at its documented defaults (redlock-core with no timeout set anywhere), one acquire+release
 * loop each, every call bounded in time. Reports the acquire p50 against the physical limit.
 */
function s6Scenario(topology: S6Topology): Scenario {
  const limitMs = physicalLimitMs(topology.rttsMs, topology.blackholed);
  const answeringNodes = topology.rttsMs.map((_, index) => index).filter((index) => !topology.blackholed.includes(index));
  return {
    id: topology.id,
    title: `${topology.id}: ${topology.description}; physical limit ${limitMs} ms; every library at its defaults`,
    async run(context) {
      const plan = context.plan.s6;
      const opTimeoutMs = context.plan.s6OpTimeoutMs;
      if (topology.rttsMs.length !== NODE_COUNT) throw new Error(`${topology.id} must have ${NODE_COUNT} nodes`);
      const fleet = await startRedisTopology({ rttsMs: topology.rttsMs, blackholed: topology.blackholed });
      const pool = new ContenderPool({ urls: () => fleet.urls, blackholed: fleet.blackholed });
      const firstErrors = new Map<string, string>();
      let contenders: ContenderResult[];
      try {
        contenders = await runInterleavedRounds(
          { ...context, pool },
          { topology: 'near', retry: 'defaults', plan, label: topology.id, buildTimeoutMs: BUILD_TIMEOUT_MS },
          async ({ definition, contender, round, durationMs }) => {
            const outcome = await runBoundedLoop({
              contender,
              resource: `bench:${topology.id}:${definition.name}:${round}`,
              durationMs,
              opTimeoutMs,
              answeringNodes,
            });
            if (outcome.errors + outcome.timeouts > 0) {
              context.log(`  ${definition.name}: ${outcome.errors} errors, ${outcome.timeouts} calls cut, ${outcome.cycles} cycles; first error: ${outcome.firstError ?? 'none'}`);
            }
            if (outcome.firstError !== undefined && !firstErrors.has(definition.name)) firstErrors.set(definition.name, outcome.firstError);
            const [acquireP50Ms = Number.NaN] = outcome.acquireLatency.percentiles(50);
            const [p50Ms = Number.NaN] = outcome.cycleLatency.percentiles(50);
            return { acquireP50Ms, p50Ms, cycles: outcome.cycles, errors: outcome.errors, timeouts: outcome.timeouts, misjudgedTimeouts: outcome.misjudgedTimeouts };
          },
        );
      } finally {
        await pool.close();
        await fleet.stop();
      }
      return {
        id: topology.id,
        title: this.title,
        sampling: `${describeSampling(plan)} (p50s); cycles and counts summed over the rounds; every acquire and release cut after ${opTimeoutMs / 1000} s`,
        metrics: metrics(opTimeoutMs),
        contenders: contenders.map((result) => withLimit(result, limitMs)),
        notes: [...firstErrors].map(([name, message]) => `${name}, first error: ${message}`),
      };
    },
  };
}

/** Adds the physical limit and the ratios to it, and replaces the medians of counts by their sums. */
function withLimit(result: ContenderResult, limitMs: number): ContenderResult {
  if (result.values === undefined) return result;
  const values: Record<string, number> = { ...result.values, physicalLimitMs: limitMs };
  for (const key of SUMMED) values[key] = (result.rounds ?? []).reduce((sum, round) => sum + (round[key] ?? Number.NaN), 0);
  values['acquireVsLimit'] = (values['acquireP50Ms'] ?? Number.NaN) / limitMs;
  values['cycleVsLimit'] = (values['p50Ms'] ?? Number.NaN) / (2 * limitMs);
  return { ...result, values };
}

/** S6-T1 to S6-T4, in order. */
export const s6Topologies: readonly Scenario[] = S6_TOPOLOGIES.map(s6Scenario);
