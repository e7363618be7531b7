import type { BenchNodes } from './bench-nodes.js';
import type { ContenderPool } from './contender-pool.js';
import type { ContenderDefinition, ContenderKind, RedisClientName } from './contenders/contender.js';
import type { BenchPlan } from './plan.js';
import type { SampleValues } from './measure/sample-values.js';
import type { ScenarioId } from './scenario-ids.js';


/** One figure a scenario reports per contender. */
export interface MetricSpec {
  readonly key: string;
  /** Column header, with its unit. */
  readonly label: string;
  /** Which way is better; ratios to the floor and to the best peer are shown only when set. */
  readonly better?: 'higher' | 'lower';
  /** Decimal places in the table. */
  readonly digits: number;
}

/** A contender's figures in one scenario: medians over rounds, or why there are none. */
export interface ContenderResult {
  readonly name: string;
  readonly kind: ContenderKind;
  /** The client it locked through; absent in reports written before 2026-11-25, 12:00 UTC (all ioredis 6). */
  readonly client?: RedisClientName;
  readonly packageName: string;
  /** Median over the rounds of each metric; absent when `na` is set. */
  readonly values?: SampleValues;
  /** Every round's figures, in round order. */
  readonly rounds?: readonly SampleValues[];
  /** Why this contender has no figures here (`n/a` in the table). */
  readonly na?: string;
}

/** The client a row locked through: ioredis 6 for reports written before rows named theirs. */
export function clientOf(row: ContenderResult): RedisClientName {
  return row.client ?? 'ioredis6';
}

/** What a scenario hands to the report. */
export interface ScenarioResult {
  readonly id: ScenarioId;
  readonly title: string;
  /** How it was sampled, e.g. `5 rounds × 2 s, median`. */
  readonly sampling: string;
  readonly metrics: readonly MetricSpec[];
  readonly contenders: readonly ContenderResult[];
  /** Lines printed under the table, e.g. each contender's first error. */
  readonly notes?: readonly string[];
}

/** What every scenario runs with. */
export interface ScenarioContext {
  readonly contenders: readonly ContenderDefinition[];
  readonly pool: ContenderPool;
  readonly nodes: BenchNodes;
  readonly plan: BenchPlan;
  /** Results of the scenarios that ran before, e.g. S4 compares with S1. */
  readonly earlier: ReadonlyMap<ScenarioId, ScenarioResult>;
  /** Progress, on stderr. */
  log(line: string): void;
}

/** One scenario of the bench. */
export interface Scenario {
  readonly id: ScenarioId;
  readonly title: string;
  run(context: ScenarioContext): Promise<ScenarioResult>;
}
