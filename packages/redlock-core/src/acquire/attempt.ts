// One attempt to take a hold over the nodes, for every kind of hold (`HoldAttempt`), and a lock's (`LockAttempt`):
// a semaphore's and a read-write lock's is `ClaimAttempt` (permits/claim-attempt.ts).
import { validityMs } from '../base/clock.js';
import type { AttemptTraceResult } from '../base/diagnostics.js';
import type { MisconfiguredNodeError } from '../base/errors.js';
import { type AcquireAttempt, type FenceNodeOutcome, type NodeOutcome, outcomesSoFar } from '../base/outcomes.js';
import { createLockToken } from '../base/token.js';
import { AttemptTiming, isTraced, traceAttempt } from '../base/tracing.js';
import { Lock } from '../lock/lock.js';
import type { Release } from '../lock/release.js';
import { FanOut } from '../nodes/fan-out.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import { type NodeSet, type NodeState, throwIfMisconfigured } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { acquireArgsOf, acquireScript, type AcquireStatus, canSetIfAbsent, fenceCounterOf, isPlainAcquire, isRefusal, parseAcquireReply, SetReader } from '../scripts/acquire.js';
import { fenceKeyOf, fenceScript, parseFenceReply } from '../scripts/fence.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { queuePlaceOf } from '../scripts/wake-queue.js';
import { isHeld } from './acquire-error.js';
import { type AnswerRules, endFailedAttempt } from './failed-attempt.js';
import { watchLateGrants } from './late-grants.js';
import { hasMisconfiguredNode, misconfiguredNodeErrorOf } from './misconfigured-nodes.js';
import { fairLeaseMsOf, type QueueTicket } from './queue-ticket.js';
import type { AcquireRequest } from './request.js';

/**
 * One lock's attempt, run whole (see {@link HoldAttempt.run}): resolves with the lock, or with the failed
 * attempt after cleaning up, or `'taken-where-woken'`. `ticket` is a waiting call's queue ticket; `signal`,
 * the call's, cuts the vote short. Traced on `redlock-core.attempt`, with the waiter's place once a quorum
 * of nodes queued it there.
 */
export function runAttempt(
  set: NodeSet,
  request: AcquireRequest,
  signal: AbortSignal,
  attemptNumber: number,
  wokenBy: number | undefined,
  isSingleTry = false,
  ticket?: QueueTicket,
): Promise<Lock | AcquireAttempt | 'taken-where-woken'> {
  if (!isTraced('attempt')) return new LockAttempt(set, request, signal, attemptNumber, ticket).run(wokenBy, isSingleTry);
  const { nodes, options } = set;
  const timing = new AttemptTiming(options.clock);
  const start = options.clock.now();
  const traced = { resources: request.resources, attemptNumber, quorum: quorumOf(nodes.length), nodeCount: nodes.length, isWoken: wokenBy !== undefined };
  return traceAttempt(traced, () => new LockAttempt(set, request, signal, attemptNumber, ticket).run(wokenBy, isSingleTry, timing), (outcome): AttemptTraceResult => {
    const elapsedMs = options.clock.now() - start;
    const queuePlace = ticket?.queuedPlace;
    if (outcome === 'taken-where-woken') return { outcome, elapsedMs, nodes: timing.reportOf(timing.answered, nodes.length), queuePlace };
    if (outcome instanceof Lock) return { outcome: 'acquired', elapsedMs, nodes: timing.reportOf(outcome.nodes, nodes.length), queuePlace };
    return { outcome: 'failed', elapsedMs, nodes: timing.reportOf(outcome.nodes, nodes.length), queuePlace };
  });
}

/** With fencing: the counter keys, and the highest counter each granting node reported. */
interface Fence {
  readonly keys: readonly string[];
  readonly counters: number[];
}

/**
 * One attempt to take a hold over the nodes, step by step, for every kind of hold: a lock
 * ({@link LockAttempt}) or a claim, a semaphore's permits or a read-write lock (`ClaimAttempt`,
 * permits/claim-attempt.ts), each saying how it asks a node and counts the answers. Written once here: its
 * token and start, the signal that cuts its vote short, the node that woke it asked first
 * ({@link askWokenByFirst}), the decision with its validity ({@link validityIfWon}), and the end of a failed attempt
 * ({@link endFailed}: its writes removed, its outcomes reported). {@link run} runs one whole.
 */
export abstract class HoldAttempt<S extends string, H, F> {
  /** The first round of calls (a lock's only one). */
  readonly calls: FanOut<S>;
  protected readonly set: NodeSet;
  protected readonly ttlMs: number;
  protected readonly attemptNumber: number;
  protected readonly rules: AnswerRules<S>;
  protected readonly token: string;
  protected readonly start: number;
  protected readonly wallStart: number;
  /** A waiting call's queue ticket: a refused node queues it for a wake (see wake-queue.ts); `''` for none. */
  protected readonly ticket: string;
  /**
   * The signal that may cut the vote short; never the Redlock's own (a call without a signal or `waitMs`):
   * `close()` rejects the call through its guard, which releases what this attempt wins: one listener less.
   */
  protected readonly cutSignal: AbortSignal | undefined;
  protected constructor(set: NodeSet, calls: FanOut<S>, rules: AnswerRules<S>, ttlMs: number, signal: AbortSignal | undefined, attemptNumber: number, ticket: string) {
    const { clock } = set.options;
    this.set = set;
    this.calls = calls;
    this.rules = rules;
    this.ttlMs = ttlMs;
    this.attemptNumber = attemptNumber;
    this.ticket = ticket;
    this.token = createLockToken();
    this.start = clock.now();
    this.wallStart = clock.wallNow();
    this.cutSignal = signal === set.lifecycle.signal ? undefined : signal;
  }

  /** Asks every node at once. */
  abstract sendToEveryNode(timing?: AttemptTiming): this;

  /** Sends node `nodeIndex` the attempt's call in its first round (see {@link askWokenByFirst}). */
  protected abstract askNode(nodeIndex: number, timing: AttemptTiming | undefined): void;

  /** Resolves once the vote is decided, with whether a quorum granted; with `false` once the call's own signal aborted first. */
  abstract decided(): Promise<boolean>;

  /**
   * What the vote's decision makes of the attempt: the hold, or the failed attempt once its writes were
   * removed, or for a single try (no attempt follows: `isSingleTry`), as soon as the nodes still silent
   * could no longer change why it failed (see `endFailedAttempt`).
   */
  abstract conclude(hasQuorum: boolean, isSingleTry: boolean): H | Promise<H | F>;

  /**
   * The whole attempt. With `wokenBy` (a woken attempt: the node that woke it), that node is asked alone
   * first, and `'taken-where-woken'` means it refused because the hold is taken there: nothing was written
   * anywhere, and no other node was asked. Its node calls are timed in `timing` when it is traced.
   */
  async run(wokenBy: number | undefined, isSingleTry: boolean, timing?: AttemptTiming): Promise<H | F | 'taken-where-woken'> {
    if (wokenBy === undefined) this.sendToEveryNode(timing);
    else if ((await this.askWokenByFirst(wokenBy, timing)) === 'taken-where-woken') return 'taken-where-woken';
    return this.conclude(await this.decided(), isSingleTry);
  }

  /**
   * Asks node `wokenBy` (the node whose release woke the waiter) alone first, then the others. Resolves with
   * `'taken-where-woken'`, no other node asked, when that node refused because others hold the resource there
   * (the holder took it again, or another woken waiter did), at the cost of one call and no cleanup; a node
   * wakes a waiter once it has deleted the previous holder's keys, and the others have had the release sent at
   * the same time. Cut off by the call's signal while that node had not answered (it hangs, or is slow), no
   * other node is asked: the vote, decided at once as cut, removes whatever it may still grant.
   */
  async askWokenByFirst(wokenBy: number, timing: AttemptTiming | undefined): Promise<'taken-where-woken' | undefined> {
    const calls = this.calls;
    this.askNode(wokenBy, timing);
    const wokenStatus = (await calls.outcomeUnlessCut(wokenBy, this.cutSignal))?.status;
    if (wokenStatus === undefined) return undefined;
    if (this.rules.isTakenThere(wokenStatus)) return 'taken-where-woken';
    for (let nodeIndex = 0; nodeIndex < calls.outcomes.length; nodeIndex += 1) if (nodeIndex !== wokenBy) this.askNode(nodeIndex, timing);
    return undefined;
  }

  /** The time the attempt has taken so far. */
  protected elapsedMs(): number {
    return this.set.options.clock.now() - this.start;
  }

  /**
   * The validity the hold keeps when the attempt won it, decided after `elapsedMs`, else 0: it won when a
   * quorum granted (`hasQuorum`) with validity left, no two nodes were found to be one server, and no node of
   * the round voted on (`outcomes`) replied with a setup mistake (`NOPERM`: its user may not run the scripts;
   * no hold is handed out that one node could never release).
   */
  protected validityIfWon(hasQuorum: boolean, outcomes: readonly (NodeOutcome<S> | undefined)[], elapsedMs: number): number {
    const { options, servers } = this.set;
    const validity = validityMs({ ttlMs: this.ttlMs, elapsedMs, driftFactor: options.driftFactor });
    return hasQuorum && validity > 0 && servers.configurationError === undefined && !hasMisconfiguredNode(outcomes) ? validity : 0;
  }

  /** When a hold won after `elapsedMs` with `validity` stops being valid, on the clock: validity runs from the decision, not from the start. */
  protected validUntil(elapsedMs: number, validity: number): number {
    return this.start + elapsedMs + validity;
  }

  /** {@link validUntil} on the wall clock, in whole milliseconds. */
  protected expiresAt(elapsedMs: number, validity: number): number {
    return Math.floor(this.wallStart + elapsedMs + validity);
  }

  /** Which nodes were sent the request in the first round: what the hold's release must reach (with a second round's). */
  protected writtenBy(): boolean[] {
    const calls = this.calls;
    const written = new Array<boolean>(calls.outcomes.length);
    for (let nodeIndex = 0; nodeIndex < written.length; nodeIndex += 1) written[nodeIndex] = calls.wasSent(nodeIndex);
    return written;
  }

  /**
   * Ends an attempt that won no hold (see `endFailedAttempt`): its writes removed from every node that may
   * hold them (by `run`, or the lock's release script), its outcomes reported, those known at the cut when the
   * call's signal cut the vote short (`hasQuorum` false). Its caller rejects when it met a setup mistake
   * (see {@link throwIfMisconfiguredAttempt}).
   */
  protected endFailed(
    rounds: readonly FanOut<S>[],
    resources: readonly string[],
    keys: readonly string[],
    run: Release['run'],
    hasQuorum: boolean,
    elapsedMs: number,
    isSingleTry: boolean,
    onLateAnswer?: (nodeIndex: number, answer: string | undefined) => void,
  ): Promise<{ nodes: NodeOutcome<S>[]; elapsedMs: number; isCutOff?: true }> {
    const { ttlMs, rules } = this;
    const last = rounds[rounds.length - 1] as FanOut<S>;
    // Cut off by the signal (`waitMs` or the caller's): the attempt reports the answers known at that
    // moment, since later ones did not count, and the nodes still silent as timed out.
    const cutOff = !hasQuorum && this.cutSignal?.aborted === true ? { outcomes: [...last.outcomes], elapsedMs } : undefined;
    // No wake: waiters blocked by a failed attempt retry on their timer, which keeps clients that split the
    // nodes between them from waking each other in lockstep.
    const cleanup: Release = { keys, token: this.token, ttlMs, keysExpireAt: this.start + ttlMs, announce: false, run };
    const { granted, isRefusal, isTakenThere } = rules;
    return endFailedAttempt(this.set, { rounds, resources, cleanup, granted, isRefusal, isTakenThere, onLateAnswer, elapsedMs, cutOff, isSingleTry: isSingleTry && !hasQuorum });
  }
}

/** A lock's answers: see {@link AnswerRules}. */
const LOCK_ANSWERS: AnswerRules<AcquireStatus> = { granted: 'acquired', isRefusal, isTakenThere: isHeld };

/**
 * A lock's attempt (see {@link HoldAttempt}): one `SET` or acquire script per node, voted on by the fan-out,
 * then with fencing the fencing token stored on a quorum. {@link runAttempt} runs one whole; the usual
 * acquisition (see `Acquisitions`) sends with {@link sendToEveryNode} and awaits the vote itself, which
 * spares every acquisition a promise resolved with its lock. Nothing keeps the attempt alive once concluded:
 * what waits for a far node holds the fan-out and the lock (see {@link watchLateGrants}), not this.
 */
export class LockAttempt extends HoldAttempt<AcquireStatus, Lock, AcquireAttempt> {
  readonly #request: AcquireRequest;
  readonly #fence: Fence | undefined;
  readonly #scriptKeys: readonly string[];
  readonly #parseReply: (reply: unknown, nodeIndex: number) => AcquireStatus;
  /** The acquire script's call, made on first use: every node of a woken attempt or a retry, a node not known to run scripts. */
  #byScript: ScriptReader<AcquireStatus> | undefined;
  /** A fair call's script to the nodes it listens to, which it tells so (see `renewLeaseLua`), made on first use. */
  #byScriptListening: ScriptReader<AcquireStatus> | undefined;
  readonly #queueTicket: QueueTicket | undefined;

  constructor(set: NodeSet, request: AcquireRequest, signal: AbortSignal, attemptNumber: number, ticket?: QueueTicket) {
    super(set, new FanOut<AcquireStatus>(set, 'acquire', 'acquired'), LOCK_ANSWERS, request.ttlMs, signal, attemptNumber, ticket?.text ?? '');
    const { keys } = request;
    this.#request = request;
    const fence = request.fencing ? { keys: keys.map(fenceKeyOf), counters: [] as number[] } : undefined;
    this.#fence = fence;
    this.#scriptKeys = fence === undefined ? keys : [...keys, ...fence.keys];
    // Not async: one promise per node call fewer.
    const parse = fence === undefined ? parseAcquireReply : fencedReplyParser(fence.counters);
    this.#parseReply = ticket === undefined ? parse : placedReplyParser(parse, ticket, request.fair);
    this.#queueTicket = ticket;
    if (ticket !== undefined && request.fair) ticket.latestAttempt = this.calls;
  }

  /**
   * Asks every node at once. The usual lock (one resource, no fencing, no restart grace) is one plain SET
   * per node where the adapter can send it: a fraction of the script's cost on the node. Only for a call's
   * first attempt, and asking every node at once: a retry's or a woken attempt's calls find the lock held more
   * often than not, which only the script tells, so a SET there would cost that node a second command.
   * Not before the node is known to run scripts (`NodeState.isKnownToRunScripts`): a first contact goes by
   * the script, in the same round trip, so a user that may not run scripts (an ACL without EVAL: `NOPERM`)
   * is refused before anything is written, where a SET would win it a lock it could never release or extend.
   */
  sendToEveryNode(timing?: AttemptTiming): this {
    const { nodes, options } = this.set;
    const { keys, ttlMs, fencing } = this.#request;
    const calls = this.calls;
    const isFirstTry = this.attemptNumber === 1;
    // A fair call asks by the script, which looks at the queue: a SET would take the lock ahead of its waiters.
    const bySet = isFirstTry && !this.#request.fair && isPlainAcquire(options.restartGraceMs, fencing) && keys.length === 1 ? new SetReader(keys[0] as string, this.token, ttlMs, this.ticket, this.#parseReply) : undefined;
    for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) {
      const node = nodes[nodeIndex] as NodeState;
      const reader = bySet !== undefined && node.isKnownToRunScripts && canSetIfAbsent(node.adapter) ? bySet : this.#script(nodeIndex);
      calls.send(nodeIndex, nodeTimeoutMsFor(node, options, ttlMs, this.#scriptKeys.length), reader, 'call', this.start);
    }
    if (timing !== undefined) for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) timing.watch(nodeIndex, calls.outcomeOf(nodeIndex));
    return this;
  }

  /** The acquire script's call to node `nodeIndex`, made once per attempt (a fair one's, twice: see {@link #byScriptListening}). */
  #script(nodeIndex: number): ScriptReader<AcquireStatus> {
    const request = this.#request;
    const listens = request.fair && this.#queueTicket?.listensOn?.(nodeIndex) === true;
    const made = listens ? this.#byScriptListening : this.#byScript;
    if (made !== undefined) return made;
    const args = acquireArgsOf(this.token, request.ttlMs, this.set.options.restartGraceMs, request.fencing, this.ticket, request.fair ? fairLeaseMsOf(this.set, request) : 0, listens);
    const reader = new ScriptReader(acquireScript, this.#scriptKeys, args, this.#parseReply);
    if (listens) this.#byScriptListening = reader;
    else this.#byScript = reader;
    return reader;
  }

  /** A woken attempt's call to one node: the script, which tells a lock held from a free one (a plain SET would not). */
  protected askNode(nodeIndex: number, timing: AttemptTiming | undefined): void {
    const { nodes, options } = this.set;
    this.calls.send(nodeIndex, nodeTimeoutMsFor(nodes[nodeIndex] as NodeState, options, this.ttlMs, this.#scriptKeys.length), this.#script(nodeIndex));
    timing?.watch(nodeIndex, this.calls.outcomeOf(nodeIndex));
  }

  decided(): Promise<boolean> {
    return this.calls.decided(this.cutSignal);
  }

  /**
   * What the vote's decision makes of the attempt: the lock at once; with fencing, the lock once the
   * fencing token is stored; or the failed attempt (see {@link HoldAttempt.conclude}).
   */
  conclude(hasQuorum: boolean, isSingleTry = false): Lock | Promise<Lock | AcquireAttempt> {
    if (hasQuorum && this.#fence !== undefined) return this.#concludeFenced(this.#fence);
    const elapsedMs = this.elapsedMs();
    const validity = this.validityIfWon(hasQuorum, this.calls.outcomes, elapsedMs);
    if (validity > 0) return this.#lock(elapsedMs, validity, undefined);
    // A single try whose vote failed, uncut, reports early; a quorum without validity (a stall) waits for every node.
    return this.#failed(hasQuorum, elapsedMs, undefined, isSingleTry);
  }

  async #concludeFenced(fence: Fence): Promise<Lock | AcquireAttempt> {
    // The granting quorum intersects the quorum that stored every earlier token, so one above the highest
    // counter it reported is above all of them.
    const fencingToken = Math.max(...fence.counters) + 1;
    // The second phase: the token is ours once a quorum stored it; a node whose counter key holds something
    // else refuses (`'foreign'`) and counts against the quorum. Every node's outcome, if it is not.
    const reader = new ScriptReader(fenceScript, fence.keys, [String(fencingToken)], parseFenceReply);
    const calls = new FanOut<'fenced' | 'foreign'>(this.set, 'fence', 'fenced').sendToEveryNode(this.ttlMs, fence.keys.length, reader);
    const fenceNodes = (await calls.decided(this.cutSignal)) ? undefined : await calls.allSettled();
    const elapsedMs = this.elapsedMs();
    const validity = this.validityIfWon(fenceNodes === undefined, this.calls.outcomes, elapsedMs);
    if (validity > 0) return this.#lock(elapsedMs, validity, fencingToken);
    return this.#failed(true, elapsedMs, fenceNodes, false);
  }

  #lock(elapsedMs: number, validity: number, fencingToken: number | undefined): Lock {
    const { resources, keys, ttlMs } = this.#request;
    const { calls, set } = this;
    const lock = new Lock({
      set,
      resources,
      keys,
      token: this.token,
      attempts: this.attemptNumber,
      fencingToken,
      ttlMs,
      validUntil: this.validUntil(elapsedMs, validity),
      keysExpireAt: this.start + ttlMs,
      expiresAt: this.expiresAt(elapsedMs, validity),
      written: this.writtenBy(),
      wakeTicket: this.ticket,
      isFair: this.#request.fair,
      // A copy: the fan-out keeps filling in its own array as the other nodes answer.
      nodes: outcomesSoFar(calls.outcomes),
    });
    watchLateGrants(lock, calls, set.nodes);
    return lock;
  }

  async #failed(hasQuorum: boolean, elapsedMs: number, fenceNodes: FenceNodeOutcome[] | undefined, isSingleTry: boolean): Promise<AcquireAttempt> {
    const { resources, keys } = this.#request;
    const report = await this.endFailed([this.calls], resources, keys, undefined, hasQuorum, elapsedMs, isSingleTry);
    return fenceNodes === undefined ? report : { ...report, fenceNodes };
  }
}

/**
 * Rejects a failed attempt of any kind of hold that met a setup mistake: two nodes found to be one server, or
 * one of its `nodes` (none for an attempt that stopped where it was woken) that replied with one (`whatOf`
 * words the hold; by default the lock of `resources`). Retrying cannot mend either. After the attempt, not in it: its trace reports it as failed (see `runAttempt`).
 */
export function throwIfMisconfiguredAttempt(set: NodeSet, resources: readonly string[], nodes: readonly NodeOutcome<string>[] | undefined, whatOf?: () => string): void {
  throwIfMisconfigured(set);
  if (nodes !== undefined && hasMisconfiguredNode(nodes)) throw misconfiguredNodeErrorOf(resources, nodes, whatOf?.()) as MisconfiguredNodeError;
}

/**
 * Parses the acquire script's fenced replies, pushing the counter each granting node reported onto
 * `counters`. A module function: the parser keeps only `counters` alive, not the attempt.
 */
function fencedReplyParser(counters: number[]): (reply: unknown) => AcquireStatus {
  return (reply) => {
    const counter = fenceCounterOf(reply);
    if (counter !== undefined) counters.push(counter);
    return parseAcquireReply(reply);
  };
}

/**
 * Parses replies with `parse`, telling `ticket` the place each node that refused it, or granted it `isFair`,
 * queued it at. A module function, as {@link fencedReplyParser}.
 */
function placedReplyParser(parse: (reply: unknown) => AcquireStatus, ticket: QueueTicket, isFair: boolean): (reply: unknown, nodeIndex: number) => AcquireStatus {
  const sentPlace = ticket.place;
  return (reply, nodeIndex) => {
    const status = parse(reply);
    // A ticket sent with its place is queued there by a node that refuses it, or grants it fairly, which says no more (see the script).
    const place = queuePlaceOf(reply) ?? (status === 'held' || (isFair && status === 'acquired') ? sentPlace : undefined);
    if (place !== undefined) ticket.heard(nodeIndex, place);
    return status;
  };
}
