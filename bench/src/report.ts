import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BenchPlan } from './plan.js';
import { type ContenderResult, clientOf, type MetricSpec, type ScenarioResult } from './scenario.js';
import type { TargetCheck, Verdict } from './targets.js';

/** How the tables show each verdict. */
const VERDICT_TEXT: Record<Verdict, string> = { met: 'met', missed: '**missed**', level: 'level (within the run\'s noise)', 'not measured': 'not measured' };

/** Where and on what a run happened. */
export interface RunInfo {
  readonly date: string;
  readonly command: string;
  /** The commit measured; `+changes` when the packages' sources had uncommitted changes. */
  readonly commit: string;
  readonly plan: BenchPlan;
  readonly machine: Readonly<Record<string, string | number>>;
}

/** A contender's figures with, per metric, its ratio to the floor and to the best peer. */
interface RatedContender extends ContenderResult {
  readonly toFloor?: Readonly<Record<string, number>>;
  readonly toBestPeer?: Readonly<Record<string, number>>;
}

/** A scenario's result with ratios, and the best peer per metric. */
interface RatedScenario extends Omit<ScenarioResult, 'contenders'> {
  readonly contenders: readonly RatedContender[];
  readonly bestPeer: Readonly<Record<string, string>>;
}

/** The JSON document a run writes: everything the tables show, plus every round. */
export interface BenchReport extends RunInfo {
  readonly scenarios: readonly RatedScenario[];
  readonly targets: readonly TargetCheck[];
}

/**
 * Adds ratios to every figure that has a direction: `value / floor's value` (the floor over the row's own
 * client) and `value / best peer's value`, where the best peer is the peer with the highest (or lowest, for
 * latencies and CPU) figure.
 */
export function buildReport(info: RunInfo, results: readonly ScenarioResult[], targets: readonly TargetCheck[]): BenchReport {
  return { ...info, scenarios: results.map(rateScenario), targets };
}

function rateScenario(result: ScenarioResult): RatedScenario {
  const floorOf = (row: ContenderResult): ContenderResult | undefined =>
    result.contenders.find((candidate) => candidate.kind === 'floor' && clientOf(candidate) === clientOf(row));
  const peers = result.contenders.filter((row) => row.kind === 'peer' && row.values !== undefined);
  const bestPeer: Record<string, string> = {};
  const bestPeerValue: Record<string, number> = {};
  for (const metric of result.metrics) {
    if (metric.better === undefined) continue;
    for (const peer of peers) {
      const candidate = peer.values?.[metric.key];
      if (candidate === undefined || !Number.isFinite(candidate)) continue;
      const best = bestPeerValue[metric.key];
      if (best === undefined || (metric.better === 'higher' ? candidate > best : candidate < best)) {
        bestPeerValue[metric.key] = candidate;
        bestPeer[metric.key] = peer.name;
      }
    }
  }
  const rated = (row: ContenderResult): RatedContender => {
    if (row.values === undefined) return row;
    const toFloor: Record<string, number> = {};
    const toBestPeer: Record<string, number> = {};
    const floor = floorOf(row);
    for (const metric of result.metrics) {
      const own = row.values[metric.key];
      if (metric.better === undefined || own === undefined) continue;
      const floorValue = floor?.values?.[metric.key];
      if (floorValue !== undefined && row !== floor) toFloor[metric.key] = own / floorValue;
      const peerValue = bestPeerValue[metric.key];
      if (peerValue !== undefined) toBestPeer[metric.key] = own / peerValue;
    }
    return { ...row, toFloor, toBestPeer };
  };
  return { ...result, contenders: result.contenders.map(rated), bestPeer };
}

/** The report as Markdown: run details, one table per scenario, then the targets. Reads fine in a terminal too. */
export function formatReport(report: BenchReport): string {
  const lines: string[] = [
    `Run ${report.date} (${report.plan.name}) of commit ${report.commit}: \`${report.command}\``,
    '',
    Object.entries(report.machine)
      .map(([key, value]) => `${key}: ${value}`)
      .join(' · '),
    '',
    'Cells: value (f = ratio to the floor over the same client: floor-coalesced on ioredis 6, floor-coalesced@io5,',
    'floor/node-redis, floor/glide; p = ratio to the best peer). Above 1 is more, below 1 is less:',
    'for ops/s and acq/s more is better, for latencies, gaps and CPU less is better.',
  ];
  for (const scenario of report.scenarios) lines.push('', ...formatScenario(scenario));
  lines.push('', '### Targets for redlock-core', '', '| target | verdict | measured |', '| --- | --- | --- |');
  for (const check of report.targets) {
    lines.push(`| ${check.target} | ${VERDICT_TEXT[check.verdict]} | ${check.measured} |`);
  }
  return lines.join('\n');
}

function formatScenario(scenario: RatedScenario): string[] {
  const header = ['contender', ...scenario.metrics.map((metric) => metric.label)];
  const rows = scenario.contenders.map((row) => [
    row.name,
    ...scenario.metrics.map((metric) => (row.values === undefined ? 'n/a' : formatCell(row, metric))),
  ]);
  const best = scenario.metrics
    .filter((metric) => scenario.bestPeer[metric.key] !== undefined)
    .map((metric) => `${metric.label}: ${scenario.bestPeer[metric.key]}`);
  const notApplicable = scenario.contenders.filter((row) => row.na !== undefined).map((row) => `${row.name}: n/a, ${row.na}`);
  return [
    `### ${scenario.title}`,
    '',
    `${scenario.sampling}.`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, index) => (index === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
    ...(best.length > 0 ? ['', `Best peer per column: ${best.join('; ')}.`] : []),
    ...(notApplicable.length > 0 ? ['', ...notApplicable] : []),
    ...(scenario.notes !== undefined && scenario.notes.length > 0 ? ['', ...scenario.notes.map((note) => `- ${note}`)] : []),
  ];
}

function formatCell(row: RatedContender, metric: MetricSpec): string {
  const text = formatNumber(row.values?.[metric.key] ?? Number.NaN, metric.digits);
  const ratios = [
    ratioText(row.toFloor?.[metric.key], 'f'),
    ratioText(row.toBestPeer?.[metric.key], 'p'),
  ].filter((part) => part !== '');
  return ratios.length > 0 ? `${text} (${ratios.join(' ')})` : text;
}

function ratioText(ratio: number | undefined, suffix: string): string {
  return ratio === undefined || !Number.isFinite(ratio) ? '' : `${ratio.toFixed(2)}${suffix}`;
}

function formatNumber(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Writes the JSON report to `path`, creating its directory. */
export async function writeJsonReport(report: BenchReport, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
