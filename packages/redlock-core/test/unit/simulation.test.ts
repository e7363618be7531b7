import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { checkHistory, describeRun } from '../support/simulation/checker.js';
import {
  contendedMinorityWorld,
  crashedClientsOf,
  describeFaults,
  faultyMinorityWorld,
  twoLeasesPastLongestTtlMs,
  withClientCrash,
  withFair,
  worldArbitrary,
} from '../support/simulation/faults.js';
import { SIMULATION_TIMEOUT_MS, simulationParameters } from '../support/simulation/run-parameters.js';
import { writeTestLog } from '../support/test-log.js';
import { type History, runWorld, type WorldSpec } from '../support/simulation/world.js';

// Deterministic simulation of Redlock under the faults it is meant to survive: nodes that crash (and come
// back with their data, or empty after longer than every TTL), pause, slow down, lose messages or are
// partitioned, any number of them at once, while several clients with drifting clocks contend. Each run
// is one world from fast-check; a failure prints its seed and path: replay with SIM_SEED=… SIM_PATH=…
// and jest -t '<test name>'.
// SIM_RUNS=<n> runs more worlds than the CI default.

/** Totals over every world a property ran, for the summary line. */
class Tally {
  worlds = 0;
  locks = 0;
  commits = 0;
  calls = 0;
  subscribes = 0;
  lostReplies = 0;
  /** Locks handed over to a re-entrant handle before the first one was released. */
  reentries = 0;
  /** Operations that ended with a node taken out of service by the client's circuit breaker. */
  nodesSeenDown = 0;
  /** Holds lost legitimately on a bare quorum (see expectEveryOperationToSucceed). */
  bareQuorumLosses = 0;
  readonly faults = new Map<string, number>();
  readonly errors = new Map<string, number>();
  /** Clients crashed, by what they were doing then. */
  readonly crashes = new Map<string, number>();

  add(history: History): void {
    this.worlds += 1;
    this.locks += history.locks.length;
    this.commits += history.commits.length;
    this.calls += history.calls.length;
    this.subscribes += history.calls.filter((call) => call.script === 'subscribe').length;
    this.lostReplies += history.calls.filter((call) => call.replied === undefined).length;
    this.reentries += history.locks.filter((lock, index) => history.locks.slice(0, index).some((earlier) => earlier.token === lock.token)).length;
    this.nodesSeenDown += history.nodesSeenDown;
    for (const fault of history.spec.faults) {
      const name = fault.kind === 'crash' ? `crash-${fault.persistence ? 'persistent' : 'empty-delayed'}` : fault.kind;
      this.faults.set(name, (this.faults.get(name) ?? 0) + 1);
    }
    for (const [name, count] of history.typedErrors) this.errors.set(name, (this.errors.get(name) ?? 0) + count);
    for (const { phase } of history.clientCrashes) this.crashes.set(phase, (this.crashes.get(phase) ?? 0) + 1);
  }

  describe(seed: number): string {
    const faults = [...this.faults].map(([name, count]) => `${count} ${name}`).join(', ');
    const errors = [...this.errors].map(([name, count]) => `${count} ${name}`).join(', ') || 'none';
    return (
      `${this.worlds} worlds (seed ${seed}): ${this.locks} locks, ${this.commits} writes under a lock, ` +
      `${this.calls} node calls (${this.subscribes} SUBSCRIBEs; ${this.lostReplies} never answered); ` +
      `${this.reentries} re-entrant hand-offs; ${this.nodesSeenDown} nodes seen down by a circuit breaker; ` +
      `${this.bareQuorumLosses} holds lost on a bare quorum; ` +
      `faults: ${faults}${this.crashes.size > 0 ? ` (clients crashed while ${[...this.crashes].map(([phase, count]) => `${phase} ${count}`).join(', ')})` : ''}; typed errors: ${errors}`
    );
  }
}

/** Runs a world and fails with its violations and trace, which fast-check prints with the seed. */
async function runAndCheck(spec: WorldSpec, tally: Tally): Promise<History> {
  const history = await runWorld(spec);
  tally.add(history);
  const violations = checkHistory(history);
  if (violations.length > 0) throw new Error(`faults: ${describeFaults(spec)}\n${describeRun(history, violations)}`);
  return history;
}

/**
 * Runs `defaultRuns` worlds (or SIM_RUNS) in which every operation must commit, with no typed error (those
 * of a client that crashed aside: what it did not finish is not owed), but
 * for holds lost on a bare quorum: a lock granted by a bare quorum (a rival's racing attempt held the
 * other node) until it takes that node (a few milliseconds: `fillIn`) is lost with any one node of the
 * quorum, which Redlock does not promise to survive. Such a loss counts only when the extension ended
 * with the validity (the library's part: it waits no longer) and at most a quorum held the token when it
 * started (the ground truth); it costs its operation's commit. World 39 of seed -1963567067 (CI, 9fd2e2a)
 * was one; so is world 2971 of seed 1200501776, where the fill-in took the third node while the extension
 * waited for the slow one, after that node had answered the extension that our keys were missing.
 */
async function expectEveryOperationToSucceed(
  name: string,
  worlds: fc.Arbitrary<WorldSpec>,
  defaultRuns: number,
  alsoExpect?: (spec: WorldSpec, history: History) => void,
): Promise<Tally> {
  const parameters = simulationParameters(defaultRuns);
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(worlds, async (spec) => {
      const history = await runAndCheck(spec, tally);
      const crashed = crashedClientsOf(spec);
      const ops = spec.clients.filter((_, clientIndex) => !crashed.has(clientIndex)).flatMap((client) => client.ops).length;
      const lost = history.bareQuorumLosses.filter((loss) => !crashed.has(loss.clientIndex)).length;
      const commits = history.commits.filter((commit) => !crashed.has((history.locks[commit.lockId] as History['locks'][number]).clientIndex)).length;
      tally.bareQuorumLosses += lost;
      const outcome = { typedErrors: [...history.typedErrors], commits };
      if (outcome.typedErrors.length > 0 || commits !== ops - lost) {
        throw new Error(`${JSON.stringify(outcome)} where every operation (${ops - lost}) commits; faults: ${describeFaults(spec)}\n${describeRun(history, [], 400)}`);
      }
      alsoExpect?.(spec, history);
    }),
    parameters,
  );
  writeTestLog(`${name}: ${tally.describe(parameters.seed)}`);
  return tally;
}

describe('simulation: faults Redlock survives', () => {
  it('keeps mutual exclusion, loses no update, extends no lost lock and leaves no key of a failed attempt', async () => {
    const parameters = simulationParameters(400);
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(worldArbitrary(), async (spec) => {
        await runAndCheck(spec, tally);
      }),
      parameters,
    );
    writeTestLog(`Safety: ${tally.describe(parameters.seed)}`);
    // The worlds must reach the paths this property is there to check, not only pass.
    if (parameters.numRuns >= 100) {
      expect(tally.reentries).toBeGreaterThan(0);
      expect(tally.nodesSeenDown).toBeGreaterThan(0);
    }
  }, SIMULATION_TIMEOUT_MS);

  it('gives one client every lock, extension and write while only a minority of nodes is faulty', async () => {
    await expectEveryOperationToSucceed('Liveness', faultyMinorityWorld(), 150);
  }, SIMULATION_TIMEOUT_MS);

  it('gives contending clients every lock with release notifications while only a minority of nodes is faulty', async () => {
    await expectEveryOperationToSucceed('Contended liveness', contendedMinorityWorld(), 100);
  }, SIMULATION_TIMEOUT_MS);

  it('gives contending clients that take it in turn (fair) every lock, beside default calls, while only a minority of nodes is faulty', async () => {
    await expectEveryOperationToSucceed('Fair liveness', withFair(contendedMinorityWorld(), 'some'), 100);
  }, SIMULATION_TIMEOUT_MS);

  it('hands the lock on, fair calls beside default ones, past a client that crashed or froze while it waited or held it, within two leases past the longest TTL', async () => {
    // A dead or frozen client's keys are waited out (at most the longest TTL), and its place in the queues for as long
    // as a lease (`twoLeasesPastLongestTtlMs`) once its keys are gone. Frozen with its connections open, a fair holder held
    // up every waiter behind it for as long as it stayed frozen (97 s of a world), before its grant gave it a lease,
    // and a default waiter first in line held up the fair calls behind it until the queue expired (42 s of a world),
    // before a fair call that found it there gave it one.
    const withinTwoLeases = (spec: WorldSpec, history: History): void => {
      const crashed = new Set(history.clientCrashes.map((crash) => crash.clientIndex));
      const boundMs = twoLeasesPastLongestTtlMs(spec);
      const late = history.locks.filter((lock) => !crashed.has(lock.clientIndex) && lock.handedOutAt.atMs - lock.calledAt.atMs > boundMs);
      if (late.length > 0) {
        const waits = late.map((lock) => `client ${lock.clientIndex}'s lock #${lock.id} after ${Math.round(lock.handedOutAt.atMs - lock.calledAt.atMs)} ms`).join(', ');
        throw new Error(`waited past ${boundMs} ms: ${waits}; faults: ${describeFaults(spec)}\n${describeRun(history, [], 400)}`);
      }
    };
    const worlds = withClientCrash(withFair(contendedMinorityWorld(), 'some'));
    const tally = await expectEveryOperationToSucceed('Fair liveness past a crashed client', worlds, 100, withinTwoLeases);
    // The worlds must reach the crashes this property is there for: a waiter's, and a holder's.
    if (tally.worlds >= 100) expect([...tally.crashes.keys()].sort()).toEqual(['holding', 'idle', 'waiting']);
  }, SIMULATION_TIMEOUT_MS);

  it.each<[string, (spec: WorldSpec) => WorldSpec]>([
    ['in worlds without faults', (spec) => ({ ...spec, faults: [], nodes: spec.nodes.map((node) => ({ ...node, link: { ...node.link, dropRate: 0 } })) })],
    // A crash loses the node's queue (with persistence, its leases may run out meanwhile), and a clock jump moves
    // leases: a waiter may rightly lose its place there.
    ['while a minority of nodes pauses, slows down, drops messages or is cut off', (spec) => ({ ...spec, faults: spec.faults.filter((fault) => fault.kind === 'pause' || fault.kind === 'slow' || fault.kind === 'partition') })],
  ])('lets no fair call overtake a waiter whose place was on a quorum before it began, %s', async (name, worldOf) => {
    const parameters = simulationParameters(100);
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(withFair(contendedMinorityWorld().map(worldOf), 'every'), async (spec) => {
        const history = await runAndCheck(spec, tally);
        const overtakes = fairOvertakesIn(history);
        if (overtakes.length > 0) throw new Error(`${overtakes.join('\n')}\n${describeRun(history, [])}`);
      }),
      { ...parameters, endOnFailure: true },
    );
    writeTestLog(`Fair order ${name}: ${tally.describe(parameters.seed)}`);
  }, SIMULATION_TIMEOUT_MS);

  it('keeps mutual exclusion and loses no update with fair calls beside default ones, whatever the faults', async () => {
    const parameters = simulationParameters(100);
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(withFair(worldArbitrary(), 'some'), async (spec) => {
        await runAndCheck(spec, tally);
      }),
      { ...parameters, endOnFailure: true },
    );
    writeTestLog(`Fair safety: ${tally.describe(parameters.seed)}`);
  }, SIMULATION_TIMEOUT_MS);

  // Found by this simulation: validity once subtracted the elapsed time twice (fixed).
  it('hands out no lock, and resolves no extension, without validity left', async () => {
    const parameters = simulationParameters(400);
    await fc.assert(
      fc.asyncProperty(worldArbitrary(), async (spec) => {
        await runAndCheck(spec, new Tally());
      }),
      { ...parameters, endOnFailure: true },
    );
  }, SIMULATION_TIMEOUT_MS);

  // The calls carry every random choice of the core: tokens, wake ids (in the queue members of the
  // contended worlds' scripts), jitter (in the send times). A world whose tokens came from the operating
  // system replayed its trace but not its verdict: wake ids break ties in the nodes' wait queues.
  it('replays a world exactly: the same spec gives the same calls, tokens and wake ids included', async () => {
    for (const worlds of [worldArbitrary(), contendedMinorityWorld()]) {
      const [spec] = fc.sample(worlds, { numRuns: 1, seed: 20240601 });
      const first = await runWorld(spec as WorldSpec);
      const second = await runWorld(spec as WorldSpec);
      expect(second.events).toEqual(first.events);
      expect(second.calls).toEqual(first.calls);
      expect(first.calls.some((call) => call.token !== undefined)).toBe(true);
    }
  }, SIMULATION_TIMEOUT_MS);
});

/**
 * The grants of a fair call that overtook a waiter of another client: one whose place, sent with a fair
 * ticket, a quorum of nodes had run (replied) before the overtaking call began, on a resource they share,
 * and who got the lock after. A place counts from the reply of the quorum-th node that ran a call carrying
 * it, later than the node ran it: the check is on the safe side.
 */
function fairOvertakesIn(history: History): string[] {
  const fairCallsOf = (clientIndex: number, fromMs: number, untilMs: number) =>
    history.calls.filter(
      (call) => call.clientIndex === clientIndex && call.script === 'acquire' && call.args.length === 7 && call.sentAtMs >= fromMs && call.sentAtMs <= untilMs,
    );
  /** When a quorum of nodes had run a call of this acquisition that carried its place, or undefined. */
  const placedAt = (lock: History['locks'][number]): number | undefined => {
    const firstByNode = new Map<number, number>();
    for (const call of fairCallsOf(lock.clientIndex, lock.calledAt.atMs, lock.handedOutAt.atMs)) {
      if (!/^\d/.test(call.args[4] ?? '') || call.replied?.kind !== 'value') continue;
      const atMs = call.replied.atMs;
      firstByNode.set(call.nodeIndex, Math.min(firstByNode.get(call.nodeIndex) ?? Infinity, atMs));
    }
    const times = [...firstByNode.values()].sort((a, b) => a - b);
    return times[history.quorum - 1];
  };
  const isFair = (lock: History['locks'][number]): boolean => fairCallsOf(lock.clientIndex, lock.calledAt.atMs, lock.handedOutAt.atMs).length > 0;
  const overtakes: string[] = [];
  const fairLocks = history.locks.filter(isFair);
  for (const waiter of fairLocks) {
    const placed = placedAt(waiter);
    if (placed === undefined) continue;
    for (const winner of fairLocks) {
      const isAfter = winner.clientIndex !== waiter.clientIndex && winner.calledAt.atMs > placed && winner.handedOutAt.order < waiter.handedOutAt.order;
      if (isAfter && winner.resources.some((resource) => waiter.resources.includes(resource))) {
        overtakes.push(`lock #${winner.id} (client ${winner.clientIndex}, called at ${winner.calledAt.atMs} ms) overtook lock #${waiter.id} (client ${waiter.clientIndex}, placed on a quorum at ${placed} ms, handed out at ${waiter.handedOutAt.atMs} ms)`);
      }
    }
  }
  return overtakes;
}
