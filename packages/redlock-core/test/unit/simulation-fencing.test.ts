import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { checkHistory, describeRun, orderedFencedPairs } from '../support/simulation/checker.js';
import { DRIFT_FACTOR, describeFaults, fencedEmptyRestartWorld, fencedWorld } from '../support/simulation/faults.js';
import { SIMULATION_TIMEOUT_MS, simulationParameters } from '../support/simulation/run-parameters.js';
import { writeTestLog } from '../support/test-log.js';
import { type FaultSpec, type History, type RunOptions, runWorld, type WorldSpec } from '../support/simulation/world.js';

// Fencing tokens in the deterministic simulation. Under the faults Redlock survives, the checker verifies,
// in true time and for every resource, that a fenced lock's token is an integer from 1 and above the token
// of every fenced lock handed out before its acquisition was called. Then the faults fencing does NOT
// survive: nodes that restart empty lose their counters, with or without `restartGraceMs`. A failure
// prints its seed and path (a hazard's counterexample, found as expected, goes to
// test-results/simulation-fencing.test.ts.log instead): replay with SIM_SEED=… SIM_PATH=… and
// jest -t '<test name>'; SIM_RUNS=<n> runs more worlds; SIM_SHRINK=1 shrinks a hazard's counterexample.

const shouldShrink = process.env['SIM_SHRINK'] === '1';

/** Restart detection with a grace longer than every generated TTL (at most 400 ms), as the README advises. */
const RESTART_DETECTION: RunOptions = { redlockOptions: { restartGraceMs: 1_000 } };

/** Totals over every world the property ran, for the summary line. */
class FencingTally {
  worlds = 0;
  fencedLocks = 0;
  plainLocks = 0;
  orderedPairs = 0;
  fenceCalls = 0;
  readonly faults = new Map<string, number>();

  add(history: History): void {
    this.worlds += 1;
    this.fencedLocks += history.locks.filter((lock) => lock.isFenced).length;
    this.plainLocks += history.locks.filter((lock) => !lock.isFenced).length;
    this.orderedPairs += orderedFencedPairs(history).length;
    this.fenceCalls += history.calls.filter((call) => call.script === 'fence').length;
    for (const fault of history.spec.faults) this.faults.set(fault.kind, (this.faults.get(fault.kind) ?? 0) + 1);
  }

  describe(seed: number): string {
    const faults = [...this.faults].map(([name, count]) => `${count} ${name}`).join(', ');
    return (
      `${this.worlds} worlds (seed ${seed}): ${this.fencedLocks} fenced locks and ${this.plainLocks} without, ` +
      `${this.orderedPairs} ordered pairs of fenced locks compared, ${this.fenceCalls} fence calls; faults: ${faults}`
    );
  }
}

/** Whether a run handed out a fencing token not above one handed out before its acquisition was called. */
async function hasFencingViolation(spec: WorldSpec, options?: RunOptions): Promise<boolean> {
  return checkHistory(await runWorld(spec, options)).some((violation) => violation.kind === 'fencing-order');
}

/** Runs `world` until fast-check finds a fencing violation; logs (see test-log.ts) and returns what it found. */
async function findFencingViolation(name: string, world: fc.Arbitrary<WorldSpec>, options?: RunOptions): Promise<fc.RunDetails<[WorldSpec]>> {
  const parameters = simulationParameters<[WorldSpec]>(300);
  const details = await fc.check(
    fc.asyncProperty(world, async (spec) => !(await hasFencingViolation(spec, options))),
    { ...parameters, endOnFailure: !shouldShrink },
  );
  const [spec] = details.counterexample ?? [];
  if (spec === undefined) {
    writeTestLog(`${name}: no fencing violation in ${details.numRuns} worlds (seed ${details.seed})`);
  } else {
    const history = await runWorld(spec, options);
    const violations = checkHistory(history).filter((violation) => violation.kind === 'fencing-order');
    writeTestLog(
      `${name}: fencing violation found in world ${details.numRuns} (replay: SIM_SEED=${details.seed} SIM_PATH=${details.counterexamplePath})\n` +
        `faults: ${describeFaults(spec)}\n${describeRun(history, violations, 60)}`,
    );
  }
  return details;
}

describe('simulation: fencing tokens under faults Redlock survives', () => {
  it('gives every fenced lock an integer token from 1, above that of every fenced lock of a common resource handed out before its acquisition began', async () => {
    const parameters = simulationParameters(200);
    const tally = new FencingTally();
    await fc.assert(
      fc.asyncProperty(fencedWorld(), async (spec) => {
        const history = await runWorld(spec);
        tally.add(history);
        // Every invariant, not only fencing: the second round trip must not cost mutual exclusion either.
        const violations = checkHistory(history);
        if (violations.length > 0) throw new Error(`faults: ${describeFaults(spec)}\n${describeRun(history, violations)}`);
      }),
      parameters,
    );
    writeTestLog(`Fencing: ${tally.describe(parameters.seed)}`);
  }, SIMULATION_TIMEOUT_MS);
});

/**
 * A small world built by hand, to show that one node restarting empty (a minority, which the lock itself
 * survives) is enough: three nodes, two clients that fence one resource, the second long after the first.
 * Node 2 is partitioned while client 0 acquires, so token 1 is stored on nodes 0 and 1 only, a quorum, as
 * fencing allows. Node 0 crashes at 400 ms and comes back as `restart` says; node 1 is partitioned from
 * 1300 ms, while client 1 acquires at 1500 ms, so that granting quorum is nodes 0 and 2: of the two, only
 * node 0 ever stored token 1.
 */
function oneEmptyRestartWorld(restart: 'with its data' | 'empty after every TTL' | 'empty at once'): WorldSpec {
  const fenced = { kind: 'acquire', resources: ['a'], ttlMs: 200, holdMs: 20, extendEveryMs: undefined, fencing: true } as const;
  const crash: FaultSpec = { kind: 'crash', node: 0, atMs: 400, downForMs: restart === 'empty after every TTL' ? 1_000 : 10, persistence: restart === 'with its data' };
  return {
    nodes: [0, 1, 2].map(() => ({ clockRate: 1, link: { minLatencyMs: 1, maxLatencyMs: 2, dropRate: 0 } })),
    clients: [
      { clockRate: 1, notifications: false, ops: [{ ...fenced, startAfterMs: 50 }] },
      { clockRate: 1, notifications: false, ops: [{ ...fenced, startAfterMs: 1_500 }] },
    ],
    faults: [{ kind: 'partition', node: 2, atMs: 0, forMs: 300 }, crash, { kind: 'partition', node: 1, atMs: 1_300, forMs: 1_000 }],
    redlock: { driftFactor: DRIFT_FACTOR, retryCount: 0, retryDelayMs: 10, retryJitterMs: 0, nodeTimeoutMs: undefined, restartGraceMs: 0 },
    noiseSeed: 1,
  };
}

// Fencing counters have no TTL: they must outlive every lock. A node that restarts empty loses them for
// good, and neither remedy for the lock's restart hazard brings them back: `restartGraceMs` (and a restart
// delayed past every TTL) only waits until the locks the node granted would have expired; then the node
// grants again and reports counter 0. A later fenced acquisition whose granting quorum is that node plus
// nodes that never stored the last token (they missed the fence, which needs only a quorum, or also
// restarted empty) reads a lower counter and hands out a token that is not above the last one. So only
// persistence keeps fencing tokens correct: the README's "(persistence, or `restartGraceMs`)" holds for
// the lock, not for its fencing tokens.
describe('simulation: fencing tokens do not survive empty restarts, even with restartGraceMs', () => {
  it('finds a token not above an earlier one when nodes restart empty', async () => {
    const details = await findFencingViolation('Fencing, empty restarts', fencedEmptyRestartWorld());
    expect(details.failed).toBe(true);
  }, SIMULATION_TIMEOUT_MS);

  it('still finds one with restartGraceMs longer than every TTL: the grace waits out TTLs, and the counters have none', async () => {
    const details = await findFencingViolation('Fencing, empty restarts with restartGraceMs', fencedEmptyRestartWorld(), RESTART_DETECTION);
    expect(details.failed).toBe(true);
  }, SIMULATION_TIMEOUT_MS);

  it.each([
    { restart: 'with its data', remedy: 'none needed', options: {}, tokens: [1, 2] },
    { restart: 'empty at once', remedy: 'restartGraceMs 1000', options: RESTART_DETECTION, tokens: [1, 1] },
    { restart: 'empty after every TTL', remedy: 'the delayed restart', options: {}, tokens: [1, 1] },
  ] as const)('hands out fencing tokens $tokens when one node of three restarts $restart ($remedy)', async ({ restart, options, tokens }) => {
    const history = await runWorld(oneEmptyRestartWorld(restart), options);
    expect(history.locks.map((lock) => lock.fencingToken)).toEqual(tokens);
    const violations = checkHistory(history).filter((violation) => violation.kind === 'fencing-order');
    expect(violations.length).toBe(tokens[1] > tokens[0] ? 0 : 1);
    // Both locks were each held by a quorum: the lock itself survived the restart, its fencing did not.
    expect(checkHistory(history).filter((violation) => violation.kind !== 'fencing-order')).toEqual([]);
  });
});
