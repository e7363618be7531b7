import type { Redlock } from '../../../src/index.js';
import { FakeClock } from '../fake-clock.js';
import { DriftingClock } from './drifting-clock.js';
import { seededRandom } from './seeded-random.js';
import { type CallRecord, SimNode } from './sim-node.js';
import {
  clientConnections,
  type ClientSpec,
  clientRedlock,
  type Crashable,
  isCrashedClientRunning,
  type OpSpec,
  recordingReleaseWarnings,
  runToTheEnd,
  runUntilCrashed,
  scheduleFaults,
  withSeededRandomness,
  wait,
  type WorldSpec,
} from './world.js';

// What the worlds of a semaphore (semaphore-world.ts) and of a read-write lock (read-write-world.ts) share:
// the worlds of world.ts (nodes, faults, clients with drifting clocks), each client taking a claim (a
// semaphore's permits, a read or write lock) per operation instead of a lock; and the true-time interval
// in which its holder relied on each claim: from the acquisition until the holder let go of it (its
// release, or the end of its routine), or until its client's clock read the end of its validity
// (extensions moving that end), whichever came first.

/** What the worlds need of a held claim: a `Permit` or a `ReadWriteHandle`. */
export interface HeldClaim {
  readonly state: string;
  readonly remainingValidityMs: number;
  extend(ttlMs: number): Promise<void>;
  release(): Promise<void>;
}

/** The true-time interval in which a holder relied on a claim; `untilMs` is `Infinity` while it does. */
export interface Reliance {
  readonly clientIndex: number;
  readonly fromMs: number;
  untilMs: number;
}

/** What every claim world records. */
export interface ClaimHistory {
  readonly spec: WorldSpec;
  readonly typedErrors: Map<string, number>;
  readonly untypedErrors: string[];
  readonly calls: CallRecord[];
  hang: string | undefined;
  /** Readable trace of the run, for a counterexample; free of tokens, so a replay prints the same trace. */
  readonly events: string[];
}

/** A claim world's history before the run. */
export function claimHistoryOf(spec: WorldSpec): ClaimHistory {
  return { spec, typedErrors: new Map(), untypedErrors: [], calls: [], hang: undefined, events: [] };
}

/** One client of a claim world, as its program sees it; `isCrashed` once a `'client-crash'` fault crashed it. */
export interface ClaimClient extends Crashable {
  readonly clientIndex: number;
  readonly spec: ClientSpec;
  readonly redlock: Redlock;
  /** The true clock, which intervals are measured on. */
  readonly clock: FakeClock;
  readonly clientClock: DriftingClock;
  readonly log: (text: string) => void;
}

/**
 * One world being run, deterministically: its true clock, its nodes with the faults scheduled on them,
 * and every client's clock. {@link run} runs a program on every client to the end.
 */
export class ClaimWorld {
  readonly clock = new FakeClock();
  readonly nodes: readonly SimNode[];
  readonly #history: ClaimHistory;
  readonly #clientClocks: readonly DriftingClock[];

  constructor(history: ClaimHistory) {
    const { spec } = history;
    this.#history = history;
    this.nodes = spec.nodes.map((node, index) => new SimNode(index, this.clock, node.clockRate));
    this.#clientClocks = spec.clients.map((client) => new DriftingClock(this.clock, client.clockRate));
    scheduleFaults(spec, this.clock, this.nodes, this.#clientClocks, this.log);
  }

  /** Adds a line, at the true time, to the history's trace. */
  readonly log = (text: string): void => {
    this.#history.events.push(`${this.clock.now().toFixed(1).padStart(8)} ms  ${text}`);
  };

  /**
   * Runs `program` on every client, each with a Redlock of its own, until they all settle (or hang); `onCrash`
   * is told of a client as a `'client-crash'` fault crashes it (its program's waits never end from then on).
   */
  async run(program: (client: ClaimClient) => Promise<void>, onCrash: (client: ClaimClient) => void = () => undefined): Promise<void> {
    const history = this.#history;
    const { spec } = history;
    const noise = seededRandom(spec.noiseSeed);
    await withSeededRandomness(spec, () => {
      const runs = spec.clients.map((clientSpec, clientIndex) => {
        const clientClock = this.#clientClocks[clientIndex] as DriftingClock;
        const world = { spec, clientIndex, nodes: this.nodes, clock: this.clock, clientClock, random: noise, calls: history.calls };
        const connections = clientConnections(world);
        const redlock = clientRedlock(world, undefined, connections);
        const client: ClaimClient = { clientIndex, spec: clientSpec, redlock, clock: this.clock, clientClock, log: this.log, isCrashed: false };
        return runUntilCrashed(spec, this.clock, connections, client, () => program(client), (lingerMs) => {
          this.log(`client ${clientIndex}: crashes (connections close ${lingerMs} ms later)`);
          onCrash(client);
        });
      });
      return recordingReleaseWarnings(history, this.log, () => runToTheEnd(this.clock, runs, history), isCrashedClientRunning);
    });
  }
}

/** Ends, at the crash, every interval of `reliances` whose client a `'client-crash'` fault crashed: a dead holder relies on nothing. */
export function endRelianceAtCrash(spec: WorldSpec, reliances: readonly Reliance[]): void {
  for (const fault of spec.faults) {
    if (fault.kind !== 'client-crash') continue;
    for (const reliance of reliances) if (reliance.clientIndex === fault.client && reliance.untilMs > fault.atMs) reliance.untilMs = Math.max(reliance.fromMs, fault.atMs);
  }
}

/** Waits `ms` on the client's own clock; for ever once it crashed (see world.ts `wait`). */
export const waitOn: (client: ClaimClient, ms: number) => Promise<void> = wait;

/**
 * Starts recording, in `reliance` (whose `fromMs` is now), how long its holder relies on `held`: every
 * successful extension, by the holder or by automatic extension (both go through `held.extend`), moves
 * the end of the validity. Returns the function to call when the holder lets go of it, which ends the
 * interval there or where its clock read the end of the validity, whichever came first.
 */
export function startReliance(held: HeldClaim, client: ClaimClient, reliance: Reliance): () => void {
  const { clock, clientClock } = client;
  /** Where the client's clock will read the end of the validity. */
  let validUntilLocal = clientClock.now() + held.remainingValidityMs;
  const extend = held.extend.bind(held);
  held.extend = async (ttlMs: number): Promise<void> => {
    await extend(ttlMs);
    validUntilLocal = clientClock.now() + held.remainingValidityMs;
    client.log(`client ${client.clientIndex}: extended, validity ${held.remainingValidityMs.toFixed(1)} ms`);
  };
  return () => {
    const endedAtMs = clock.now();
    // The first moment the client's clock read the end of the validity (no jumps here: one interval).
    const validity = clientClock.intervalsBefore(validUntilLocal, reliance.fromMs, endedAtMs)[0];
    reliance.untilMs = Math.min(endedAtMs, validity?.untilMs ?? reliance.fromMs);
  };
}

/**
 * Holds `held` for the operation's hold (or work), extending it every `extendEveryMs` when the operation
 * does, then releases it; records in `reliance` how long its holder relied on it. An extension or release
 * that rejects with a claim's typed error (`isClaimError`) is an outcome; any other error is thrown.
 */
export async function holdByHand(held: HeldClaim, op: OpSpec, client: ClaimClient, reliance: Reliance, isClaimError: (error: unknown) => boolean): Promise<void> {
  const letGo = startReliance(held, client, reliance);
  const holdMs = op.kind === 'acquire' ? op.holdMs : op.workMs;
  const extendEveryMs = op.kind === 'acquire' ? op.extendEveryMs : undefined;
  const asOutcome = (error: unknown): false => {
    if (!isClaimError(error)) throw error;
    return false;
  };
  let heldMs = 0;
  while (heldMs < holdMs) {
    const stepMs = Math.min(extendEveryMs ?? Infinity, holdMs - heldMs);
    await waitOn(client, stepMs);
    heldMs += stepMs;
    if (heldMs >= holdMs || extendEveryMs === undefined || held.state !== 'held') continue;
    const isExtended = await held.extend(op.ttlMs).then(() => true, asOutcome);
    if (!isExtended) break;
  }
  letGo();
  await held.release().catch(asOutcome);
}
