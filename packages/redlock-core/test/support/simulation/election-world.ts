import type { Leader } from '../../../src/index.js';
import { type ClaimHistory, claimHistoryOf, ClaimWorld, type Reliance, waitOn } from './claim-world.js';
import { recordError, type WorldSpec } from './world.js';

// The worlds of world.ts with a leader election in place of the lock: each client's operation campaigns in
// one election (its TTL as the election's), leads for the operation's hold (or work), acting as the leader at
// each step only while it still leads, then resigns. Client 0 also observes the election from the start
// until every client is done. The history records, for every leadership, its term and the true-time
// interval in which its holder believed it led: from the campaign's end until it resigned, or until its
// clock read the end of the validity it knew at its last step as the leader, whichever came first. The
// observer polls every 100 ms and hears the label announcements of the pub/sub fake (fake-pubsub.ts).

/** The election every client of a world campaigns in. */
export const ELECTION_NAME = 'leader';
/** How often a leader acts (and reads its validity), on its own clock, in milliseconds. */
const STEP_MS = 10;
/** How many of its TTLs a campaign waits before it gives up, with {@link GAVE_UP}. */
const CAMPAIGN_TTLS = 20;
const GAVE_UP = new Error('gave up campaigning');

/** One leadership: its term, and the interval in which its holder acted as the leader. */
export interface LeadershipRecord extends Reliance {
  readonly term: number;
}

export interface ElectionHistory extends ClaimHistory {
  readonly leaderships: LeadershipRecord[];
  /** The terms client 0's observer yielded, in order (`undefined`: nobody led). */
  readonly observed: (number | undefined)[];
}

/** Runs one world of campaigners in one election, deterministically, and returns what happened. */
export async function runElectionWorld(spec: WorldSpec): Promise<ElectionHistory> {
  const history: ElectionHistory = { ...claimHistoryOf(spec), leaderships: [], observed: [] };
  const world = new ClaimWorld(history);
  let running = spec.clients.length;
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  await world.run(async (client) => {
    const { clientIndex, clock, clientClock, log, redlock } = client;
    let observing: Promise<void> = Promise.resolve();
    const controller = new AbortController();
    if (clientIndex === 0) {
      observing = (async () => {
        for await (const leader of redlock.election(ELECTION_NAME, { pollMs: 100 }).observe({ signal: controller.signal })) {
          history.observed.push(termOf(leader));
          log(`observer: ${leader === undefined ? 'nobody leads' : `term ${leader.term} (${leader.value})`}`);
        }
      })().catch((error: unknown) => {
        if (!controller.signal.aborted) recordError(history, clientIndex, log, error);
      });
    }
    for (const op of client.spec.ops) {
      await waitOn(client, op.startAfterMs);
      // A campaign waits for ever; one in a world whose nodes barely answer gives up, as a caller would.
      const giveUp = new AbortController();
      const timer = clientClock.setTimeout(() => giveUp.abort(GAVE_UP), op.ttlMs * CAMPAIGN_TTLS);
      try {
        const leadership = await redlock.election(ELECTION_NAME, { ttlMs: op.ttlMs }).campaign(`client ${clientIndex}`, { signal: giveUp.signal });
        clientClock.clearTimeout(timer);
        const record: LeadershipRecord = { clientIndex, term: leadership.term, fromMs: clock.now(), untilMs: Infinity };
        history.leaderships.push(record);
        log(`client ${clientIndex}: leads in term ${leadership.term}`);
        const holdMs = op.kind === 'acquire' ? op.holdMs : op.workMs;
        /** Where the client's clock reads the end of the validity it knew at its last step as the leader. */
        let validUntilLocal = clientClock.now() + leadership.remainingValidityMs;
        for (let heldMs = 0; heldMs < holdMs && leadership.isLeading; heldMs += STEP_MS) {
          validUntilLocal = clientClock.now() + leadership.remainingValidityMs;
          await waitOn(client, Math.min(STEP_MS, holdMs - heldMs));
        }
        // Until now (it resigns), or where its clock read the end of the validity it last knew.
        record.untilMs = clientClock.intervalsBefore(validUntilLocal, record.fromMs, clock.now())[0]?.untilMs ?? record.fromMs;
        await leadership.resign();
      } catch (error) {
        if (error === GAVE_UP) log(`client ${clientIndex}: gave up campaigning`);
        else recordError(history, clientIndex, log, error);
      }
      clientClock.clearTimeout(timer);
    }
    running -= 1;
    if (running === 0) allDone();
    if (clientIndex === 0) {
      await done;
      controller.abort();
      await observing;
    }
  });
  return history;
}

const termOf = (leader: Leader | undefined): number | undefined => leader?.term;

/** What broke the election's guarantees in a history: overlapping leaderships, terms out of order, an observer going back. */
export function electionViolations(history: ElectionHistory): string[] {
  const violations: string[] = [];
  const byStart = [...history.leaderships].sort((a, b) => a.fromMs - b.fromMs);
  byStart.forEach((later, index) => {
    for (const earlier of byStart.slice(0, index)) {
      if (later.fromMs < earlier.untilMs) {
        violations.push(`terms ${earlier.term} (client ${earlier.clientIndex}) and ${later.term} (client ${later.clientIndex}) both led at ${later.fromMs.toFixed(1)} ms`);
      }
      if (later.term <= earlier.term) violations.push(`term ${later.term} at ${later.fromMs.toFixed(1)} ms came after term ${earlier.term}`);
    }
  });
  const terms = history.observed.filter((term) => term !== undefined);
  terms.forEach((term, index) => {
    if (index > 0 && term < (terms[index - 1] as number)) violations.push(`the observer saw term ${term} after term ${terms[index - 1]}`);
  });
  return violations;
}
