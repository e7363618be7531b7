import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { contendedMinorityWorld, crashedClientsOf, earlyEmptyRestartWorld, twoLeasesPastLongestTtlMs, withClientCrash, worldArbitrary } from '../support/simulation/faults.js';
import { conflictsOf, describeReadWriteRun, mostReadersAtOnce, readWriteViolations } from '../support/simulation/read-write-checker.js';
import { type ReadWriteHistory, type ReadWriteWorldSpec, readerStreamWorld, runReadWriteWorld, withModes } from '../support/simulation/read-write-world.js';
import { SIMULATION_TIMEOUT_MS, simulationParameters } from '../support/simulation/run-parameters.js';
import { writeTestLog } from '../support/test-log.js';

// The simulation of simulation.test.ts for read-write locks: the same random worlds (nodes that crash,
// pause, slow down, lose messages or are partitioned; clients with drifting clocks), every operation
// taking one read-write lock for reading or for writing. Checked in every world: a writer relies on the
// lock alone; nothing is handed out without validity; what a client is done with (its failed attempts'
// entries, its released hold's entry, a writer's intent once it released or gave up) is gone from every
// node that answered the calls carrying it. A failure prints its seed and path: replay with
// SIM_SEED=… SIM_PATH=… and jest -t '<test name>'; SIM_RUNS=<n> runs more worlds than the default.

/** Properties stop at their first counterexample, unless SIM_SHRINK=1 asks fast-check to shrink it (slow). */
const UNTIL_FIRST_FAILURE = { endOnFailure: process.env['SIM_SHRINK'] !== '1' };

/** Runs a world and fails with its violations and trace, which fast-check prints with the seed. */
async function runAndCheck(spec: ReadWriteWorldSpec, histories: ReadWriteHistory[]): Promise<ReadWriteHistory> {
  const history = await runReadWriteWorld(spec);
  histories.push(history);
  const violations = readWriteViolations(history);
  if (violations.length > 0) throw new Error(describeReadWriteRun(history, violations));
  return history;
}

/** Fails unless every acquisition of the run handed out the lock, with no typed error on the way. */
function expectEveryAcquisitionHeld(history: ReadWriteHistory): void {
  const failed = history.acquisitions.filter((acquisition) => !acquisition.isHeld);
  if (failed.length > 0 || history.typedErrors.size > 0) {
    const errors = [...history.typedErrors].map(([name, count]) => `${count} ${name}`).join(', ');
    throw new Error(`${failed.length} acquisitions not held (typed errors: ${errors})\n${describeReadWriteRun(history, [])}`);
  }
}

/**
 * Fails unless every client but the one a `'client-crash'` fault crashed got every lock it asked for (each
 * operation, and a streaming reader's every read), within two leases past the longest TTL.
 */
function expectOthersServedPastTheCrash(history: ReadWriteHistory): void {
  const { world, streaming } = history.readWrite;
  const crashed = crashedClientsOf(world);
  const boundMs = twoLeasesPastLongestTtlMs(world);
  const others = history.acquisitions.filter((acquisition) => !crashed.has(acquisition.clientIndex));
  const late = others.filter((acquisition) => !acquisition.isHeld || (acquisition.settledAtMs as number) - acquisition.calledAtMs > boundMs);
  const ops = world.clients.filter((_, clientIndex) => !crashed.has(clientIndex) && streaming[clientIndex] !== true).flatMap((client) => client.ops).length;
  const asked = others.filter((acquisition) => streaming[acquisition.clientIndex] !== true).length;
  if (late.length > 0 || asked !== ops || history.typedErrors.size > 0) {
    const errors = [...history.typedErrors].map(([name, count]) => `${count} ${name}`).join(', ');
    const lateText = late.map((acquisition) => `client ${acquisition.clientIndex} ${acquisition.isHeld ? `after ${Math.round((acquisition.settledAtMs as number) - acquisition.calledAtMs)} ms` : 'not held'}`).join(', ');
    throw new Error(`${asked} of ${ops} operations asked; late or not held: ${lateText || 'none'} (bound ${boundMs} ms; typed errors: ${errors || 'none'})\n${describeReadWriteRun(history, [])}`);
  }
}

/** The worlds of `worlds` with one client crashed or frozen, as `withClientCrash` crashes a lock world's. */
function withReadWriteClientCrash(worlds: fc.Arbitrary<ReadWriteWorldSpec>): fc.Arbitrary<ReadWriteWorldSpec> {
  return worlds.chain((spec) => withClientCrash(fc.constant(spec.world)).map((world): ReadWriteWorldSpec => ({ ...spec, world })));
}

/** The longest a write acquisition waited in a run, in true milliseconds. */
const longestWriterWaitMs = (history: ReadWriteHistory): number =>
  Math.max(0, ...history.acquisitions.filter((acquisition) => acquisition.mode === 'write').map((acquisition) => (acquisition.settledAtMs ?? Infinity) - acquisition.calledAtMs));

/** The writes that found readers relying on the lock when they were called, and got it: the writer-first path. */
const writesAfterReaders = (history: ReadWriteHistory): number =>
  history.acquisitions.filter(
    (acquisition) =>
      acquisition.mode === 'write' &&
      acquisition.isHeld &&
      history.holds.some((hold) => hold.mode === 'read' && hold.fromMs <= acquisition.calledAtMs && acquisition.calledAtMs < hold.untilMs),
  ).length;

/** Totals over the worlds a property ran, for the summary line. */
function summary(histories: readonly ReadWriteHistory[], seed: number): string {
  const holds = histories.flatMap((history) => history.holds);
  const writes = holds.filter((hold) => hold.mode === 'write').length;
  const shared = histories.filter((history) => mostReadersAtOnce(history) >= 2).length;
  const afterReaders = histories.reduce((sum, history) => sum + writesAfterReaders(history), 0);
  const errors = new Map<string, number>();
  for (const history of histories) for (const [name, count] of history.typedErrors) errors.set(name, (errors.get(name) ?? 0) + count);
  return (
    `${histories.length} worlds (seed ${seed}): ${holds.length} holds (${writes} writes, ${afterReaders} of them asked for while readers held; ` +
    `${holds.length - writes} reads), readers sharing the lock in ${shared} worlds; ` +
    `typed errors: ${[...errors].map(([name, count]) => `${count} ${name}`).join(', ') || 'none'}`
  );
}

describe('simulation: read-write locks under the faults Redlock survives', () => {
  it('never lets a writer rely on the lock beside a reader or another writer, and leaves nothing of what a client is done with', async () => {
    const parameters = simulationParameters(60);
    const histories: ReadWriteHistory[] = [];
    await fc.assert(
      fc.asyncProperty(withModes(worldArbitrary({}, { minClients: 3, maxClients: 5 })), async (spec) => {
        await runAndCheck(spec, histories);
      }),
      { ...parameters, ...UNTIL_FIRST_FAILURE },
    );
    writeTestLog(`Read-write safety: ${summary(histories, parameters.seed)}`);
    // The worlds must reach readers sharing the lock and writers among them, where an overlap would show.
    if (parameters.numRuns >= 50) {
      expect(histories.some((history) => mostReadersAtOnce(history) >= 2 && history.holds.some((hold) => hold.mode === 'write'))).toBe(true);
    }
  }, SIMULATION_TIMEOUT_MS);

  it('gives contending readers and writers every lock they ask for while only a minority of nodes is faulty', async () => {
    const parameters = simulationParameters(30);
    const histories: ReadWriteHistory[] = [];
    await fc.assert(
      fc.asyncProperty(withModes(contendedMinorityWorld()), async (spec) => {
        expectEveryAcquisitionHeld(await runAndCheck(spec, histories));
      }),
      { ...parameters, ...UNTIL_FIRST_FAILURE },
    );
    writeTestLog(`Read-write liveness: ${summary(histories, parameters.seed)}`);
  }, SIMULATION_TIMEOUT_MS);

  // Found at SIM_RUNS=10000: a node slowed and restarted (its script cache lost) answers a writer's request
  // with NOSCRIPT after the writer released; the EVAL that follows admits it there after the release, which
  // said 'released' for the intent it freed, and the entry stayed. A grant sent after the release is freed.
  it('frees an entry a request re-sent after NOSCRIPT admits once the release went (world 8891 of seed -341108817)', async () => {
    const histories: ReadWriteHistory[] = [];
    await fc.assert(
      fc.asyncProperty(withModes(contendedMinorityWorld()), async (spec) => {
        expectEveryAcquisitionHeld(await runAndCheck(spec, histories));
      }),
      { seed: -341108817, path: '8891', numRuns: 1, endOnFailure: true },
    );
    expect(histories).toHaveLength(1);
  });

  it('lets every writer in while readers keep taking the lock back to back, a minority of nodes faulty', async () => {
    const parameters = simulationParameters(20);
    const histories: ReadWriteHistory[] = [];
    await fc.assert(
      fc.asyncProperty(readerStreamWorld(), async (spec) => {
        expectEveryAcquisitionHeld(await runAndCheck(spec, histories));
      }),
      { ...parameters, ...UNTIL_FIRST_FAILURE },
    );
    const waits = histories.map(longestWriterWaitMs);
    writeTestLog(`Writers among streaming readers: ${summary(histories, parameters.seed)}; the longest writer wait ${Math.max(...waits).toFixed(1)} ms`);
  }, SIMULATION_TIMEOUT_MS);

  it('gives the other clients every lock within two leases past the longest TTL when a reader or a writer crashes or freezes, streaming readers too', async () => {
    const parameters = simulationParameters(40);
    const histories: ReadWriteHistory[] = [];
    const crashedModes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.oneof(withReadWriteClientCrash(withModes(contendedMinorityWorld())), withReadWriteClientCrash(readerStreamWorld())), async (spec) => {
        const history = await runAndCheck(spec, histories);
        expectOthersServedPastTheCrash(history);
        for (const clientIndex of crashedClientsOf(spec.world)) {
          const kind = spec.streaming[clientIndex] === true ? 'streaming reader' : (spec.modes[clientIndex] ?? []).includes('write') ? 'writer' : 'reader';
          crashedModes.set(kind, (crashedModes.get(kind) ?? 0) + 1);
        }
      }),
      { ...parameters, ...UNTIL_FIRST_FAILURE },
    );
    writeTestLog(`Read-write liveness past a crashed client: ${summary(histories, parameters.seed)}; crashed: ${[...crashedModes].map(([kind, count]) => `${count} ${kind}`).join(', ')}`);
    // The worlds must crash writers, whose intents hold new readers off.
    if (parameters.numRuns >= 40) expect(crashedModes.get('writer')).toBeGreaterThan(0);
  }, SIMULATION_TIMEOUT_MS);

  it('sees a writer beside another holder when nodes restart empty before the TTLs they granted ran out (the checker sees the hazard)', async () => {
    const parameters = simulationParameters(300);
    let found: ReadWriteHistory | undefined;
    const details = await fc.check(
      fc.asyncProperty(withModes(earlyEmptyRestartWorld()), async (spec) => {
        const history = await runReadWriteWorld(spec);
        if (conflictsOf(history).length > 0) found = history;
        return found === undefined;
      }),
      { ...parameters, endOnFailure: true },
    );
    writeTestLog(
      `Read-write restart hazard: ${found === undefined ? `no overlap in ${details.numRuns} worlds` : `an overlap found in world ${details.numRuns}`} (seed ${details.seed})` +
        (found === undefined ? '' : `\n${describeReadWriteRun(found, readWriteViolations(found).filter((violation) => violation.startsWith('overlap')), 60)}`),
    );
    expect(details.failed).toBe(true);
  }, SIMULATION_TIMEOUT_MS);
});
