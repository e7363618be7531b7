import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { checkHistory, describeRun } from '../support/simulation/checker.js';
import { clockJumpWorld, describeFaults, earlyEmptyRestartWorld, slowClientClockWorld } from '../support/simulation/faults.js';
import { SIMULATION_TIMEOUT_MS, simulationParameters } from '../support/simulation/run-parameters.js';
import { writeTestLog } from '../support/test-log.js';
import { type RunOptions, runWorld, type WorldSpec } from '../support/simulation/world.js';

// The faults Redlock does NOT survive: each property below is expected to FAIL, and the test asserts that
// fast-check finds a world where two owners hold the same resource at once, so we know the checker sees
// the hazard (and the README's advice is not theoretical). The counterexample goes, with its seed and
// path, to test-results/simulation-hazards.test.ts.log (not the terminal: finding it is a pass): replay
// it with SIM_SEED=… SIM_PATH=… and jest -t '<test name>'. SIM_SHRINK=1 shrinks it to a minimal world first.

const shouldShrink = process.env['SIM_SHRINK'] === '1';

/** Whether a run had two owners of one resource at the same time (or, what follows, a lost update). */
async function hasTwoOwners(spec: WorldSpec, options?: RunOptions): Promise<boolean> {
  return checkHistory(await runWorld(spec, options)).some((violation) => violation.kind === 'overlap' || violation.kind === 'lost-update');
}

/** Runs `world` until fast-check finds two owners at once; logs (see test-log.ts) and returns what it found. */
async function findTwoOwners(name: string, world: fc.Arbitrary<WorldSpec>): Promise<fc.RunDetails<[WorldSpec]>> {
  const parameters = simulationParameters<[WorldSpec]>(300);
  const details = await fc.check(
    fc.asyncProperty(world, async (spec) => !(await hasTwoOwners(spec))),
    { ...parameters, endOnFailure: !shouldShrink },
  );
  const [spec] = details.counterexample ?? [];
  if (spec === undefined) {
    writeTestLog(`${name}: no two owners in ${details.numRuns} worlds (seed ${details.seed})`);
  } else {
    const history = await runWorld(spec);
    const violations = checkHistory(history).filter((violation) => ['overlap', 'lost-update', 'quorum-not-holding'].includes(violation.kind));
    writeTestLog(
      `${name}: two owners found in world ${details.numRuns} (replay: SIM_SEED=${details.seed} SIM_PATH=${details.counterexamplePath})\n` +
        `faults: ${describeFaults(spec)}\n${describeRun(history, violations, 40)}`,
    );
  }
  return details;
}

describe('simulation: faults Redlock does not survive are detected', () => {
  it('finds two owners at once when a node restarts empty before the TTLs it granted ran out', async () => {
    const details = await findTwoOwners('Restart without persistence', earlyEmptyRestartWorld());
    expect(details.failed).toBe(true);
  }, SIMULATION_TIMEOUT_MS);

  it('finds two owners at once when clocks are stepped (nodes forward, clients back) beyond the drift allowance', async () => {
    const details = await findTwoOwners('Clock jumps', clockJumpWorld());
    expect(details.failed).toBe(true);
  }, SIMULATION_TIMEOUT_MS);

  it('finds two owners at once when client clocks run slower than the drift factor allows', async () => {
    const details = await findTwoOwners('Slow client clocks', slowClientClockWorld());
    expect(details.failed).toBe(true);
  }, SIMULATION_TIMEOUT_MS);
});

/**
 * Restart detection closes the restart hazard: with `restartGraceMs` at least the longest TTL, a node
 * whose uptime is shorter grants nothing (the acquire script reads INFO's uptime; a simulated node's
 * uptime restarts from 0 with every restart, see `FakeKeyspace.restart()`), and re-seeding on extend
 * puts a held lock's keys back on it. Same worlds as the first test above, which runs without the grace
 * (the default) to keep proving that the checker sees the hazard. Only two owners and lost updates are
 * checked: an owner may still rely on a lock that a restart erased from some nodes (the checker's
 * quorum ground truth), but the grace keeps everyone else out until its keys would have expired anyway.
 */
const RESTART_DETECTION: RunOptions['redlockOptions'] = { restartGraceMs: 1_000 };

describe('simulation: restart detection closes the restart hazard', () => {
  it('keeps one owner at a time across empty restarts before the TTL, with restartGraceMs longer than every TTL', async () => {
    const parameters = simulationParameters(100);
    await fc.assert(
      fc.asyncProperty(earlyEmptyRestartWorld(), async (spec) => {
        expect(await hasTwoOwners(spec, { redlockOptions: RESTART_DETECTION })).toBe(false);
      }),
      parameters,
    );
    writeTestLog(`Restart detection: ${parameters.numRuns} worlds with early empty restarts (seed ${parameters.seed}), one owner at a time in every one`);
  }, SIMULATION_TIMEOUT_MS);
});
