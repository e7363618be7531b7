import { EPSILON_MS } from './checker.js';
import { describeFaults } from './faults.js';
import type { ReadWriteHistory, ReadWriteRecord } from './read-write-world.js';

// The invariants of a read-write lock over one run of read-write-world.ts: a writer relies on the lock
// alone, no reader nor other writer relying on it at any moment of its interval; nothing is handed out
// without validity; a client leaves nothing on the nodes of what it is done with.

/** A writer and another holder that relied on the lock at once, from `fromMs` to `untilMs` (true time). */
export interface Conflict {
  readonly writer: ReadWriteRecord;
  readonly other: ReadWriteRecord;
  readonly fromMs: number;
  readonly untilMs: number;
}

/** Every pair of holds, one of them a writer's, whose intervals overlap (an interval is open at its end). */
export function conflictsOf(history: ReadWriteHistory): Conflict[] {
  const conflicts: Conflict[] = [];
  history.holds.forEach((a, index) => {
    for (const b of history.holds.slice(index + 1)) {
      if (a.mode === 'read' && b.mode === 'read') continue;
      const fromMs = Math.max(a.fromMs, b.fromMs);
      const untilMs = Math.min(a.untilMs, b.untilMs);
      if (untilMs - fromMs > EPSILON_MS) conflicts.push({ writer: a.mode === 'write' ? a : b, other: a.mode === 'write' ? b : a, fromMs, untilMs });
    }
  });
  return conflicts;
}

/** The most readers relied on at once in a run: a sweep over the readers' intervals. */
export function mostReadersAtOnce(history: ReadWriteHistory): number {
  const events = history.holds
    .filter((hold) => hold.mode === 'read' && hold.untilMs > hold.fromMs)
    .flatMap((hold) => [
      { atMs: hold.fromMs, change: 1 },
      { atMs: hold.untilMs, change: -1 },
    ]);
  events.sort((a, b) => a.atMs - b.atMs || a.change - b.change);
  let [current, most] = [0, 0];
  for (const event of events) {
    current += event.change;
    most = Math.max(most, current);
  }
  return most;
}

const ms = (value: number): string => value.toFixed(1);
const describeHold = (hold: ReadWriteRecord): string => `${hold.mode} #${hold.id} of client ${hold.clientIndex}`;

/** What is wrong with a run, one line each; empty when every invariant held. */
export function readWriteViolations(history: ReadWriteHistory): string[] {
  return [
    ...conflictsOf(history).map(
      ({ writer, other, fromMs, untilMs }) => `overlap: ${describeHold(writer)} and ${describeHold(other)} were both relied on from ${ms(fromMs)} to ${ms(untilMs)} ms`,
    ),
    ...history.holds.filter((hold) => hold.validityMs <= 0).map((hold) => `no validity: ${describeHold(hold)} was handed out at ${ms(hold.fromMs)} ms without validity`),
    ...history.leftBehind.map(
      (found) => `left behind: a ${found.kind} entry of client ${found.clientIndex} on node ${found.nodeIndex}, which answered every call carrying it (seen at ${ms(found.atMs)} ms)`,
    ),
    ...history.untypedErrors.map((error) => `untyped error: ${error}`),
    ...(history.hang === undefined ? [] : [`hang: ${history.hang}`]),
  ];
}

/**
 * A counterexample, readable: the violations, the faults, every hold, then the trace; with a conflict, the
 * trace from 500 ms before the first of its two holds began until its end, else its first `maxEvents` lines.
 */
export function describeReadWriteRun(history: ReadWriteHistory, violations: readonly string[], maxEvents = 120): string {
  const [conflict] = conflictsOf(history);
  const inWindow = (event: string): boolean =>
    conflict === undefined || (Number.parseFloat(event) >= Math.min(conflict.writer.fromMs, conflict.other.fromMs) - 500 && Number.parseFloat(event) <= conflict.untilMs);
  const shown = history.events.filter(inWindow);
  const events = shown.length > maxEvents ? [...shown.slice(0, maxEvents), `… ${shown.length - maxEvents} more`] : shown;
  return [
    ...violations.map((violation) => `✗ ${violation}`),
    `faults: ${describeFaults(history.spec)}`,
    `holds (true time):`,
    ...history.holds.map((hold) => `  ${describeHold(hold)}: from ${ms(hold.fromMs)} to ${ms(hold.untilMs)} ms`),
    conflict === undefined ? `trace (true time):` : `trace (true time) around the first overlap:`,
    ...events.map((event) => `  ${event}`),
  ].join('\n');
}
