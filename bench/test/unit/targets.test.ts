import { describe, expect, it } from '@jest/globals';
import { compare, pairedRatio } from '../../src/measure/paired-ratio.js';
import type { ScenarioId } from '../../src/scenario-ids.js';
import type { SampleValues } from '../../src/measure/sample-values.js';
import type { ContenderResult, ScenarioResult } from '../../src/scenario.js';
import { checkTargets, type TargetCheck } from '../../src/targets.js';

// The bench's verdicts on the issues' targets, from figures made up here: the paired ratio and its
// interval, and how S1's targets read a run where we lead, trail, or cannot be told apart from a peer.

/** `values[round]` as rounds of one figure. */
const roundsOf = (key: string, values: readonly number[]): SampleValues[] => values.map((value) => ({ [key]: value }));

describe('pairedRatio', () => {
  it('takes the median of the per-round ratios, bounded by the 10th and 22nd of 31 sorted ratios', () => {
    const ours = roundsOf('opsPerSec', Array.from({ length: 31 }, (_, round) => 100 + round));
    const theirs = roundsOf('opsPerSec', Array(31).fill(100));
    expect(pairedRatio(ours, theirs, 'opsPerSec')).toEqual({ median: 1.15, low: 1.09, high: 1.21, rounds: 31 });
  });

  it('pairs rounds by their index, skipping rounds where either side lacks the figure', () => {
    const ours: SampleValues[] = [{ opsPerSec: 200 }, { opsPerSec: 300 }, {}, { opsPerSec: 90 }];
    const theirs: SampleValues[] = [{ opsPerSec: 100 }, { opsPerSec: 300 }, { opsPerSec: 100 }, {}];
    expect(pairedRatio(ours, theirs, 'opsPerSec')).toMatchObject({ median: 1.5, rounds: 2 });
  });

  it('gives no interval below 6 rounds, where the median alone decides', () => {
    const ratio = pairedRatio(roundsOf('x', [105, 95, 110, 101, 99]), roundsOf('x', [100, 100, 100, 100, 100]), 'x');
    expect(ratio).toMatchObject({ median: 1.01, rounds: 5 });
    expect(ratio.low).toBeNaN();
    expect(ratio.high).toBeNaN();
    expect(compare(ratio, 1)).toBe('above');
    expect(compare(ratio, 1.02)).toBe('below');
  });

  it('compares as level when the interval holds the threshold', () => {
    const ratio = { median: 1.01, low: 0.97, high: 1.1, rounds: 31 };
    expect(compare(ratio, 1)).toBe('level');
    expect(compare(ratio, 0.9)).toBe('above');
    expect(compare(ratio, 1.2)).toBe('below');
  });
});

describe('checkTargets', () => {
  /** S1 with the floor, us and node-redlock 5 over 31 rounds: ops/s and client CPU per op, by round. */
  function s1(ours: readonly number[], peer: readonly number[], cpu: { ours: readonly number[]; peer: readonly number[] }): Map<ScenarioId, ScenarioResult> {
    const row = (name: string, kind: ContenderResult['kind'], ops: readonly number[], cpuUs: readonly number[]): ContenderResult => {
      const rounds = ops.map((opsPerSec, round) => ({ opsPerSec, clientCpuUsPerOp: cpuUs[round] ?? Number.NaN }));
      return { name, kind, packageName: name, rounds, values: { opsPerSec: Math.max(...ops), clientCpuUsPerOp: Math.min(...cpuUs) } };
    };
    const floorOps = Array(31).fill(3_000);
    const contenders = [
      row('floor', 'floor', floorOps, Array(31).fill(250)),
      row('redlock-core', 'ours', ours, cpu.ours),
      row('redlock@5', 'peer', peer, cpu.peer),
    ];
    return new Map([['S1', { id: 'S1', title: 'S1', sampling: '', metrics: [], contenders }]]);
  }
  const verdictOf = (checks: TargetCheck[], prefix: string): string | undefined => checks.find((check) => check.target.startsWith(prefix))?.verdict;
  /** 31 rounds alternating around `center` by ±`spread`, as a noisy machine would give. */
  const noisy = (center: number, spread: number): number[] => Array.from({ length: 31 }, (_, round) => center * (1 + (round % 2 === 0 ? spread : -spread)));

  it('meets "ahead of every peer" only when every round-by-round interval is above 1', () => {
    // Ahead by 5% in every round, whatever the machine did to both in that round.
    const machine = noisy(1, 0.2);
    const ours = machine.map((factor) => 2_850 * factor * 1.05);
    const peer = machine.map((factor) => 2_850 * factor);
    const checks = checkTargets(s1(ours, peer, { ours: Array(31).fill(280), peer: Array(31).fill(300) }));
    expect(verdictOf(checks, 'S1: ops/s ahead of every peer')).toBe('met');
    expect(verdictOf(checks, 'S1: client CPU')).toBe('met');
  });

  it('calls it level when the rounds go both ways, and missed when the whole interval is below 1', () => {
    const level = checkTargets(s1(noisy(2_850, 0.05), Array(31).fill(2_850), { ours: noisy(300, 0.05), peer: Array(31).fill(300) }));
    expect(verdictOf(level, 'S1: ops/s ahead of every peer')).toBe('level');
    expect(verdictOf(level, 'S1: client CPU')).toBe('level');

    const behind = checkTargets(s1(Array(31).fill(2_700), noisy(3_000, 0.02), { ours: Array(31).fill(320), peer: noisy(300, 0.02) }));
    expect(verdictOf(behind, 'S1: ops/s ahead of every peer')).toBe('missed');
    expect(verdictOf(behind, 'S1: client CPU')).toBe('missed');
    expect(verdictOf(behind, 'S1: ops/s at least 0.9× the floor')).toBe('met');
  });

  it('names the peer that decides: one the run cannot tell apart from us, before a peer with a lower median that we lead', () => {
    const result = s1(noisy(3_000, 0.05), Array(31).fill(3_000), { ours: Array(31).fill(280), peer: Array(31).fill(300) });
    const rows = result.get('S1')?.contenders ?? [];
    // A second peer that we lead by 3% in every round: a lower median ratio (1.03×) than the first's (1.05×).
    const oursRounds = rows[1]?.rounds ?? [];
    const slower: ContenderResult = { ...(rows[2] as ContenderResult), name: 'slower-peer', rounds: oursRounds.map((round) => ({ opsPerSec: (round['opsPerSec'] ?? 0) / 1.03 })) };
    result.set('S1', { ...(result.get('S1') as ScenarioResult), contenders: [...rows, slower] });
    const check = checkTargets(result).find((each) => each.target === 'S1: ops/s ahead of every peer');
    expect(check?.verdict).toBe('level');
    expect(check?.measured).toMatch(/^1\.05× \(95% CI 0\.95-1\.05, 31 rounds\) redlock@5; 1\.03× slower-peer$/);
  });

  it('reports the targets of scenarios that did not run as not measured', () => {
    const checks = checkTargets(new Map());
    expect(checks.every((check) => check.verdict === 'not measured')).toBe(true);
  });
});

describe('checkTargets against the floor', () => {
  /** S1 rows with per-round ops/s, `client` left to its default (ioredis 6) unless given. */
  const row = (name: string, kind: ContenderResult['kind'], ops: readonly number[], client?: ContenderResult['client']): ContenderResult => ({
    name,
    kind,
    packageName: name,
    ...(client === undefined ? {} : { client }),
    rounds: ops.map((opsPerSec) => ({ opsPerSec, clientCpuUsPerOp: 300, p99Ms: 1 })),
    values: { opsPerSec: ops[0] ?? Number.NaN, clientCpuUsPerOp: 300, p99Ms: 1 },
  });
  const s1 = (...contenders: ContenderResult[]): Map<ScenarioId, ScenarioResult> => new Map([['S1', { id: 'S1', title: 'S1', sampling: '', metrics: [], contenders }]]);
  const find = (checks: TargetCheck[], target: string): TargetCheck | undefined => checks.find((check) => check.target === target);
  /** 31 rounds of ratios to the floor: a median of 0.94 with a 95% interval of 0.87-1.04 (the 10th and 22nd). */
  const ratios = [...Array(9).fill(0.8), 0.87, ...Array(5).fill(0.9), 0.94, ...Array(5).fill(1), 1.04, ...Array(9).fill(1.1)];

  it('judges "at least 0.9× the floor" by its interval: level when the interval holds 0.9, though the median is above it', () => {
    const checks = checkTargets(s1(row('floor-coalesced', 'floor', Array(31).fill(3_000)), row('redlock-core', 'ours', ratios.map((ratio) => 3_000 * ratio))));
    expect(find(checks, 'S1: ops/s at least 0.9× the floor')).toMatchObject({ verdict: 'level', measured: expect.stringMatching(/^0\.94× \(95% CI 0\.87-1\.04/) });
  });

  it('says "not measured" when the floor did not run, instead of comparing us with ourselves', () => {
    const checks = checkTargets(s1(row('redlock-core', 'ours', Array(31).fill(3_000)), row('redlock@5', 'peer', Array(31).fill(2_000))));
    expect(find(checks, 'S1: ops/s at least 0.9× the floor')?.verdict).toBe('not measured');
  });

  it('compares each adapter variant with its own client\'s floor and peers, not with the ioredis floor', () => {
    const checks = checkTargets(
      s1(
        row('floor-coalesced', 'floor', Array(31).fill(6_000)),
        row('redlock-core', 'ours', Array(31).fill(6_000)),
        row('floor/node-redis', 'floor', Array(31).fill(3_000), 'node-redis'),
        row('redlock-core/node-redis', 'ours', Array(31).fill(2_970), 'node-redis'),
        row('redlock-universal/node-redis', 'peer', Array(31).fill(2_000), 'node-redis'),
      ),
    );
    expect(find(checks, 'S1 on node-redis: ops/s at least 0.9× the floor')?.verdict).toBe('met');
    expect(find(checks, 'S1 on node-redis: ops/s ahead of every peer')).toMatchObject({ verdict: 'met', measured: expect.stringContaining('redlock-universal/node-redis') });
    expect(find(checks, 'S1 on GLIDE: ops/s at least 0.9× the floor')?.verdict).toBe('not measured');
  });

  it('checks S1 against node-redlock 5 on ioredis 5 and 6 as issue 32 asks: ops/s lower bound 0.97, CPU at most, p99 at most 1.2×', () => {
    const peerRounds = (name: string, client: ContenderResult['client'], p99Ms: number): ContenderResult => ({
      ...row(name, 'peer', Array(31).fill(3_000), client),
      rounds: Array.from({ length: 31 }, () => ({ opsPerSec: 3_000, clientCpuUsPerOp: 300, p99Ms })),
    });
    const checks = checkTargets(
      s1(
        row('redlock-core', 'ours', ratios.map((ratio) => 3_000 * (ratio + 0.1))),
        peerRounds('redlock@5', 'ioredis6', 0.9),
        row('redlock-core@io5', 'ours', Array(31).fill(3_000), 'ioredis5'),
        peerRounds('redlock@5@io5', 'ioredis5', 0.5),
      ),
    );
    // Ours on ioredis 6: 1.04× (0.97-1.14) in ops/s, 1/0.9 in p99; on ioredis 5: level in ops/s, p99 twice the peer's.
    expect(find(checks, 'S1: ops/s ahead of or level with redlock@5 (95% interval\'s lower end ≥ 0.97)')?.verdict).toBe('met');
    expect(find(checks, 'S1: client CPU per acquire+release at most redlock@5\'s')?.verdict).toBe('level');
    expect(find(checks, 'S1: p99 at most 1.2× redlock@5\'s')?.verdict).toBe('met');
    expect(find(checks, 'S1 on ioredis 5: ops/s ahead of or level with redlock@5 (95% interval\'s lower end ≥ 0.97)')?.verdict).toBe('met');
    expect(find(checks, 'S1 on ioredis 5: p99 at most 1.2× redlock@5\'s')?.verdict).toBe('missed');
  });
});
