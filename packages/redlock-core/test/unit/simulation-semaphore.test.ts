import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  contendedMinorityWorld,
  crashedClientsOf,
  describeFaults,
  earlyEmptyRestartWorld,
  twoLeasesPastLongestTtlMs,
  withClientCrash,
  worldArbitrary,
} from '../support/simulation/faults.js';
import { SIMULATION_TIMEOUT_MS, simulationParameters } from '../support/simulation/run-parameters.js';
import { mostPermitsAtOnce, runSemaphoreWorld, type SemaphoreHistory } from '../support/simulation/semaphore-world.js';
import type { WorldSpec } from '../support/simulation/world.js';
import { writeTestLog } from '../support/test-log.js';

// The simulation of simulation.test.ts for counting semaphores: the same random worlds (nodes that crash,
// pause, slow down, lose messages or are partitioned; clients with drifting clocks), every client taking
// permits of one semaphore of a random limit. A failure prints its seed and path: replay with
// SIM_SEED=… SIM_PATH=… and jest -t '<test name>'. A request for 2 permits leaves an intent where too few are
// free: once the request is done with (released or given up), it must be gone from every node that answered.

/** A world and the limit of its semaphore: 1 (a lock by another name) to 3. */
const semaphoreWorld = (worlds: fc.Arbitrary<WorldSpec>): fc.Arbitrary<[WorldSpec, number]> => fc.tuple(worlds, fc.integer({ min: 1, max: 3 }));

/** What a run tells when it fails: the faults, the permits over time and the trace's end. */
function describeSemaphoreRun(history: SemaphoreHistory): string {
  const most = mostPermitsAtOnce(history);
  const permits = history.permits.map((record) => `client ${record.clientIndex}: ${record.permits} from ${record.fromMs.toFixed(1)} to ${record.untilMs.toFixed(1)} ms`);
  return [
    `limit ${history.limit}, at most ${most.permits} permits relied on at once (at ${most.atMs.toFixed(1)} ms); faults: ${describeFaults(history.spec)}`,
    ...permits,
    ...history.events.slice(-60),
  ].join('\n');
}

/** Totals over the worlds a property ran, for the summary line. */
function summary(histories: readonly SemaphoreHistory[], seed: number): string {
  const permits = histories.reduce((sum, history) => sum + history.permits.length, 0);
  const full = histories.filter((history) => mostPermitsAtOnce(history).permits === history.limit).length;
  const errors = new Map<string, number>();
  for (const history of histories) for (const [name, count] of history.typedErrors) errors.set(name, (errors.get(name) ?? 0) + count);
  return `${histories.length} worlds (seed ${seed}): ${permits} permits held, the semaphore full in ${full} worlds; typed errors: ${[...errors].map(([name, count]) => `${count} ${name}`).join(', ') || 'none'}`;
}

describe('simulation: counting semaphores under the faults Redlock survives', () => {
  // 3 to 6 clients: an overcommit of a limit of 3 needs 4 holders at once.
  it('never lets holders rely on more permits at once than the limit, whatever the faults', async () => {
    const parameters = simulationParameters(150);
    const histories: SemaphoreHistory[] = [];
    await fc.assert(
      fc.asyncProperty(semaphoreWorld(worldArbitrary({}, { minClients: 3, maxClients: 6 })), async ([spec, limit]) => {
        const history = await runSemaphoreWorld(spec, limit);
        histories.push(history);
        const most = mostPermitsAtOnce(history);
        if (most.permits > limit || history.hang !== undefined || history.untypedErrors.length > 0 || history.leftBehind.length > 0) {
          const leftBehind = history.leftBehind.map((found) => `client ${found.clientIndex}'s ${found.kind} left on node ${found.nodeIndex} at ${found.atMs.toFixed(1)} ms`);
          throw new Error(`${history.hang ?? [...history.untypedErrors, ...leftBehind].join('; ')}\n${describeSemaphoreRun(history)}`);
        }
      }),
      // A counterexample is replayed by its seed and path; SIM_SHRINK=1 shrinks it first (slow).
      { ...parameters, endOnFailure: process.env['SIM_SHRINK'] !== '1' },
    );
    writeTestLog(`Semaphore safety: ${summary(histories, parameters.seed)}`);
    // The worlds must reach a full semaphore, where an overcommit would show, not only pass.
    if (parameters.numRuns >= 100) expect(histories.some((history) => history.limit > 1 && mostPermitsAtOnce(history).permits === history.limit)).toBe(true);
  }, SIMULATION_TIMEOUT_MS);

  it('gives contending clients every permit they ask for while only a minority of nodes is faulty', async () => {
    const parameters = simulationParameters(60);
    const histories: SemaphoreHistory[] = [];
    await fc.assert(
      fc.asyncProperty(semaphoreWorld(contendedMinorityWorld()), async ([spec, limit]) => {
        const history = await runSemaphoreWorld(spec, limit);
        histories.push(history);
        const ops = spec.clients.flatMap((client) => client.ops).length;
        expect({ typedErrors: [...history.typedErrors], untyped: history.untypedErrors, hang: history.hang, permits: history.permits.length }).toEqual({
          typedErrors: [],
          untyped: [],
          hang: undefined,
          permits: ops,
        });
        expect(mostPermitsAtOnce(history).permits).toBeLessThanOrEqual(limit);
      }),
      parameters,
    );
    writeTestLog(`Semaphore liveness: ${summary(histories, parameters.seed)}`);
  }, SIMULATION_TIMEOUT_MS);

  it('gives the other clients every permit within two leases past the longest TTL when a client crashes or freezes', async () => {
    const parameters = simulationParameters(60);
    const histories: SemaphoreHistory[] = [];
    await fc.assert(
      fc.asyncProperty(semaphoreWorld(withClientCrash(contendedMinorityWorld())), async ([spec, limit]) => {
        const history = await runSemaphoreWorld(spec, limit);
        histories.push(history);
        const crashed = crashedClientsOf(spec);
        const ops = spec.clients.filter((_, clientIndex) => !crashed.has(clientIndex)).flatMap((client) => client.ops).length;
        const boundMs = twoLeasesPastLongestTtlMs(spec);
        const others = history.permits.filter((record) => !crashed.has(record.clientIndex));
        const late = others.filter((record) => record.fromMs - record.calledAtMs > boundMs).map((record) => `client ${record.clientIndex} after ${Math.round(record.fromMs - record.calledAtMs)} ms`);
        expect({ typedErrors: [...history.typedErrors], untyped: history.untypedErrors, hang: history.hang, permits: others.length, late }).toEqual({
          typedErrors: [],
          untyped: [],
          hang: undefined,
          permits: ops,
          late: [],
        });
        expect(mostPermitsAtOnce(history).permits).toBeLessThanOrEqual(limit);
      }),
      parameters,
    );
    writeTestLog(`Semaphore liveness past a crashed client: ${summary(histories, parameters.seed)}`);
  }, SIMULATION_TIMEOUT_MS);

  it('sees an overcommit when nodes restart empty before the TTLs they granted ran out (the checker sees the hazard)', async () => {
    const parameters = simulationParameters(300);
    const details = await fc.check(
      fc.asyncProperty(semaphoreWorld(earlyEmptyRestartWorld()), async ([spec, limit]) => mostPermitsAtOnce(await runSemaphoreWorld(spec, limit)).permits <= limit),
      { ...parameters, endOnFailure: true },
    );
    writeTestLog(`Semaphore restart hazard: ${details.failed ? `an overcommit found in world ${details.numRuns}` : `none in ${details.numRuns} worlds`} (seed ${details.seed})`);
    expect(details.failed).toBe(true);
  }, SIMULATION_TIMEOUT_MS);
});
