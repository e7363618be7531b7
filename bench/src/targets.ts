import { type ContenderResult, SCENARIO_IDS, type ScenarioId, type ScenarioResult } from './scenarios/scenario.js';

/** One target of the issues (5, 15, and S6's multi-datacenter one) for this library, checked against a run. */
export interface TargetCheck {
  readonly target: string;
  /** `null` when the run did not measure what the target needs (scenario skipped, contender n/a). */
  readonly isMet: boolean | null;
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
    check(results, 'S1', `S1: client CPU per acquire+release below ${CPU_YARDSTICK_PEER}'s`, ({ ours, peers }) => {
      const yardstick = peers.find((row) => row.name === CPU_YARDSTICK_PEER);
      const [oursUs, peerUs] = [value(ours, 'clientCpuUsPerOp'), yardstick === undefined ? Number.NaN : value(yardstick, 'clientCpuUsPerOp')];
      return [oursUs < peerUs, `${format(oursUs)} µs against ${format(peerUs)}`, oursUs / peerUs];
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
  if (figures.some(({ ratio }) => !Number.isFinite(ratio))) return { target, isMet: null, measured };
  return { target, isMet: figures.every(({ ratio }) => ratio <= S6_MAX_ACQUIRE_VS_LIMIT), measured };
}

function throughputTargets(results: Results, id: 'S1' | 'S2' | 'S4'): TargetCheck[] {
  return [
    check(results, id, `${id}: ops/s at least 0.9× the floor`, ({ ours, floor }) => {
      const ratio = value(ours, 'opsPerSec') / value(floor, 'opsPerSec');
      return [ratio >= 0.9, `${format(ratio)}× floor`, ratio];
    }),
    check(results, id, `${id}: ops/s ahead of every peer`, ({ ours, bestPeer }) => {
      const ratio = value(ours, 'opsPerSec') / value(bestPeer, 'opsPerSec');
      return [ratio > 1, `${format(ratio)}× ${bestPeer.name}`, ratio];
    }),
  ];
}

interface Rows {
  readonly ours: ContenderResult;
  readonly floor: ContenderResult;
  /** The peer with the most ops/s (in S3, acquisitions/s). */
  readonly bestPeer: ContenderResult;
  /** Every peer that ran. */
  readonly peers: readonly ContenderResult[];
}

/** `verdict` returns whether the target is met, the figures as text, and the figure it rests on (NaN: not measured). */
function check(results: Results, id: ScenarioId, target: string, verdict: (rows: Rows) => [boolean, string, number]): TargetCheck {
  const result = results.get(id);
  const ours = result?.contenders.find((row) => row.kind === 'ours' && row.values !== undefined);
  if (result === undefined || ours === undefined) return { target, isMet: null, measured: `${id} did not run for redlock-core` };
  const floor = result.contenders.find((row) => row.kind === 'floor') ?? ours;
  const peers = result.contenders.filter((row) => row.kind === 'peer' && row.values !== undefined);
  const key = id === 'S3-tuned' ? 'acquisitionsPerSec' : 'opsPerSec';
  const bestPeer = peers.reduce<ContenderResult | undefined>((best, row) => (best === undefined || value(row, key) > value(best, key) ? row : best), undefined);
  if (bestPeer === undefined && target.includes('peer')) return { target, isMet: null, measured: 'no peer ran' };
  const [isMet, measured, figure] = verdict({ ours, floor, bestPeer: bestPeer ?? ours, peers });
  return { target, isMet: Number.isFinite(figure) ? isMet : null, measured };
}

function value(row: ContenderResult, key: string): number {
  return row.values?.[key] ?? Number.NaN;
}

function format(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : 'n/a';
}
