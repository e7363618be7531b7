import { type Comparison, compare, formatPairedRatio, type PairedRatio, pairedRatio } from './measure/paired-ratio.js';
import { type ContenderResult, SCENARIO_IDS, type ScenarioId, type ScenarioResult } from './scenarios/scenario.js';

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

/** The peer whose client CPU per uncontended lock issue 15 asks us to stay below. */
const CPU_YARDSTICK_PEER = 'redlock@5';

/** Checks each of issues 5's and 15's targets for `redlock-core` against a run's results. */
export function checkTargets(results: Results): TargetCheck[] {
  return [
    ...throughputTargets(results, 'S1'),
    pairedCheck(results, 'S1', `S1: client CPU per acquire+release below ${CPU_YARDSTICK_PEER}'s`, ({ ours, peers }) => {
      const yardstick = peers.find((row) => row.name === CPU_YARDSTICK_PEER);
      if (yardstick === undefined) return undefined;
      const ratio = pairedRatio(ours.rounds ?? [], yardstick.rounds ?? [], 'clientCpuUsPerOp');
      const measured = `${formatPairedRatio(ratio)} ${CPU_YARDSTICK_PEER}'s (medians ${format(value(ours, 'clientCpuUsPerOp'))} µs against ${format(value(yardstick, 'clientCpuUsPerOp'))})`;
      return { verdict: verdictOf(compare(ratio, 1), 'below'), measured, ratio };
    }),
    ...throughputTargets(results, 'S2'),
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
    check(results, 'S4', 'S4: p50 (acquire+release) within 1.5× of S1 p50', ({ ours }) => {
      const ratio = value(ours, 'p50VsS1');
      const acquireRatio = value(ours, 'acquireP50VsS1');
      return [ratio <= 1.5, `${format(ratio)}× (S4 p50 ${format(value(ours, 'p50Ms'))} ms); acquire alone ${format(acquireRatio)}×`, ratio];
    }),
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
 * S1, S2, S4: ops/s at least 0.9× the floor's, and ahead of every peer. Both compare round by round (see
 * {@link pairedRatio}); against the peers, a peer the run cannot tell apart from us makes the target `level`.
 */
function throughputTargets(results: Results, id: 'S1' | 'S2' | 'S4'): TargetCheck[] {
  return [
    pairedCheck(results, id, `${id}: ops/s at least 0.9× the floor`, ({ ours, floor }) => {
      const ratio = pairedRatio(ours.rounds ?? [], floor.rounds ?? [], 'opsPerSec');
      return { verdict: ratio.median >= 0.9 ? 'met' : 'missed', measured: `${formatPairedRatio(ratio)} floor`, ratio };
    }),
    pairedCheck(results, id, `${id}: ops/s ahead of every peer`, ({ ours, peers }) => {
      // The peer that decides comes first: one we trail, else one we are level with, else the closest.
      const [decisive, ...others] = peers
        .map((peer) => {
          const ratio = pairedRatio(ours.rounds ?? [], peer.rounds ?? [], 'opsPerSec');
          return { peer, ratio, comparison: compare(ratio, 1) };
        })
        .sort((a, b) => COMPARISON_ORDER[a.comparison] - COMPARISON_ORDER[b.comparison] || a.ratio.median - b.ratio.median);
      if (decisive === undefined) return undefined;
      // That peer with its interval; the others by their median only.
      const measured = [`${formatPairedRatio(decisive.ratio)} ${decisive.peer.name}`, ...others.map(({ peer, ratio }) => `${ratio.median.toFixed(2)}× ${peer.name}`)].join('; ');
      return { verdict: verdictOf(decisive.comparison, 'above'), measured, ratio: decisive.ratio };
    }),
  ];
}

/** Against the peers, a peer we trail decides the verdict before one we are level with, before one we lead. */
const COMPARISON_ORDER: Record<Comparison, number> = { below: 0, level: 1, above: 2 };

/** `met` when the comparison came out on the side the target asks for, `missed` on the other, else `level`. */
function verdictOf(comparison: Comparison, wanted: 'above' | 'below'): Verdict {
  if (comparison === 'level') return 'level';
  return comparison === wanted ? 'met' : 'missed';
}

/**
 * A target judged from per-round ratios: `verdict` returns `undefined` when the rows it needs are absent
 * (a peer that did not run), and its result is `not measured` when the ratio has no rounds.
 */
function pairedCheck(
  results: Results,
  id: ScenarioId,
  target: string,
  verdict: (rows: Rows) => { verdict: Verdict; measured: string; ratio: PairedRatio } | undefined,
): TargetCheck {
  return check(results, id, target, (rows) => {
    const outcome = verdict(rows);
    if (outcome === undefined) return ['not measured', rows.peers.length === 0 ? 'no peer ran' : 'the peer did not run', Number.NaN];
    return [outcome.verdict, outcome.measured, outcome.ratio.rounds > 0 ? outcome.ratio.median : Number.NaN];
  });
}

interface Rows {
  readonly ours: ContenderResult;
  readonly floor: ContenderResult;
  /** The peer with the most ops/s (in S3, acquisitions/s). */
  readonly bestPeer: ContenderResult;
  /** Every peer that ran. */
  readonly peers: readonly ContenderResult[];
}

/** `verdict` returns the verdict (a boolean: met or missed), the figures as text, and the figure it rests on (NaN: not measured). */
function check(results: Results, id: ScenarioId, target: string, verdict: (rows: Rows) => [Verdict | boolean, string, number]): TargetCheck {
  const result = results.get(id);
  const ours = result?.contenders.find((row) => row.kind === 'ours' && row.values !== undefined);
  if (result === undefined || ours === undefined) return { target, verdict: 'not measured', measured: `${id} did not run for redlock-core` };
  const floor = result.contenders.find((row) => row.kind === 'floor') ?? ours;
  const peers = result.contenders.filter((row) => row.kind === 'peer' && row.values !== undefined);
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
