import { type Permit, PermitError } from '../../../src/index.js';
import { FakeClock } from '../fake-clock.js';
import { DriftingClock } from './drifting-clock.js';
import { seededRandom } from './seeded-random.js';
import { type CallRecord, SimNode } from './sim-node.js';
import { clientRedlock, type OpSpec, recordError, runToTheEnd, scheduleFaults, type WorldSpec } from './world.js';

// The worlds of world.ts with a counting semaphore in place of the lock: each client's operations take
// permits of one semaphore instead of locking their resources, hold them, extend them when the operation
// extends, and release them. The history records, for every permit, the true-time interval in which its
// holder relied on it: from the acquisition until the release call, or until its client's clock read the
// end of its validity (extensions moving that end), whichever came first.

/** The semaphore every client of a world uses. */
export const SEMAPHORE_RESOURCE = 'pool';

/** The true-time interval in which a holder relied on its permits. */
export interface PermitRecord {
  readonly clientIndex: number;
  readonly permits: number;
  readonly fromMs: number;
  untilMs: number;
}

export interface SemaphoreHistory {
  readonly spec: WorldSpec;
  readonly limit: number;
  readonly permits: PermitRecord[];
  readonly typedErrors: Map<string, number>;
  readonly untypedErrors: string[];
  readonly calls: CallRecord[];
  hang: string | undefined;
  readonly events: string[];
}

/** How many permits an operation takes: 1, and for some operations 2 where the limit allows. */
function permitsOf(op: OpSpec, limit: number): number {
  return limit > 1 && op.ttlMs % 3 === 0 ? 2 : 1;
}

/** Runs one world with a semaphore of `limit` permits, deterministically, and returns what happened. */
export async function runSemaphoreWorld(spec: WorldSpec, limit: number): Promise<SemaphoreHistory> {
  const clock = new FakeClock();
  const noise = seededRandom(spec.noiseSeed);
  const history: SemaphoreHistory = { spec, limit, permits: [], typedErrors: new Map(), untypedErrors: [], calls: [], hang: undefined, events: [] };
  const log = (text: string): void => {
    history.events.push(`${clock.now().toFixed(1).padStart(8)} ms  ${text}`);
  };
  const nodes = spec.nodes.map((node, index) => new SimNode(index, clock, node.clockRate));
  const clientClocks = spec.clients.map((client) => new DriftingClock(clock, client.clockRate));
  scheduleFaults(spec, clock, nodes, clientClocks, log);
  const runs = spec.clients.map(async (client, clientIndex) => {
    const clientClock = clientClocks[clientIndex] as DriftingClock;
    const redlock = clientRedlock({ spec, clientIndex, nodes, clock, clientClock, random: noise, calls: history.calls });
    const semaphore = redlock.semaphore(SEMAPHORE_RESOURCE, { limit });
    for (const op of client.ops) {
      await wait(clientClock, op.startAfterMs);
      try {
        const permit = await semaphore.acquire(op.ttlMs, { permits: permitsOf(op, limit) });
        await hold(permit, op, clientIndex, clientClock, clock, history, log);
      } catch (error) {
        recordError(history, clientIndex, log, error);
      }
    }
  });
  await runToTheEnd(spec, clock, runs, history);
  return history;
}

/** Waits `ms` on the client's own clock. */
function wait(clientClock: DriftingClock, ms: number): Promise<void> {
  return new Promise((resolve) => clientClock.setTimeout(resolve, ms));
}

/**
 * Holds `permit` for the operation's hold (or work), extending it every `extendEveryMs` when the operation
 * does, then releases it, recording the interval in which its holder relied on it.
 */
async function hold(
  permit: Permit,
  op: OpSpec,
  clientIndex: number,
  clientClock: DriftingClock,
  clock: FakeClock,
  history: SemaphoreHistory,
  log: (text: string) => void,
): Promise<void> {
  const fromMs = clock.now();
  /** Where the client's clock will read the end of the validity, moved by each extension. */
  let validUntilLocal = clientClock.now() + permit.remainingValidityMs;
  const record: PermitRecord = { clientIndex, permits: permit.permits, fromMs, untilMs: Infinity };
  history.permits.push(record);
  log(`client ${clientIndex}: holds ${permit.permits} of ${permit.limit} permits, validity ${permit.remainingValidityMs.toFixed(1)} ms`);
  const holdMs = op.kind === 'acquire' ? op.holdMs : op.workMs;
  const extendEveryMs = op.kind === 'acquire' ? op.extendEveryMs : undefined;
  let heldMs = 0;
  while (heldMs < holdMs) {
    const stepMs = Math.min(extendEveryMs ?? Infinity, holdMs - heldMs);
    await wait(clientClock, stepMs);
    heldMs += stepMs;
    if (heldMs >= holdMs || extendEveryMs === undefined || permit.state !== 'held') continue;
    const isExtended = await permit.extend(op.ttlMs).then(
      () => true,
      (error: unknown) => {
        if (!(error instanceof PermitError)) throw error;
        return false;
      },
    );
    if (isExtended) validUntilLocal = clientClock.now() + permit.remainingValidityMs;
    else break;
  }
  const releasedAtMs = clock.now();
  // The first moment the client's clock read the end of the validity (no jumps here: one interval).
  const validity = clientClock.intervalsBefore(validUntilLocal, fromMs, releasedAtMs)[0];
  record.untilMs = Math.min(releasedAtMs, validity?.untilMs ?? fromMs);
  await permit.release().catch((error: unknown) => {
    if (!(error instanceof PermitError)) throw error;
  });
}

/**
 * The most permits relied on at once in a history, and when: a sweep over the intervals, an interval's end
 * counted before another's start at the same instant (an interval is open at its end).
 */
export function mostPermitsAtOnce(history: SemaphoreHistory): { readonly permits: number; readonly atMs: number } {
  const events = history.permits.flatMap((record) =>
    record.untilMs > record.fromMs
      ? [
          { atMs: record.fromMs, change: record.permits },
          { atMs: record.untilMs, change: -record.permits },
        ]
      : [],
  );
  events.sort((a, b) => a.atMs - b.atMs || a.change - b.change);
  let current = 0;
  let most = { permits: 0, atMs: 0 };
  for (const event of events) {
    current += event.change;
    if (current > most.permits) most = { permits: current, atMs: event.atMs };
  }
  return most;
}
