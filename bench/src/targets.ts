import { type Comparison, compare, formatPairedRatio, type PairedRatio, pairedRatio } from './measure/paired-ratio.js';
import type { RedisClientName } from './contenders/contender.js';
import { SCENARIO_IDS, type ScenarioId } from './scenario-ids.js';
import { type ContenderResult, clientOf, type ScenarioResult } from './scenario.js';

/**
 * How a run judged a target: `level` when the target compares us with another contender and the run
 * cannot tell the two apart (the 95% interval of the paired ratio holds 1); `not measured` when the run did
 * not measure what the target needs (scenario skipped, contender n/a).
 */
export type Verdict = 'met' | 'missed' | 'level' | 'not measured';

/** One target of the issues (5, 15, and S6's multi-datacenter one) for this library, checked against a run. */
export interface TargetCheck {
  readonly target: string;
  readonly verdict: Verdict;
  /** The figures the verdict rests on. */
  readonly measured: string;
}

/**
 * The heap trend, in bytes per cycle, below which S5 counts as flat: one leaked object per cycle is 30 B
 * or more, while readings alone wander by about ±100 KB, up to ±1-2 B/cycle of trend over 100k cycles.
 */
export const FLAT_HEAP_BYTES_PER_CYCLE = 2;
/** Fewer S5 cycles than this cannot tell a leak from noise (a `--quick` run): the target is left unjudged. */
const MIN_CYCLES_TO_JUDGE_HEAP = 50_000;

type Results = ReadonlyMap<ScenarioId, ScenarioResult>;

/** The peer issues 15 and 32 measure us against when nothing contends: node-redlock 5 on the same client. */
const YARDSTICK_PEER = 'redlock@5';
/** Issue 32: S1 ops/s against {@link YARDSTICK_PEER}, the lowest the 95% interval's lower end may be. */
export const MIN_OPS_VS_YARDSTICK = 0.97;
/** Issue 32: S1 p99 against {@link YARDSTICK_PEER}'s, at most. */
export const MAX_P99_VS_YARDSTICK = 1.2;
/** Issues 5 and 15: ops/s against the floor over the same client, at least. */
export const MIN_OPS_VS_FLOOR = 0.9;
/** Issue 32: S4 p50 against our own S1 p50, at most (issue 5 asked for 1.5). */
export const MAX_S4_P50_VS_S1 = 1.2;

/** The clients our variants run on besides ioredis 6, each judged against its own floor and peers; how targets name them. */
const OTHER_CLIENTS: ReadonlyMap<RedisClientName, string> = new Map([
  ['ioredis5', 'ioredis 5'],
  ['node-redis', 'node-redis'],
  ['glide', 'GLIDE'],
]);

/** Checks each of issues 5's, 15's and 32's targets for `redlock-core` against a run's results. */
export function checkTargets(results: Results): TargetCheck[] {
  return [
    ...throughputTargets(results, 'S1'),
    ...yardstickTargets(results, 'ioredis6'),
    ...throughputTargets(results, 'S2'),
    ...[...OTHER_CLIENTS.keys()].flatMap((client) => [
      ...throughputTargets(results, 'S1', client),
      ...(client === 'ioredis5' ? yardstickTargets(results, client) : []),
      ...throughputTargets(results, 'S2', client),
    ]),
    check(results, 'S3-tuned', 'S3 tuned: acquisitions/s at least 2× the best peer', ({ ours, bestPeer }) => {
      const ratio = value(ours, 'acquisitionsPerSec') / value(bestPeer, 'acquisitionsPerSec');
      return [ratio >= 2, `${format(ratio)}× ${bestPeer.name}`, ratio];
    }),
    check(results, 'S3-tuned', 'S3 tuned: idle gap p50 under 0.6 ms', ({ ours }) => {
      const gapMs = value(ours, 'idleGapP50Ms');
      return [gapMs < 0.6, `${format(gapMs)} ms`, gapMs];
    }),
    check(results, 'S3-defaults', 'S3 defaults: no waiter gives up or starves while the lock changes hands', ({ ours }) => {
      const giveUps = value(ours, 'giveUps');
      const starved = value(ours, 'starvedWorkers');
      return [giveUps === 0 && starved === 0, `${giveUps} give-ups, ${starved} starved workers, ${format(value(ours, 'handOffPercent'))}% hand-offs`, giveUps + starved];
    }),
    ...throughputTargets(results, 'S4'),
    ...[1.5, MAX_S4_P50_VS_S1].map((maxRatio) =>
      check(results, 'S4', `S4: p50 (acquire+release) at most ${maxRatio}× S1 p50`, ({ ours }) => {
        const ratio = value(ours, 'p50VsS1');
        const acquireRatio = value(ours, 'acquireP50VsS1');
        return [ratio <= maxRatio, `${format(ratio)}× (S4 p50 ${format(value(ours, 'p50Ms'))} ms); acquire alone ${format(acquireRatio)}×`, ratio];
      }),
    ),
    check(results, 'S5', `S5: heap flat (trend under ${FLAT_HEAP_BYTES_PER_CYCLE} B per cycle)`, ({ ours }) => {
      const bytes = value(ours, 'slopeBytesPerCycle');
      const cycles = value(ours, 'cycles');
      const measured = `${format(bytes)} B/cycle, ${format(value(ours, 'heapGrowthKb'))} KB over ${cycles} cycles`;
      // Below this many cycles, ±100 KB of noise in single readings is more than a small leak would add.
      if (cycles < MIN_CYCLES_TO_JUDGE_HEAP) return [false, `${measured}: too few cycles to tell (the full run does 100,000)`, Number.NaN];
      return [bytes < FLAT_HEAP_BYTES_PER_CYCLE, measured, bytes];
    }),
    s6Target(results),
  ];
}

/**
 * Issue 32's S1 targets against node-redlock 5 on the same client (ioredis 6 or 5), each round by round:
 * ops/s ahead or level, the 95% interval's lower end at least {@link MIN_OPS_VS_YARDSTICK}; client CPU per
 * acquire+release at most its (`level` when the interval holds 1); p99 at most
 * {@link MAX_P99_VS_YARDSTICK}× its (`level` when the interval holds that).
 */
function yardstickTargets(results: Results, client: RedisClientName): TargetCheck[] {
  const prefix = `S1${onClient(client)}`;
  const against = (rows: Rows): ContenderResult | string => rows.peers.find((row) => baseName(row.name) === YARDSTICK_PEER) ?? `${YARDSTICK_PEER} did not run`;
  const medians = (ours: ContenderResult, peer: ContenderResult, key: string): string => `medians ${format(value(ours, key))} against ${format(value(peer, key))}`;
  return [
    pairedCheck(results, 'S1', `${prefix}: ops/s ahead of or level with ${YARDSTICK_PEER} (95% interval's lower end ≥ ${MIN_OPS_VS_YARDSTICK})`, (rows) => {
      const peer = against(rows);
      if (typeof peer === 'string') return peer;
      const ratio = pairedRatio(rows.ours.rounds ?? [], peer.rounds ?? [], 'opsPerSec');
      const lowEnd = Number.isNaN(ratio.low) ? ratio.median : ratio.low;
      return { verdict: lowEnd >= MIN_OPS_VS_YARDSTICK ? 'met' : 'missed', measured: `${formatPairedRatio(ratio)} ${peer.name}`, ratio };
    }, client),
    pairedCheck(results, 'S1', `${prefix}: client CPU per acquire+release at most ${YARDSTICK_PEER}'s`, (rows) => {
      const peer = against(rows);
      if (typeof peer === 'string') return peer;
      const ratio = pairedRatio(rows.ours.rounds ?? [], peer.rounds ?? [], 'clientCpuUsPerOp');
      return { verdict: verdictOf(compare(ratio, 1), 'below'), measured: `${formatPairedRatio(ratio)} ${peer.name}'s (${medians(rows.ours, peer, 'clientCpuUsPerOp')} µs)`, ratio };
    }, client),
    pairedCheck(results, 'S1', `${prefix}: p99 at most ${MAX_P99_VS_YARDSTICK}× ${YARDSTICK_PEER}'s`, (rows) => {
      const peer = against(rows);
      if (typeof peer === 'string') return peer;
      const ratio = pairedRatio(rows.ours.rounds ?? [], peer.rounds ?? [], 'p99Ms');
      return { verdict: verdictOf(compare(ratio, MAX_P99_VS_YARDSTICK), 'below'), measured: `${formatPairedRatio(ratio)} ${peer.name}'s (${medians(rows.ours, peer, 'p99Ms')} ms)`, ratio };
    }, client),
  ];
}

/** The most our acquire p50 may exceed the physical limit by in S6, as a factor. */
export const S6_MAX_ACQUIRE_VS_LIMIT = 1.1;

/** S6: in every topology, at default options, our acquire p50 within 1.1× the physical limit. */
function s6Target(results: Results): TargetCheck {
  const target = `S6: acquire p50 ≤ ${S6_MAX_ACQUIRE_VS_LIMIT}× the physical limit in every topology, at default options`;
  const ids = SCENARIO_IDS.filter((id) => id.startsWith('S6-'));
  const figures = ids.map((id) => {
    const ours = results.get(id)?.contenders.find((row) => row.kind === 'ours' && row.values !== undefined);
    return { topology: id.slice('S6-'.length), ratio: ours === undefined ? Number.NaN : value(ours, 'acquireVsLimit'), ours };
  });
  const measured = figures
    .map(({ topology, ratio, ours }) =>
      ours === undefined ? `${topology} not run` : `${topology} ${format(ratio)}× (${format(value(ours, 'acquireP50Ms'))} of ${format(value(ours, 'physicalLimitMs'))} ms)`,
    )
    .join('; ');
  if (figures.some(({ ratio }) => !Number.isFinite(ratio))) return { target, verdict: 'not measured', measured };
  return { target, verdict: figures.every(({ ratio }) => ratio <= S6_MAX_ACQUIRE_VS_LIMIT) ? 'met' : 'missed', measured };
}

/**
 * S1, S2, S4: ops/s at least {@link MIN_OPS_VS_FLOOR}× the floor's, and ahead of every peer, over `client`
 * (our row, the floor and the peers over that client). Both compare round by round (see {@link pairedRatio})
 * and are judged by the 95% interval: `level` when it holds the threshold.
 */
function throughputTargets(results: Results, id: 'S1' | 'S2' | 'S4', client: RedisClientName = 'ioredis6'): TargetCheck[] {
  const prefix = `${id}${onClient(client)}`;
  return [
    pairedCheck(results, id, `${prefix}: ops/s at least ${MIN_OPS_VS_FLOOR}× the floor`, ({ ours, floor }) => {
      if (floor === undefined) return 'the floor did not run';
      const ratio = pairedRatio(ours.rounds ?? [], floor.rounds ?? [], 'opsPerSec');
      // "At least": an interval that starts at the threshold meets it.
      const verdict = ratio.low >= MIN_OPS_VS_FLOOR ? 'met' : verdictOf(compare(ratio, MIN_OPS_VS_FLOOR), 'above');
      return { verdict, measured: `${formatPairedRatio(ratio)} ${floor.name}`, ratio };
    }, client),
    pairedCheck(results, id, `${prefix}: ops/s ahead of every peer`, ({ ours, peers }) => {
      // The peer that decides comes first: one we trail, else one we are level with, else the closest.
      const [decisive, ...others] = peers
        .map((peer) => {
          const ratio = pairedRatio(ours.rounds ?? [], peer.rounds ?? [], 'opsPerSec');
          return { peer, ratio, comparison: compare(ratio, 1) };
        })
        .sort((a, b) => COMPARISON_ORDER[a.comparison] - COMPARISON_ORDER[b.comparison] || a.ratio.median - b.ratio.median);
      if (decisive === undefined) return 'no peer ran';
      // That peer with its interval; the others by their median only.
      const measured = [`${formatPairedRatio(decisive.ratio)} ${decisive.peer.name}`, ...others.map(({ peer, ratio }) => `${ratio.median.toFixed(2)}× ${peer.name}`)].join('; ');
      return { verdict: verdictOf(decisive.comparison, 'above'), measured, ratio: decisive.ratio };
    }, client),
  ];
}

/** `''` for ioredis 6 (the targets as issues 5 and 15 name them), else ` on ioredis 5`, ` on node-redis`, ` on GLIDE`. */
function onClient(client: RedisClientName): string {
  const name = OTHER_CLIENTS.get(client);
  return name === undefined ? '' : ` on ${name}`;
}

/** A contender's name without the client suffix of its ioredis 5 variant: `redlock@5@io5` → `redlock@5`. */
function baseName(name: string): string {
  return name.replace(/@io5$/, '');
}

/** Against the peers, a peer we trail decides the verdict before one we are level with, before one we lead. */
const COMPARISON_ORDER: Record<Comparison, number> = { below: 0, level: 1, above: 2 };

/** `met` when the comparison came out on the side the target asks for, `missed` on the other, else `level`. */
function verdictOf(comparison: Comparison, wanted: 'above' | 'below'): Verdict {
  if (comparison === 'level') return 'level';
  return comparison === wanted ? 'met' : 'missed';
}

/**
 * A target judged from per-round ratios over `client`: `verdict` returns why it cannot judge (e.g. `the
 * floor did not run`) when the rows it needs are absent, which makes the result `not measured`, as does a
 * ratio without rounds.
 */
function pairedCheck(
  results: Results,
  id: ScenarioId,
  target: string,
  verdict: (rows: Rows) => { verdict: Verdict; measured: string; ratio: PairedRatio } | string,
  client: RedisClientName = 'ioredis6',
): TargetCheck {
  return check(
    results,
    id,
    target,
    (rows) => {
      const outcome = verdict(rows);
      if (typeof outcome === 'string') return ['not measured', outcome, Number.NaN];
      return [outcome.verdict, outcome.measured, outcome.ratio.rounds > 0 ? outcome.ratio.median : Number.NaN];
    },
    client,
  );
}

/** The rows over one client. */
interface Rows {
  /** Our row (the first of ours, so `redlock-core` rather than its diagnostics variant). */
  readonly ours: ContenderResult;
  /** The reference floor; absent when it did not run. */
  readonly floor: ContenderResult | undefined;
  /** The peer with the most ops/s (in S3, acquisitions/s). */
  readonly bestPeer: ContenderResult;
  /** Every peer that ran. */
  readonly peers: readonly ContenderResult[];
}

/**
 * `verdict` returns the verdict (a boolean: met or missed), the figures as text, and the figure it rests on
 * (NaN: not measured), from the rows over `client`.
 */
function check(
  results: Results,
  id: ScenarioId,
  target: string,
  verdict: (rows: Rows) => [Verdict | boolean, string, number],
  client: RedisClientName = 'ioredis6',
): TargetCheck {
  const result = results.get(id);
  const rows = result?.contenders.filter((row) => clientOf(row) === client) ?? [];
  const ours = rows.find((row) => row.kind === 'ours' && row.values !== undefined);
  if (result === undefined || ours === undefined) return { target, verdict: 'not measured', measured: `${id} did not run for redlock-core${onClient(client)}` };
  const floor = rows.find((row) => row.kind === 'floor' && row.values !== undefined);
  const peers = rows.filter((row) => row.kind === 'peer' && row.values !== undefined);
  const key = id === 'S3-tuned' ? 'acquisitionsPerSec' : 'opsPerSec';
  const bestPeer = peers.reduce<ContenderResult | undefined>((best, row) => (best === undefined || value(row, key) > value(best, key) ? row : best), undefined);
  if (bestPeer === undefined && target.includes('peer')) return { target, verdict: 'not measured', measured: 'no peer ran' };
  const [outcome, measured, figure] = verdict({ ours, floor, bestPeer: bestPeer ?? ours, peers });
  if (!Number.isFinite(figure)) return { target, verdict: 'not measured', measured };
  return { target, verdict: typeof outcome === 'boolean' ? (outcome ? 'met' : 'missed') : outcome, measured };
}

function value(row: ContenderResult, key: string): number {
  return row.values?.[key] ?? Number.NaN;
}

function format(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : 'n/a';
}
