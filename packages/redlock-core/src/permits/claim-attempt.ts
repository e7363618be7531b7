// A claim's attempt, for a semaphore's permits and a read-write lock: the variant of every hold's attempt
// (`HoldAttempt`, acquire/attempt.ts) that votes on the slots the nodes gave (slot-vote.ts), with a second round
// where they differ.
import { HoldAttempt, throwIfMisconfiguredAttempt } from '../acquire/attempt.js';
import type { AnswerRules } from '../acquire/failed-attempt.js';
import { warnIfMisconfigured } from '../acquire/misconfigured-nodes.js';
import { failureVerdictOf } from '../acquire/verdict.js';
import type { PermitFailureReason, ReadWriteFailureReason } from '../base/claim-errors.js';
import { type NodeOutcome, type PermitAcquireStatus, type PermitAttempt, type ReadWriteAcquireStatus, type ReadWriteAttempt } from '../base/outcomes.js';
import { FanOut } from '../nodes/fan-out.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { type LuaScript, ScriptReader } from '../scripts/lua-script.js';
import { NO_SLOTS, parsePermitAcquireReply, permitAcquireArgsOf, permitAcquireScript } from '../scripts/permit-acquire.js';
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
import { type Answer, isSameSet, slotsFreeOnQuorum, voteOnSlots } from './slot-vote.js';

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
  /** The node whose wake started a woken attempt, asked alone first: see `HoldAttempt.askWokenByFirst`. */
  readonly wokenBy: number | undefined;
  /** A waiting call's queue ticket, which a refusing node queues for a wake (see wake-queue.ts), or `''`. */
  readonly ticket: string;
  /** Told of a failed attempt's node that answers only after its timeout. */
  readonly onLateAnswer: ((nodeIndex: number, answer: string | undefined) => void) | undefined;
}

/** What one kind of claim tells its attempt: how to ask, how to read an answer, and what a win or a failure is. */
interface AttemptKind<S extends string, H extends Claim, F> extends AnswerRules<S> {
  readonly resource: string;
  /** What the attempt takes, for an error's message: a semaphore's permits (of this limit), or a read-write lock's mode. */
  readonly taking: number | ReadWriteMode;
  readonly key: string;
  readonly script: LuaScript;
  /** The script's arguments after the key for `token`, asking for exactly `slots` if given. */
  argsOf(token: string, slots: readonly number[] | undefined): string[];
  parse(reply: unknown): Answer<S>;
  /** For a round that won nothing, what a second round asks every node for, if anything. */
  secondRound?(answers: readonly (Answer<S> | undefined)[]): readonly number[] | undefined;
  claimOf(grant: ClaimGrant, slots: readonly number[]): H;
  /** Node `nodeIndex` answered the request that won `claim` (`answer`, to a command sent at `sentAtMs`), maybe after the claim was decided. */
  settle(claim: H, nodeIndex: number, status: S | undefined, answer: Answer<S> | undefined, sentAtMs: number): void;
  failureOf(nodes: NodeOutcome<S>[], hasQuorum: boolean, answers: readonly (Answer<S> | undefined)[]): F;
}

/** A failed claim attempt: its kind's failure, with the nodes' outcomes. */
type Failed<S extends string, F> = F & { readonly nodes: NodeOutcome<S>[]; readonly elapsedMs: number; readonly isCutOff?: true };

/**
 * A claim's attempt (see `HoldAttempt`): asks every node, with a fresh token, to admit the claim for
 * `ttlMs`, and wins the claim the moment a quorum of nodes gave the same slots (a read-write lock:
 * admitted) with validity left; with a second round (see `AttemptKind.secondRound`) where the first gave
 * different slots. Otherwise it frees what the rounds wrote (on every node that did not refuse, and on a
 * node that timed out once it answers that it admitted) and resolves with the failed attempt; an intent a
 * node kept stays (the claim's release frees it, or the caller withdraws it). A woken attempt asks the others
 * for the slots the node that woke it gave. A failed attempt's node that answers only after its timeout is
 * told to `onLateAnswer`.
 */
class ClaimAttempt<S extends string, H extends Claim, F> extends HoldAttempt<S, H, Failed<S, F>> {
  readonly #call: ClaimAttemptCall;
  readonly #kind: AttemptKind<S, H, F>;
  /** The first round's answers, by node. */
  readonly #answers: (Answer<S> | undefined)[];
  /** The second round, if one ran. */
  #second: Round<S> | undefined;
  /** The slots a quorum gave, once decided. */
  #slots: readonly number[] | undefined;
  /** A woken attempt's reader of the nodes but the one that woke it: see {@link askNode}. */
  #others: ScriptReader<S> | undefined;

  constructor(call: ClaimAttemptCall, kind: AttemptKind<S, H, F>) {
    const { set } = call;
    super(set, new FanOut<S>(set, 'acquire'), kind, call.ttlMs, call.signal, call.attemptNumber, call.ticket);
    this.#call = call;
    this.#kind = kind;
    this.#answers = new Array<Answer<S> | undefined>(set.nodes.length);
  }

  /** Reads the answers of one round into `answers`, asking for exactly `slots` if given. */
  #readerOf(answers: (Answer<S> | undefined)[], slots: readonly number[] | undefined): ScriptReader<S> {
    const kind = this.#kind;
    return new ScriptReader<S>(kind.script, [kind.key], kind.argsOf(this.token, slots), (reply, nodeIndex) => {
      const answer = kind.parse(reply);
      answers[nodeIndex] = answer;
      return answer.status;
    });
  }

  sendToEveryNode(): this {
    this.calls.sendToEveryNode(this.ttlMs, 1, this.#readerOf(this.#answers, undefined));
    return this;
  }

  /** The node that woke the attempt is asked for any slots; the others for those it gave: where it admitted, its admission counts. */
  protected askNode(nodeIndex: number): void {
    const { nodes, options } = this.set;
    const answers = this.#answers;
    const wokenBy = this.#call.wokenBy as number;
    const run = nodeIndex === wokenBy ? this.#readerOf(answers, undefined) : (this.#others ??= this.#readerOf(answers, answers[wokenBy]?.slots));
    this.calls.send(nodeIndex, nodeTimeoutMsFor(nodes[nodeIndex] as NodeState, options, this.ttlMs), run);
  }

  /**
   * Resolves once the slots are decided, with whether a quorum gave the same ones (see {@link voteOnSlots}),
   * after a second round where the first gave different ones; with `false` once the call's own signal aborted.
   * A boolean, not the slots: a promise resolved with an object looks it up for a `then`.
   */
  decided(): Promise<boolean> {
    const cutSignal = this.cutSignal;
    return new Promise((resolve) => {
      const decide = (slots: readonly number[] | undefined): void => {
        this.#slots = slots;
        resolve(slots !== undefined);
      };
      voteOnSlots(this.calls, this.#answers, cutSignal, (slots) => {
        // None once the call ended (its signal aborted, `close()` included): nothing would take what it wins.
        const planned = slots === undefined && this.#call.signal?.aborted !== true ? this.#kind.secondRound?.(this.#answers) : undefined;
        if (planned === undefined) return decide(slots);
        const second: Round<S> = { calls: new FanOut<S>(this.set, 'acquire'), answers: new Array<Answer<S> | undefined>(this.#answers.length) };
        second.calls.sendToEveryNode(this.ttlMs, 1, this.#readerOf(second.answers, planned));
        this.#second = second;
        voteOnSlots(second.calls, second.answers, cutSignal, decide);
      });
    });
  }

  conclude(hasQuorum: boolean, isSingleTry: boolean): H | Promise<H | Failed<S, F>> {
    const last = this.#second?.calls ?? this.calls;
    const elapsedMs = this.elapsedMs();
    const validity = this.validityIfWon(hasQuorum, last.outcomes, elapsedMs);
    if (validity > 0) return this.#claim(this.#slots as readonly number[], elapsedMs, validity);
    return this.#failed(hasQuorum, elapsedMs, isSingleTry);
  }

  #claim(slots: readonly number[], elapsedMs: number, validity: number): H {
    const { set, token, ttlMs } = this;
    const kind = this.#kind;
    const call = this.#call;
    const second = this.#second;
    const { key, resource } = kind;
    const grant = {
      set,
      resource,
      key,
      token,
      alsoFrees: call.intent.id,
      attempts: this.attemptNumber,
      ttlMs,
      validUntil: this.validUntil(elapsedMs, validity),
      expiresAt: this.expiresAt(elapsedMs, validity),
      keysExpireAt: this.start + ttlMs,
      written: this.#written(),
      wakeTicket: this.ticket,
    };
    const claim = kind.claimOf(grant, slots);
    // What a node gave beyond the claim, now or in a late answer, is held for nothing and freed there; so is
    // an intent left after the release. The claim's own release reaches every node that was sent the request.
    this.#settleBeyond(claim, slots, this.calls, this.#answers);
    if (second !== undefined) this.#settleBeyond(claim, slots, second.calls, second.answers);
    // A node that refused, now or later, is taken as soon as it is free: the claim may stand on a bare quorum.
    // A setup mistake a node reveals only after the decision cannot fail the call: it is warned of, once per node.
    const last = second?.calls ?? this.calls;
    for (let nodeIndex = 0; nodeIndex < last.outcomes.length; nodeIndex += 1) {
      const known = last.outcomes[nodeIndex];
      if (known?.status === 'admitted') continue;
      if (known !== undefined ? isFreedLater(kind, known.status) : last.wasSent(nodeIndex)) {
        last.onOutcomeOf(nodeIndex, (outcome) => {
          if (isFreedLater(kind, outcome.status)) claim.fillInWhenFree(nodeIndex);
          else if (known === undefined) warnIfMisconfigured([resource], set.nodes[nodeIndex] as NodeState, outcome, 'granted', () => this.#whatItTakes());
        });
      }
    }
    return claim;
  }

  /** Which nodes were sent the request in either round: what the claim's release must reach. */
  #written(): boolean[] {
    const written = this.writtenBy();
    const second = this.#second?.calls;
    for (let nodeIndex = 0; second !== undefined && nodeIndex < written.length; nodeIndex += 1) if (second.wasSent(nodeIndex)) written[nodeIndex] = true;
    return written;
  }

  /** Has `claim` settle what each node of one round gave beyond its `slots`, now or when it answers. */
  #settleBeyond(claim: H, slots: readonly number[], calls: FanOut<S>, answers: readonly (Answer<S> | undefined)[]): void {
    const kind = this.#kind;
    for (let nodeIndex = 0; nodeIndex < answers.length; nodeIndex += 1) {
      // An answer read already, before the release was sent, needs nothing unless it gave other slots.
      const known = answers[nodeIndex];
      if (!calls.wasSent(nodeIndex) || (known !== undefined && (known.status !== 'admitted' || isSameSet(known.slots, slots)))) continue;
      calls.onAnswerOf(nodeIndex, (answer) => kind.settle(claim, nodeIndex, answer, answers[nodeIndex], calls.sentAtOf(nodeIndex)));
    }
  }

  /** What the attempt could not take, as an error's message says it: `acquire 1 of 3 permits of "s"`, `take the read lock on "rw"`. */
  #whatItTakes(): string {
    const { taking, resource } = this.#kind;
    return typeof taking === 'number' ? `acquire ${describePermits(this.#call.permits, taking, resource)}` : `take ${describeReadWrite(taking, resource)}`;
  }

  async #failed(hasQuorum: boolean, elapsedMs: number, isSingleTry: boolean): Promise<Failed<S, F>> {
    const { key, resource } = this.#kind;
    const second = this.#second;
    // An array literal, not `map()`: see `endFailedAttempt`.
    const rounds = second === undefined ? [this.calls] : [this.calls, second.calls];
    const run = hashReleaseRunOf(key, this.token, '', false, []);
    const { nodes, isCutOff } = await this.endFailed(rounds, [resource], [key], run, hasQuorum, elapsedMs, isSingleTry, this.#call.onLateAnswer);
    throwIfMisconfiguredAttempt(this.set, [resource], nodes, () => this.#whatItTakes());
    const failure = this.#kind.failureOf(nodes, hasQuorum, second?.answers ?? this.#answers);
    return { nodes, elapsedMs, ...failure, ...(isCutOff === undefined ? {} : { isCutOff }) };
  }
}

/**
 * Whether a node refused with what may go soon: other holders. Not a key that is not ours to wait for, nor
 * a restart's grace, in which a node grants nothing by its definition (the first extension re-seeds it).
 */
function isFreedLater<S extends string>(kind: AttemptKind<S, Claim, unknown>, status: string): boolean {
  return kind.isRefusal(status) && status !== 'foreign' && status !== 'other-limit' && status !== 'restarting';
}

/**
 * One attempt at `permits` permits of `semaphore`: each node looks at the slots from one random slot on
 * (see `permitAcquireScript`), so that nodes that see the same slots free give the same ones; the slots
 * another node gave are freed there at once. When the nodes gave different slots (contenders reached them
 * in different orders, or their free slots differ) while their answers show slots free on a quorum, a
 * second round asks every node for exactly those. A node with too few free keeps the request's `intent`
 * there (see `permitAcquireScript`). See {@link ClaimAttempt}.
 */
export function runPermitAttempt(semaphore: SemaphoreSettings, call: ClaimAttemptCall): Promise<Permit | FailedPermitAttempt | 'taken-where-woken'> {
  const { key, limit, resource } = semaphore;
  const { permits, intent, ttlMs } = call;
  const { restartGraceMs } = call.set.options;
  const firstSlot = 1 + Math.floor(Math.random() * limit);
  return new ClaimAttempt<PermitAcquireStatus, Permit, Omit<FailedPermitAttempt, 'nodes' | 'elapsedMs'>>(call, {
    resource,
    taking: limit,
    key,
    script: permitAcquireScript,
    granted: 'admitted',
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
  }).run(call.wokenBy, call.isSingleTry);
}

/** Whether a semaphore's node refused because too few permits are free there. */
const isFull = (status: string): boolean => status === 'full';

/** Whether a node refused because the lock is taken there: the script then changed nothing but a writer's intent. */
export function isTakenThere(status: string): boolean {
  return status === 'writer-holds' || status === 'readers-hold' || status === 'writer-waiting';
}

/**
 * One attempt to admit a reader or the writer (`mode`) of `lock`. A writer whose attempt finds readers
 * leaves its intent (`intent`) there, which stops new readers while the writer waits. See {@link ClaimAttempt}.
 */
export function runReadWriteAttempt(lock: ReadWriteSettings, mode: ReadWriteMode, call: ClaimAttemptCall): Promise<ReadWriteHandle | FailedReadWriteAttempt | 'taken-where-woken'> {
  const { key, resource } = lock;
  return new ClaimAttempt<ReadWriteAcquireStatus, ReadWriteHandle, Pick<FailedReadWriteAttempt, 'reason'>>(call, {
    resource,
    taking: mode,
    key,
    script: readWriteAcquireScript,
    granted: 'admitted',
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
  }).run(call.wokenBy, call.isSingleTry);
}
