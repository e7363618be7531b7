import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { describeFaults, fencedWorld } from '../support/simulation/faults.js';
import { type ElectionHistory, electionViolations, runElectionWorld } from '../support/simulation/election-world.js';
import { SIMULATION_TIMEOUT_MS, simulationParameters } from '../support/simulation/run-parameters.js';
import { writeTestLog } from '../support/test-log.js';

// Leader election in the random worlds of simulation.test.ts that fencing survives (nodes that crash with
// persistence, pause, slow down, lose messages or are partitioned; clients with drifting clocks): every
// client campaigns in one election, leads for a while, and resigns, while client 0 observes. Checked in
// true time: no two leaders act on overlapping validity, terms grow with every leader, and the observer
// never goes back to an older term. A failure prints its seed and path: replay with SIM_SEED=… SIM_PATH=…
// and jest -t '<test name>'; SIM_RUNS=<n> runs more worlds.

/** What a run tells when it fails: the faults, the leaderships, what the observer saw and the trace's end. */
function describeElectionRun(history: ElectionHistory, violations: readonly string[]): string {
  const leaderships = history.leaderships.map((record) => `term ${record.term}: client ${record.clientIndex} from ${record.fromMs.toFixed(1)} to ${record.untilMs.toFixed(1)} ms`);
  return [...violations, `faults: ${describeFaults(history.spec)}`, ...leaderships, `observed: ${history.observed.join(', ')}`, ...history.events.slice(-60)].join('\n');
}

describe('simulation: leader election under the faults fencing survives', () => {
  it('never has two leaders act at once, gives every leader a greater term, and never shows an observer an older term', async () => {
    const parameters = simulationParameters(100);
    let leaderships = 0;
    let observed = 0;
    let worldsWithHandOver = 0;
    await fc.assert(
      fc.asyncProperty(fencedWorld(), async (spec) => {
        const history = await runElectionWorld(spec);
        const violations = electionViolations(history);
        if (violations.length > 0 || history.hang !== undefined || history.untypedErrors.length > 0) {
          throw new Error(describeElectionRun(history, [...violations, ...(history.hang === undefined ? [] : [history.hang]), ...history.untypedErrors]));
        }
        leaderships += history.leaderships.length;
        observed += history.observed.filter((term) => term !== undefined).length;
        if (new Set(history.leaderships.map((record) => record.clientIndex)).size > 1) worldsWithHandOver += 1;
      }),
      { ...parameters, endOnFailure: process.env['SIM_SHRINK'] !== '1' },
    );
    writeTestLog(`Election: ${parameters.numRuns} worlds (seed ${parameters.seed}): ${leaderships} leaderships, leadership changing clients in ${worldsWithHandOver} worlds, ${observed} leaders observed`);
    // The worlds must hand leadership from client to client and be observed, or the checks check nothing.
    if (parameters.numRuns >= 50) {
      expect(worldsWithHandOver).toBeGreaterThan(parameters.numRuns / 4);
      expect(observed).toBeGreaterThan(parameters.numRuns);
    }
  }, SIMULATION_TIMEOUT_MS);
});
