// One attempt to take a claim over every node, written once for a semaphore's permits and a read-write
// lock: the node that woke it first when woken, the vote on what the nodes gave, the claim it wins, or the cleanup
// of a failed attempt, which `endFailedAttempt` (acquire/failed-attempt.ts) ends as it ends a lock's.
import { hasMisconfiguredNode, misconfiguredNodeErrorOf, warnIfMisconfigured } from '../acquire/misconfigured-nodes.js';
import { askWokenByFirst } from '../acquire/attempt.js';
import { endFailedAttempt } from '../acquire/failed-attempt.js';
import { failureVerdictOf } from '../acquire/verdict.js';
import type { PermitFailureReason, ReadWriteFailureReason } from '../base/claim-errors.js';
import type { MisconfiguredNodeError } from '../base/errors.js';
import { validityMs } from '../base/clock.js';
import { type NodeOutcome, type PermitAcquireStatus, type PermitAttempt, type ReadWriteAcquireStatus, type ReadWriteAttempt } from '../base/outcomes.js';
import { createLockToken } from '../base/token.js';
import type { Release } from '../lock/release.js';
import { FanOut } from '../nodes/fan-out.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { type LuaScript, ScriptReader } from '../scripts/lua-script.js';
import { parsePermitAcquireReply, permitAcquireArgsOf, permitAcquireScript, type PermitAcquireReply } from '../scripts/permit-acquire.js';
import {
  parseReadWriteAcquireReply,
  readWriteAcquireArgsOf,
  readWriteAcquireScript,
  readWriteFieldOf,
  type ReadWriteMode,
  type WriterIntent,
} from '../scripts/read-write-acquire.js';
import type { ReadWriteSettings, SemaphoreSettings } from '../settings/resolve-permits.js';
import { type Claim, type ClaimGrant, hashReleaseRunOf } from './claim.js';
import { describePermits, Permit } from './permit.js';
import { describeReadWrite, ReadWriteHandle } from './read-write-handle.js';

/** A semaphore's failed attempt, with why it failed: see `PermitFailureReason`. */
export interface FailedPermitAttempt extends PermitAttempt {
  readonly reason: Exclude<PermitFailureReason, 'not-held'>;
  /** For `'limit-mismatch'`: the limit a node holds the semaphore with. */
  readonly recordedLimit?: number;
}

/** A read-write lock's failed attempt, with why it failed: see `ReadWriteFailureReason`. */
export interface FailedReadWriteAttempt extends ReadWriteAttempt {
  readonly reason: Exclude<ReadWriteFailureReason, 'not-held'>;
}

/** What a node answered, with the slots it gave when it admitted (none for a read-write lock). */
type Answer<S extends string> = Pick<PermitAcquireReply, 'slots' | 'free' | 'recordedLimit'> & { readonly status: S };

interface Round<S extends string> {
  readonly calls: FanOut<S>;
  readonly answers: (Answer<S> | undefined)[];
}

/** One attempt of a semaphore's or a read-write lock's call, as its caller asks for it. */
export interface ClaimAttemptCall {
  readonly set: NodeSet;
  /** The permits asked for: 1 for a read-write lock. */
  readonly permits: number;
  /** The intent the attempt leaves or refreshes where the claim is taken: `NO_INTENT` for none. */
  readonly intent: WriterIntent;
  readonly ttlMs: number;
  /** Which attempt of the call this is, from 1. */
  readonly attemptNumber: number;
  /** Cuts the vote short. */
  readonly signal: AbortSignal | undefined;
  /** A single try (`retryCount: 0`): no attempt follows, so a failure may be reported before every node answered. */
  readonly isSingleTry: boolean;
  /** The node whose wake started a woken attempt, asked alone first: see {@link runClaimAttempt}. */
  readonly wokenBy: number | undefined;
  /** A waiting call's queue ticket, which a refusing node queues for a wake (see wake-queue.ts), or `''`. */
  readonly ticket: string;
  /** Told of a failed attempt's node that answers only after its timeout. */
  readonly onLateAnswer: ((nodeIndex: number, answer: string | undefined) => void) | undefined;
}

/** What one kind of claim tells its attempt: how to ask, how to read an answer, and what a win or a failure is. */
interface AttemptKind<S extends string, H extends Claim, F> {
  readonly resource: string;
  /** What the attempt takes, for an error's message: a semaphore's permits (of this limit), or a read-write lock's mode. */
  readonly taking: number | ReadWriteMode;
  readonly key: string;
  readonly script: LuaScript;
  /** The script's arguments after the key for `token`, asking for exactly `slots` if given. */
  argsOf(token: string, slots: readonly number[] | undefined): string[];
  parse(reply: unknown): Answer<S>;
  /** Whether a node refused because others hold the claim there: a woken attempt stops at the node that woke it then. */
  isTakenThere(status: string): boolean;
  /** Whether a node refused the request: the script then wrote nothing of this attempt's token there. */
  isRefusal(status: string): boolean;
  /** For a round that won nothing, what a second round asks every node for, if anything. */
  secondRound?(answers: readonly (Answer<S> | undefined)[]): readonly number[] | undefined;
  claimOf(grant: ClaimGrant, slots: readonly number[]): H;
  /** Node `nodeIndex` answered the request that won `claim` (`answer`, to a command sent at `sentAtMs`), maybe after the claim was decided. */
  settle(claim: H, nodeIndex: number, status: S | undefined, answer: Answer<S> | undefined, sentAtMs: number): void;
  failureOf(nodes: NodeOutcome<S>[], hasQuorum: boolean, answers: readonly (Answer<S> | undefined)[]): F;
}

/**
 * Asks every node at once, with a fresh token, to admit the claim for `ttlMs`, and resolves with the claim
 * the moment a quorum of nodes gave the same slots (a read-write lock: admitted) with validity left. With
 * a second round (see `AttemptKind.secondRound`) where the first gave different slots. Otherwise it frees
 * what the rounds wrote (on every node that did not refuse, and on a node that timed out once it answers
 * that it admitted) and resolves with the failed attempt; an intent a node kept stays (the claim's release
 * frees it, or the caller withdraws it). `signal` cuts the vote short. With `wokenBy` (a woken
 * attempt), the node that woke it is asked alone first: `'taken-where-woken'` when it is taken there, and no other node
 * was asked. A failed attempt's node that answers only after its timeout is told to `onLateAnswer`.
 */
async function runClaimAttempt<S extends string, H extends Claim, F>(
  call: ClaimAttemptCall,
  kind: AttemptKind<S, H, F>,
): Promise<H | (F & { readonly nodes: NodeOutcome<S>[]; readonly elapsedMs: number; readonly isCutOff?: true }) | 'taken-where-woken'> {
  const { set, ttlMs, signal, wokenBy, intent, attemptNumber } = call;
  const { clock, driftFactor } = set.options;
  // Never the Redlock's own signal (a call without a signal or `waitMs`): `close()` rejects the call
  // through its guard, which releases what this attempt wins, so the vote need not listen for it.
  const cutSignal = signal === set.lifecycle.signal ? undefined : signal;
  const { key, resource } = kind;
  const nodeCount = set.nodes.length;
  const token = createLockToken();
  const start = clock.now();
  const newRound = (): Round<S> => ({ calls: new FanOut<S>(set, 'acquire'), answers: new Array<Answer<S> | undefined>(nodeCount) });
  const readerOf = ({ answers }: Round<S>, slots: readonly number[] | undefined): ScriptReader<S> =>
    new ScriptReader<S>(kind.script, [key], kind.argsOf(token, slots), (reply, nodeIndex) => {
      const answer = kind.parse(reply);
      answers[nodeIndex] = answer;
      return answer.status;
    });
  const first = newRound();
  if (wokenBy === undefined) first.calls.sendToEveryNode(ttlMs, 1, readerOf(first, undefined));
  else {
    const reader = readerOf(first, undefined);
    // The others are asked for the slots the node that woke it gave: where it admitted, its admission counts.
    let others: ScriptReader<S> | undefined;
    const callOn = (nodeIndex: number): void => {
      const run = nodeIndex === wokenBy ? reader : (others ??= readerOf(first, first.answers[wokenBy]?.slots));
      first.calls.send(nodeIndex, nodeTimeoutMsFor(set.nodes[nodeIndex] as NodeState, set.options, ttlMs), run);
    };
    if ((await askWokenByFirst(first.calls, wokenBy, cutSignal, kind.isTakenThere, callOn)) === 'taken-where-woken') return 'taken-where-woken';
  }
  const rounds = [first];
  let slots = await slotsWithQuorum(first, cutSignal);
  if (slots === undefined && signal?.aborted !== true && kind.secondRound !== undefined) {
    const planned = kind.secondRound(first.answers);
    if (planned !== undefined) {
      const second = newRound();
      second.calls.sendToEveryNode(ttlMs, 1, readerOf(second, planned));
      rounds.push(second);
      slots = await slotsWithQuorum(second, cutSignal);
    }
  }
  const elapsedMs = clock.now() - start;
  const validity = validityMs({ ttlMs, elapsedMs, driftFactor });
  // A node that replied with a setup mistake (`NOPERM`: its user may not run the scripts) fails the attempt,
  // whatever the others gave: no claim is handed out that one node could never release.
  if (slots !== undefined && validity > 0 && set.servers.configurationError === undefined && !hasMisconfiguredNode((rounds.at(-1) as Round<S>).calls.outcomes)) {
    // A loop, not `Array.from({ length })`: that took some 6,400 instructions of a semaphore's 65,000 per acquire+release.
    const written = new Array<boolean>(nodeCount);
    for (let nodeIndex = 0; nodeIndex < nodeCount; nodeIndex += 1) {
      written[nodeIndex] = first.calls.wasSent(nodeIndex) || (rounds.length > 1 && (rounds[1] as Round<S>).calls.wasSent(nodeIndex));
    }
    // Validity is what is left now, at the decision: it runs from here, not from the start.
    const validUntil = start + elapsedMs + validity;
    const expiresAt = Math.floor(clock.wallNow() + validity);
    const keysExpireAt = clock.now() + ttlMs;
    const grant = { set, resource, key, token, alsoFrees: intent.id, attempts: attemptNumber, ttlMs, validUntil, expiresAt, keysExpireAt, written, wakeTicket: call.ticket };
    const claim = kind.claimOf(grant, slots);
    // What a node gave beyond the claim, now or in a late answer, is held for nothing and freed there; so is
    // an intent left after the release. The claim's own release reaches every node that was sent the request.
    for (const { calls, answers } of rounds) {
      for (let nodeIndex = 0; nodeIndex < nodeCount; nodeIndex += 1) {
        // An answer read already, before the release was sent, needs nothing unless it gave other slots.
        const known = answers[nodeIndex];
        if (!calls.wasSent(nodeIndex) || (known !== undefined && (known.status !== 'admitted' || isSameSet(known.slots, slots)))) continue;
        calls.onAnswerOf(nodeIndex, (answer) => kind.settle(claim, nodeIndex, answer, answers[nodeIndex], calls.sentAtOf(nodeIndex)));
      }
    }
    // A node that refused, now or later, is taken as soon as it is free: the claim may stand on a bare quorum.
    // A setup mistake a node reveals only after the decision cannot fail the call: it is warned of, once per node.
    const { calls: lastCalls } = rounds.at(-1) as Round<S>;
    for (let nodeIndex = 0; nodeIndex < nodeCount; nodeIndex += 1) {
      const known = lastCalls.outcomes[nodeIndex];
      if (known?.status === 'admitted') continue;
      if (known !== undefined ? isFreedLater(kind, known.status) : lastCalls.wasSent(nodeIndex)) {
        lastCalls.onOutcomeOf(nodeIndex, (outcome) => {
          if (isFreedLater(kind, outcome.status)) claim.fillInWhenFree(nodeIndex);
          else if (known === undefined) warnIfMisconfigured([resource], set.nodes[nodeIndex] as NodeState, outcome, 'granted', () => whatOf(kind, call));
        });
      }
    }
    return claim;
  }
  const last = rounds.at(-1) as Round<S>;
  // Cut off by the signal before a quorum, the attempt reports the answers known at that moment: later ones did not count.
  const cutOff = slots === undefined && cutSignal?.aborted === true ? { outcomes: last.calls.outcomes.slice(), elapsedMs } : undefined;
  const cleanup: Release = { keys: [key], token, ttlMs, keysExpireAt: clock.now() + ttlMs, announce: false, run: hashReleaseRunOf(key, token, '', false, []) };
  const { nodes, isCutOff } = await endFailedAttempt(set, {
    // An array literal, not `map()`: see `endFailedAttempt`.
    rounds: rounds.length === 1 ? [first.calls] : [first.calls, (rounds[1] as Round<S>).calls],
    resources: [resource],
    cleanup,
    granted: 'admitted',
    isRefusal: kind.isRefusal,
    isTakenThere: kind.isTakenThere,
    onLateAnswer: call.onLateAnswer,
    elapsedMs,
    cutOff,
    isSingleTry: call.isSingleTry && slots === undefined,
  });
  // Retrying cannot mend a setup mistake, and the nodes that replied so answered: they are not unreachable.
  if (hasMisconfiguredNode(nodes)) throw misconfiguredNodeErrorOf([resource], nodes, whatOf(kind, call)) as MisconfiguredNodeError;
  return { nodes, elapsedMs, ...kind.failureOf(nodes, slots !== undefined, last.answers), ...(isCutOff === undefined ? {} : { isCutOff }) };
}

/** What the attempt could not take, as an error's message says it: `acquire 1 of 3 permits of "s"`, `take the read lock on "rw"`. */
function whatOf(kind: AttemptKind<string, Claim, unknown>, call: ClaimAttemptCall): string {
  const { taking, resource } = kind;
  return typeof taking === 'number' ? `acquire ${describePermits(call.permits, taking, resource)}` : `take ${describeReadWrite(taking, resource)}`;
}

/**
 * Whether a node refused with what may go soon: other holders. Not a key that is not ours to wait for, nor
 * a restart's grace, in which a node grants nothing by its definition (the first extension re-seeds it).
 */
function isFreedLater<S extends string>(kind: AttemptKind<S, Claim, unknown>, status: string): boolean {
  return kind.isRefusal(status) && status !== 'foreign' && status !== 'other-limit' && status !== 'restarting';
}

function isSameSet(given: readonly number[] | undefined, slots: readonly number[]): boolean {
  return given !== undefined && given.length === slots.length && given.every((slot) => slots.includes(slot));
}

/**
 * Counts what the nodes give as they answer, and resolves with it the moment a quorum of nodes gave the
 * same slots (nodes that see the same slots free do; a read-write lock's nodes admit with none); with
 * `undefined` once that is not possible any more, or when `signal` aborts. Asking for the same set on a
 * quorum, rather than a quorum for each slot, keeps an extension simple: it needs a quorum of nodes where
 * every slot is still ours.
 */
function slotsWithQuorum<S extends string>({ calls, answers }: Round<S>, signal: AbortSignal | undefined): Promise<readonly number[] | undefined> {
  const nodeCount = answers.length;
  const quorum = quorumOf(nodeCount);
  return new Promise((resolve) => {
    let isDecided = false;
    const decide = (slots: readonly number[] | undefined): void => {
      if (isDecided) return;
      isDecided = true;
      signal?.removeEventListener('abort', onAbort);
      resolve(slots);
    };
    const onAbort = (): void => decide(undefined);
    if (signal?.aborted === true) return decide(undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    /** How many nodes gave each set of slots, by the set in order (`"2,3"`), or its one slot. */
    const grants = new Map<string | number, number>();
    /** The most nodes that gave one set so far: counts only grow, so the largest is kept as they do. */
    let most = 0;
    let silent = nodeCount;
    calls.listen((outcome) => {
      silent -= 1;
      if (isDecided) return;
      const given = outcome.status === 'admitted' ? answers[outcome.nodeIndex]?.slots : undefined;
      if (given !== undefined) {
        const slots = given.length <= 1 ? given : [...given].sort((a, b) => a - b);
        const id = slots.length === 1 ? (slots[0] as number) : slots.join();
        const count = (grants.get(id) ?? 0) + 1;
        if (count >= quorum) return decide(slots);
        grants.set(id, count);
        if (count > most) most = count;
      }
      if (most + silent < quorum) decide(undefined);
    });
  });
}

/**
 * One attempt at `permits` permits of `semaphore`: each node looks at the slots from one random slot on
 * (see `permitAcquireScript`), so that nodes that see the same slots free give the same ones; the slots
 * another node gave are freed there at once. When the nodes gave different slots (contenders reached them
 * in different orders, or their free slots differ) while their answers show slots free on a quorum, a
 * second round asks every node for exactly those. A node with too few free keeps the request's `intent`
 * there (see `permitAcquireScript`). See {@link runClaimAttempt}.
 */
export function runPermitAttempt(semaphore: SemaphoreSettings, call: ClaimAttemptCall): Promise<Permit | FailedPermitAttempt | 'taken-where-woken'> {
  const { key, limit, resource } = semaphore;
  const { permits, intent, ttlMs } = call;
  const { restartGraceMs } = call.set.options;
  const firstSlot = 1 + Math.floor(Math.random() * limit);
  return runClaimAttempt<PermitAcquireStatus, Permit, Omit<FailedPermitAttempt, 'nodes' | 'elapsedMs'>>(call, {
    resource,
    taking: limit,
    key,
    script: permitAcquireScript,
    argsOf: (token, slots) => permitAcquireArgsOf(token, ttlMs, permits, limit, restartGraceMs, slots === undefined ? firstSlot : 0, intent, call.ticket, slots),
    parse: (reply) => parsePermitAcquireReply(reply, permits, limit),
    isTakenThere: isFull,
    isRefusal: (status) => status === 'full' || status === 'restarting' || status === 'foreign' || status === 'other-limit',
    // Nodes that hold the semaphore with another limit give no slots: the second round counts without them.
    secondRound: (answers) => slotsFreeOnQuorum(answers, permits),
    claimOf: (claim, slots) => new Permit({ claim, permits, slots, limit }),
    settle: (permit, nodeIndex, status, answer, sentAtMs) => {
      if (status === 'admitted') permit.settleGrant(nodeIndex, answer?.slots ?? [], sentAtMs);
      else if (status === 'full') permit.settleLeftBehind(nodeIndex);
    },
    failureOf: (nodes, hasQuorum, answers) => {
      const verdict = failureVerdictOf(nodes, hasQuorum, isFull);
      const reason = verdict === 'taken' ? 'no-permits-free' : verdict;
      const recordedLimit = reason === 'limit-mismatch' ? answers.find((answer) => answer?.recordedLimit !== undefined)?.recordedLimit : undefined;
      return recordedLimit === undefined ? { reason } : { reason, recordedLimit };
    },
  });
}

/** Whether a semaphore's node refused because too few permits are free there. */
const isFull = (status: string): boolean => status === 'full';

/**
 * The `permits` slots that the answers show free (or given to us) on a quorum of nodes at once, for a
 * second round; `undefined` when there are none: the semaphore is full, or too few nodes answered.
 */
function slotsFreeOnQuorum(answers: readonly (Answer<string> | undefined)[], permits: number): number[] | undefined {
  const quorum = quorumOf(answers.length);
  // Array.from, not map: the answers of nodes still silent are holes, which map would keep.
  const available = Array.from(answers, (answer) => new Set([...(answer?.slots ?? []), ...(answer?.free ?? [])]));
  const nodesBySlot = new Map<number, number>();
  for (const slots of available) for (const slot of slots) nodesBySlot.set(slot, (nodesBySlot.get(slot) ?? 0) + 1);
  const ranked = [...nodesBySlot].filter(([, count]) => count >= quorum).sort(([slotA, a], [slotB, b]) => b - a || slotA - slotB);
  // A loop, not `map()`: the slots go on to other functions (see `endFailedAttempt`).
  const chosen: number[] = [];
  for (let index = 0; index < ranked.length && index < permits; index += 1) chosen.push((ranked[index] as [number, number])[0]);
  if (chosen.length < permits) return undefined;
  const nodesWithAll = available.filter((slots) => chosen.every((slot) => slots.has(slot))).length;
  return nodesWithAll >= quorum ? chosen.sort((a, b) => a - b) : undefined;
}

/** Whether a node refused because the lock is taken there: the script then changed nothing but a writer's intent. */
export function isTakenThere(status: string): boolean {
  return status === 'writer-holds' || status === 'readers-hold' || status === 'writer-waiting';
}

const NO_SLOTS: readonly number[] = [];

/**
 * One attempt to admit a reader or the writer (`mode`) of `lock`. A writer whose attempt finds readers
 * leaves its intent (`intent`) there, which stops new readers while the writer waits. See {@link runClaimAttempt}.
 */
export function runReadWriteAttempt(lock: ReadWriteSettings, mode: ReadWriteMode, call: ClaimAttemptCall): Promise<ReadWriteHandle | FailedReadWriteAttempt | 'taken-where-woken'> {
  const { key, resource } = lock;
  return runClaimAttempt<ReadWriteAcquireStatus, ReadWriteHandle, Pick<FailedReadWriteAttempt, 'reason'>>(call, {
    resource,
    taking: mode,
    key,
    script: readWriteAcquireScript,
    argsOf: (token) => readWriteAcquireArgsOf(token, call.ttlMs, mode, call.set.options.restartGraceMs, call.intent, call.ticket),
    parse: (reply) => {
      const status = parseReadWriteAcquireReply(reply);
      return status === 'admitted' ? { status, slots: NO_SLOTS } : { status };
    },
    isTakenThere,
    isRefusal: (status) => isTakenThere(status) || status === 'restarting' || status === 'foreign',
    claimOf: (claim) => new ReadWriteHandle({ claim, mode, fields: [readWriteFieldOf(mode, claim.token)] }),
    // A node that admits (or leaves a writer's intent) after the lock was released holds it for nothing.
    settle: (handle, nodeIndex, status, _answer, sentAtMs) => handle.settleAnswer(nodeIndex, status, sentAtMs),
    // A read-write node never answers `'other-limit'`, so never `'limit-mismatch'`.
    failureOf: (nodes, hasQuorum) => {
      const verdict = failureVerdictOf(nodes, hasQuorum, isTakenThere);
      return { reason: verdict === 'taken' || verdict === 'limit-mismatch' ? 'locked' : verdict };
    },
  });
}
