import { PermitError } from '../../../src/index.js';
import { type ClaimHistory, claimHistoryOf, ClaimWorld, endRelianceAtCrash, holdByHand, type Reliance, waitOn } from './claim-world.js';
import { type LeftBehind, LeftBehindChecks } from './left-behind.js';
import type { CallRecord } from './sim-node.js';
import { recordError, type OpSpec, type WorldSpec } from './world.js';

// The worlds of world.ts with a counting semaphore in place of the lock: each client's operations take
// permits of one semaphore instead of locking their resources, hold them, extend them when the operation
// extends, and release them. The history records, for every permit, the true-time interval in which its
// holder relied on it (see claim-world.ts), and the intents of requests for 2 permits left behind once
// their acquisition was done with (see left-behind.ts).

/** The semaphore every client of a world uses. */
export const SEMAPHORE_RESOURCE = 'pool';

/** The true-time interval in which a holder relied on its permits, and when it asked for them. */
export interface PermitRecord extends Reliance {
  readonly permits: number;
  readonly calledAtMs: number;
}

export interface SemaphoreHistory extends ClaimHistory {
  readonly limit: number;
  readonly permits: PermitRecord[];
  readonly leftBehind: LeftBehind<'permit-intent'>[];
}

/** How many permits an operation takes: 1, and for some operations 2 where the limit allows. */
function permitsOf(op: OpSpec, limit: number): number {
  return limit > 1 && op.ttlMs % 3 === 0 ? 2 : 1;
}

/** Runs one world with a semaphore of `limit` permits, deterministically, and returns what happened. */
export async function runSemaphoreWorld(spec: WorldSpec, limit: number): Promise<SemaphoreHistory> {
  const history: SemaphoreHistory = { ...claimHistoryOf(spec), limit, permits: [], leftBehind: [] };
  const world = new ClaimWorld(history);
  const checks = new LeftBehindChecks<'permit-intent'>(world.nodes, history.calls);
  const sweep = (): void => {
    for (const found of checks.sweep(world.clock.now())) {
      history.leftBehind.push(found);
      world.log(`client ${found.clientIndex}: LEFT BEHIND on node ${found.nodeIndex}: ${found.kind}`);
    }
  };
  await world.run(async (client) => {
    const { clientIndex, clock, log } = client;
    const semaphore = client.redlock.semaphore(SEMAPHORE_RESOURCE, { limit });
    for (const op of client.spec.ops) {
      await waitOn(client, op.startAfterMs);
      const firstCall = history.calls.length;
      const calledAtMs = clock.now();
      try {
        const permit = await semaphore.acquire(op.ttlMs, { permits: permitsOf(op, limit) });
        const record: PermitRecord = { clientIndex, permits: permit.permits, fromMs: clock.now(), untilMs: Infinity, calledAtMs };
        history.permits.push(record);
        log(`client ${clientIndex}: holds ${permit.permits} of ${permit.limit} permits, validity ${permit.remainingValidityMs.toFixed(1)} ms`);
        await holdByHand(permit, op, client, record, (error) => error instanceof PermitError);
      } catch (error) {
        if (!client.isCrashed) recordError(history, clientIndex, log, error);
      }
      // A crashed client cleans up nothing: its intents wait for their TTL.
      if (client.isCrashed) return;
      // Done with it: released what it held, or gave up (and withdrew its intent).
      for (const intentId of intentIdsOf(history.calls, firstCall, clientIndex)) checks.expectGone('permit-intent', clientIndex, intentId);
      sweep();
    }
  });
  sweep();
  endRelianceAtCrash(spec, history.permits);
  return history;
}

/** The intent ids (`ARGV[7]`, `''` for a request for 1 permit) a client's acquire calls carried from call `firstCall` on. */
function intentIdsOf(calls: readonly CallRecord[], firstCall: number, clientIndex: number): string[] {
  const ids = calls.slice(firstCall).filter((call) => call.clientIndex === clientIndex && call.script === 'permit-acquire').map((call) => call.args[6] ?? '');
  return [...new Set(ids)].filter((id) => id !== '');
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
