import { type Leader, LockInspectError } from '../../../src/index.js';
import { type ClaimClient, type ClaimHistory, claimHistoryOf, ClaimWorld, endRelianceAtCrash, type Reliance, waitOn } from './claim-world.js';
import { recordError, type WorldSpec } from './world.js';

// The worlds of world.ts with a leader election in place of the lock: each client's operation campaigns in
// one election (its TTL as the election's), leads for the operation's hold (or work), acting as the leader at
// each step only while it still leads, then resigns. Client 0 also observes the election from the start
// until every client is done. The history records, for every leadership, its term and the true-time
// interval in which its holder believed it led: from the campaign's end until it resigned, or until its
// clock read the end of the validity it knew at its last step as the leader, whichever came first. The
// observer polls every 100 ms and hears the label announcements of the pub/sub fake (fake-pubsub.ts); when
// its reads keep failing it ends with a LockInspectError, and observes again.
// Once every client is done and every fault is over, client 0 checks liveness: it campaigns once more, the
// last leader, and records what the observer shows a few polls later (that leader), then resigns, and
// records what it shows a few polls after that (nobody).

/** The election every client of a world campaigns in. */
export const ELECTION_NAME = 'leader';
/** How often a leader acts (and reads its validity), on its own clock, in milliseconds. */
const STEP_MS = 10;
/** How many of its TTLs a campaign waits before it gives up, with {@link GAVE_UP}. */
const CAMPAIGN_TTLS = 20;
const GAVE_UP = new Error('gave up campaigning');
/** How often the observer polls, in milliseconds. */
const POLL_MS = 100;
/**
 * How long the observer gets to show a change once the world is quiet: a read waits for every node, a
 * node's call may take up to 1 s (an inspection's node timeout ceiling, derived from a 10 s TTL), and in a
 * world whose links are slower than its timeouts reads fail now and then, so a few seconds of polls.
 */
const SETTLE_MS = 5_000;

/** One leadership: its term, the interval in which its holder acted as the leader, and when its campaign began. */
export interface LeadershipRecord extends Reliance {
  readonly term: number;
  readonly calledAtMs: number;
}

export interface ElectionHistory extends ClaimHistory {
  readonly leaderships: LeadershipRecord[];
  /** The terms client 0's observer yielded, in order (`undefined`: nobody led). */
  readonly observed: (number | undefined)[];
  /**
   * Once the world is quiet: the last leader's term (`null`: it never led), the term the observer showed
   * last while it still led (`'lost'`: its leadership was lost first), and after its resignation.
   */
  readonly liveness: { lastTerm: number | null; whileLeading: number | undefined | 'lost' | null; afterResigning: number | undefined | 'unreadable' | null };
  /** Whether the observer's latest read failed, reported with a `LockInspectError` (no term since). */
  isObserverFailing: boolean;
}

/** Runs one world of campaigners in one election, deterministically, and returns what happened. */
export async function runElectionWorld(spec: WorldSpec): Promise<ElectionHistory> {
  const history: ElectionHistory = { ...claimHistoryOf(spec), leaderships: [], observed: [], liveness: { lastTerm: null, whileLeading: null, afterResigning: null }, isObserverFailing: false };
  const world = new ClaimWorld(history);
  // Every client is done once each ended its campaigns or crashed.
  const running = new Set(spec.clients.keys());
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const markDone = (clientIndex: number): void => {
    if (running.delete(clientIndex) && running.size === 0) allDone();
  };
  await world.run(async (client) => {
    const { clientIndex, clock, clientClock, log, redlock } = client;
    let observing: Promise<void> = Promise.resolve();
    const controller = new AbortController();
    if (clientIndex === 0) {
      observing = (async () => {
        for (;;) {
          try {
            for await (const leader of redlock.election(ELECTION_NAME, { pollMs: POLL_MS }).observe({ signal: controller.signal })) {
              history.observed.push(termOf(leader));
              history.isObserverFailing = false;
              log(`observer: ${leader === undefined ? 'nobody leads' : `term ${leader.term} (${leader.value})`}`);
            }
          } catch (error) {
            // Reads that kept failing: the observer could no longer tell who leads. Observe again, as a user would.
            if (!(error instanceof LockInspectError) || controller.signal.aborted) throw error;
            history.isObserverFailing = true;
            log(`observer: ${error.name}: ${error.message}; observing again`);
          }
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
      const calledAtMs = clock.now();
      try {
        const leadership = await redlock.election(ELECTION_NAME, { ttlMs: op.ttlMs }).campaign(`client ${clientIndex}`, { signal: giveUp.signal });
        clientClock.clearTimeout(timer);
        const record: LeadershipRecord = { clientIndex, term: leadership.term, fromMs: clock.now(), untilMs: Infinity, calledAtMs };
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
        else if (!client.isCrashed) recordError(history, clientIndex, log, error);
      }
      clientClock.clearTimeout(timer);
      if (client.isCrashed) return;
    }
    markDone(clientIndex);
    if (clientIndex === 0) {
      await done;
      await checkLiveness(client, history, faultsEndMs(spec) + maxTtlMs(spec));
      controller.abort();
      await observing;
    }
  }, (client) => markDone(client.clientIndex));
  endRelianceAtCrash(spec, history.leaderships);
  return history;
}

const termOf = (leader: Leader | undefined): number | undefined => leader?.term;

/** Waits on the client's clock until `isDone()`, read every poll, or `limitMs` passed. */
async function waitUntil(client: ClaimClient, isDone: () => boolean, limitMs: number): Promise<void> {
  for (let waitedMs = 0; !isDone() && waitedMs < limitMs; waitedMs += POLL_MS) await waitOn(client, POLL_MS);
}

/** Whether some node's link drops messages: a fault that never ends. */
function hasLossyLinks(spec: WorldSpec): boolean {
  return spec.nodes.some((node) => node.link.dropRate > 0);
}

/** When the last fault ends, in true milliseconds: a crashed node back, a pause, a slow link or a partition over. */
function faultsEndMs(spec: WorldSpec): number {
  return Math.max(0, ...spec.faults.map((fault) => fault.atMs + ('downForMs' in fault ? fault.downForMs : 'forMs' in fault ? fault.forMs : 0)));
}

function maxTtlMs(spec: WorldSpec): number {
  return Math.max(0, ...spec.clients.flatMap((client) => client.ops.map((op) => op.ttlMs)));
}

/**
 * Once the world is quiet (true time `quietAtMs`: every fault over, every lease of a crashed leader run
 * out), client 0 leads once more and resigns, recording the observer's last term each time, a few polls on.
 */
async function checkLiveness(client: ClaimClient, history: ElectionHistory, quietAtMs: number): Promise<void> {
  const { clientIndex, clock, log, redlock } = client;
  await waitOn(client, Math.max(0, quietAtMs - clock.now()));
  const ttlMs = Math.max(100, maxTtlMs(history.spec));
  const lastObserved = (): number | undefined => history.observed.at(-1);
  // Bounded as every campaign here: links slower than the node timeouts, or lossy, may deny a quorum for good.
  const giveUp = new AbortController();
  const timer = client.clientClock.setTimeout(() => giveUp.abort(GAVE_UP), ttlMs * CAMPAIGN_TTLS);
  const calledAtMs = clock.now();
  try {
    const leadership = await redlock.election(ELECTION_NAME, { ttlMs }).campaign(`client ${clientIndex} (last)`, { signal: giveUp.signal });
    client.clientClock.clearTimeout(timer);
    const record: LeadershipRecord = { clientIndex, term: leadership.term, fromMs: clock.now(), untilMs: Infinity, calledAtMs };
    history.leaderships.push(record);
    history.liveness.lastTerm = leadership.term;
    log(`client ${clientIndex}: leads in term ${leadership.term}, the last leader`);
    // Until the observer shows it, or at most SETTLE_MS; a leadership lost meanwhile (links slower than the
    // node timeouts fail its extensions) is nobody's to show.
    await waitUntil(client, () => lastObserved() === leadership.term || !leadership.isLeading, SETTLE_MS);
    history.liveness.whileLeading = leadership.isLeading ? lastObserved() : 'lost';
    record.untilMs = clock.now();
    // A release a quorum did not confirm (nodes slower than their timeout) ends the leadership by its TTL.
    const isConfirmed = await leadership.resign().then(
      () => true,
      (error: unknown) => (recordError(history, clientIndex, log, error), false),
    );
    log(`client ${clientIndex}: resigned, the last leader`);
    await waitUntil(client, () => lastObserved() === undefined, SETTLE_MS + (isConfirmed ? 0 : ttlMs));
    // On links that lose messages, every read may fail for seconds (each node's circuit breaker waits up to
    // 10 s between probes of a node whose replies were lost): an observer that reports so with its
    // LockInspectError, rather than keep a stale leader silently, did what it must.
    history.liveness.afterResigning = history.isObserverFailing && hasLossyLinks(history.spec) ? 'unreadable' : lastObserved();
  } catch (error) {
    if (error === GAVE_UP) log(`client ${clientIndex}: gave up campaigning as the last leader`);
    else recordError(history, clientIndex, log, error);
  }
  client.clientClock.clearTimeout(timer);
}

/**
 * What broke the election's guarantees in a history: overlapping leaderships, an observer that did not end
 * on the last leader nor on nobody after it resigned, and where the nodes keep their fencing counters
 * (`termsGrow`), terms out of order and an observer going back.
 */
export function electionViolations(history: ElectionHistory, { termsGrow = true }: { readonly termsGrow?: boolean } = {}): string[] {
  const violations: string[] = [];
  const { lastTerm, whileLeading, afterResigning } = history.liveness;
  // A last campaign that gave up (links slower than the node timeouts, or lossy, deny a quorum) checks nothing.
  if (lastTerm !== null && whileLeading !== lastTerm && whileLeading !== 'lost') violations.push(`the observer showed term ${whileLeading} while the last leader led in term ${lastTerm}`);
  if (lastTerm !== null && afterResigning !== undefined && afterResigning !== 'unreadable') violations.push(`the observer still showed term ${afterResigning} after the last resignation`);
  const byStart = [...history.leaderships].sort((a, b) => a.fromMs - b.fromMs);
  byStart.forEach((later, index) => {
    for (const earlier of byStart.slice(0, index)) {
      if (later.fromMs < earlier.untilMs) {
        violations.push(`terms ${earlier.term} (client ${earlier.clientIndex}) and ${later.term} (client ${later.clientIndex}) both led at ${later.fromMs.toFixed(1)} ms`);
      }
      if (termsGrow && later.term <= earlier.term) violations.push(`term ${later.term} at ${later.fromMs.toFixed(1)} ms came after term ${earlier.term}`);
    }
  });
  if (!termsGrow) return violations;
  const terms = history.observed.filter((term) => term !== undefined);
  terms.forEach((term, index) => {
    if (index > 0 && term < (terms[index - 1] as number)) violations.push(`the observer saw term ${term} after term ${terms[index - 1]}`);
  });
  return violations;
}
