import type { Release } from '../lock/release.js';
import { validityMs } from '../base/clock.js';
import { Lock } from '../lock/lock.js';
import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import { type AcquireAttempt, type FenceNodeOutcome, outcomesSoFar } from '../base/outcomes.js';
import { isHeld } from './acquire-error.js';
import { type CutOff, endFailedAttempt } from './failed-attempt.js';
import type { AcquireRequest } from './request.js';
import { type AttemptTraceResult } from '../base/diagnostics.js';
import { AttemptTiming, isTraced, traceAttempt } from '../base/tracing.js';
import { hasMisconfiguredNode } from './misconfigured-nodes.js';
import { watchLateGrants } from './late-grants.js';
import { FanOut } from '../nodes/fan-out.js';
import { quorumOf } from '../nodes/quorum.js';
import { acquireArgsOf, acquireScript, type AcquireStatus, canSetIfAbsent, fenceCounterOf, isPlainAcquire, isRefusal, parseAcquireReply, SetReader } from '../scripts/acquire.js';
import { fenceKeyOf, fenceScript, parseFenceReply } from '../scripts/fence.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { createLockToken } from '../base/token.js';

/**
 * One round over the nodes: resolves with the lock, or with the failed attempt after cleaning up. With
 * `wokenBy` (a woken attempt: the node that woke it), that node is asked alone first, and
 * `'taken-where-woken'` means it refused because the lock is held there: nothing was set anywhere, and no other
 * node was asked. A node that replied with a setup mistake (`misconfigurationOf`) fails the attempt.
 * `ticket` is a waiting call's queue ticket (see {@link Attempt}); `signal`, the call's, cuts the vote short.
 * Traced on `redlock-core.attempt`.
 */
export function runAttempt(
  set: NodeSet,
  request: AcquireRequest,
  signal: AbortSignal,
  attemptNumber: number,
  wokenBy: number | undefined,
  isSingleTry = false,
  ticket = '',
): Promise<Lock | AcquireAttempt | 'taken-where-woken'> {
  if (!isTraced('attempt')) return new Attempt(set, request, signal, attemptNumber, ticket).run(wokenBy, isSingleTry, undefined);
  const { nodes, options } = set;
  const timing = new AttemptTiming(options.clock);
  const start = options.clock.now();
  const traced = { resources: request.resources, attemptNumber, quorum: quorumOf(nodes.length), nodeCount: nodes.length, isWoken: wokenBy !== undefined };
  return traceAttempt(traced, () => new Attempt(set, request, signal, attemptNumber, ticket).run(wokenBy, isSingleTry, timing), (outcome): AttemptTraceResult => {
    const elapsedMs = options.clock.now() - start;
    if (outcome === 'taken-where-woken') return { outcome, elapsedMs, nodes: timing.reportOf(timing.answered, nodes.length) };
    if (outcome instanceof Lock) return { outcome: 'acquired', elapsedMs, nodes: timing.reportOf(outcome.nodes, nodes.length) };
    return { outcome: 'failed', elapsedMs, nodes: timing.reportOf(outcome.nodes, nodes.length) };
  });
}

/** With fencing: the counter keys, and the highest counter each granting node reported. */
interface Fence {
  readonly keys: readonly string[];
  readonly counters: number[];
}

/**
 * One attempt over the nodes, step by step: its token and start, its calls and their vote, and what the
 * decision makes of them ({@link conclude}). {@link runAttempt} runs one whole; the usual acquisition
 * (see `Acquisitions`) sends with {@link sendToEveryNode} and awaits the vote itself, which spares every
 * acquisition a promise resolved with its lock. Nothing keeps the attempt alive once concluded: what
 * waits for a far node holds the fan-out and the lock (see {@link watchLateGrants}), not this.
 */
export class Attempt {
  readonly calls: FanOut<AcquireStatus>;
  readonly #set: NodeSet;
  readonly #request: AcquireRequest;
  readonly #attemptNumber: number;
  readonly #token: string;
  readonly #start: number;
  readonly #wallStart: number;
  readonly #fence: Fence | undefined;
  readonly #scriptKeys: readonly string[];
  readonly #parseReply: (reply: unknown) => AcquireStatus;
  /** A waiting call's queue ticket: a refused node queues it for a wake (see wake-queue.ts); `''` for none. */
  readonly #ticket: string;
  /**
   * The signal that may cut the vote short; never the Redlock's own (a call without a signal or `waitMs`):
   * `close()` rejects the call through its guard, which releases what this attempt wins: one listener less.
   */
  readonly #cutSignal: AbortSignal | undefined;

  constructor(set: NodeSet, request: AcquireRequest, signal: AbortSignal, attemptNumber: number, ticket = '') {
    const { clock } = set.options;
    this.#ticket = ticket;
    const { keys } = request;
    this.#set = set;
    this.#request = request;
    this.#attemptNumber = attemptNumber;
    this.#token = createLockToken();
    this.#start = clock.now();
    this.#wallStart = clock.wallNow();
    const fence = request.fencing ? { keys: keys.map(fenceKeyOf), counters: [] as number[] } : undefined;
    this.#fence = fence;
    this.#scriptKeys = fence === undefined ? keys : [...keys, ...fence.keys];
    // Not async: one promise per node call fewer.
    this.#parseReply = fence === undefined ? parseAcquireReply : fencedReplyParser(fence.counters);
    this.calls = new FanOut<AcquireStatus>(set, 'acquire', 'acquired');
    this.#cutSignal = signal === set.lifecycle.signal ? undefined : signal;
  }

  /** The whole attempt, as {@link runAttempt} runs it, timing its node calls in `timing` when it is traced. */
  async run(wokenBy: number | undefined, isSingleTry: boolean, timing: AttemptTiming | undefined): Promise<Lock | AcquireAttempt | 'taken-where-woken'> {
    if (wokenBy !== undefined) {
      if ((await this.askWokenByFirst(wokenBy, timing)) === 'taken-where-woken') return 'taken-where-woken';
    } else this.sendToEveryNode(timing);
    return this.conclude(await this.decided(), isSingleTry);
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
    const { nodes, options } = this.#set;
    const { keys, ttlMs, fencing } = this.#request;
    const calls = this.calls;
    const ticket = this.#ticket;
    const isFirstTry = this.#attemptNumber === 1;
    const bySet = isFirstTry && isPlainAcquire(options.restartGraceMs, fencing) && keys.length === 1 ? new SetReader(keys[0] as string, this.#token, ttlMs, ticket) : undefined;
    let byScript: ScriptReader<AcquireStatus> | undefined;
    for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) {
      const node = nodes[nodeIndex] as NodeState;
      const reader =
        bySet !== undefined && node.isKnownToRunScripts && canSetIfAbsent(node.adapter)
          ? bySet
          : (byScript ??= new ScriptReader(acquireScript, this.#scriptKeys, acquireArgsOf(this.#token, ttlMs, options.restartGraceMs, fencing, ticket), this.#parseReply));
      calls.send(nodeIndex, nodeTimeoutMsFor(node, options, ttlMs, this.#scriptKeys.length), reader, 'call', this.#start);
    }
    if (timing !== undefined) for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) timing.watch(nodeIndex, calls.outcomeOf(nodeIndex));
    return this;
  }

  /** Asks the node that woke the waiter alone first, then the others: see {@link askWokenByFirst}. */
  askWokenByFirst(wokenBy: number, timing: AttemptTiming | undefined): Promise<'taken-where-woken' | undefined> {
    const set = this.#set;
    const { ttlMs } = this.#request;
    const calls = this.calls;
    const args = acquireArgsOf(this.#token, ttlMs, set.options.restartGraceMs, this.#request.fencing, this.#ticket);
    // The script, which tells a lock held from a free one (a plain SET would not).
    const reader = new ScriptReader(acquireScript, this.#scriptKeys, args, this.#parseReply);
    return askWokenByFirst(calls, wokenBy, this.#cutSignal, isHeld, (nodeIndex) => {
      calls.send(nodeIndex, nodeTimeoutMsFor(set.nodes[nodeIndex] as NodeState, set.options, ttlMs, this.#scriptKeys.length), reader);
      timing?.watch(nodeIndex, calls.outcomeOf(nodeIndex));
    });
  }

  /** Resolves once the vote is decided, with whether a quorum granted; with `false` once the call's own signal aborted first. */
  decided(): Promise<boolean> {
    return this.calls.decided(this.#cutSignal);
  }

  /**
   * What the vote's decision makes of the attempt: the lock at once; with fencing, the lock once the
   * fencing token is stored; or the failed attempt, once its keys were removed, or for a single try (no
   * attempt follows: `isSingleTry`), as soon as the nodes still silent could no longer change why it
   * failed, those nodes being cleaned up in the background (see `#failed`).
   */
  conclude(hasQuorum: boolean, isSingleTry = false): Lock | Promise<Lock | AcquireAttempt> {
    if (hasQuorum && this.#fence !== undefined) return this.#concludeFenced(this.#fence);
    // Cut off by the signal (`waitMs` or the caller's): the attempt reports the answers known at that
    // moment, since later ones did not count, and the nodes still silent as timed out.
    const cutOffAt: CutOff<AcquireStatus> | undefined =
      !hasQuorum && this.#cutSignal?.aborted === true ? { outcomes: [...this.calls.outcomes], elapsedMs: this.#set.options.clock.now() - this.#start } : undefined;
    return this.#outcome(hasQuorum, undefined, undefined, cutOffAt, isSingleTry);
  }

  async #concludeFenced(fence: Fence): Promise<Lock | AcquireAttempt> {
    // The granting quorum intersects the quorum that stored every earlier token, so one above the highest
    // counter it reported is above all of them.
    const fencingToken = Math.max(...fence.counters) + 1;
    // The second phase: the token is ours once a quorum stored it; a node whose counter key holds something
    // else refuses (`'foreign'`) and counts against the quorum. Every node's outcome, if it is not.
    const reader = new ScriptReader(fenceScript, fence.keys, [String(fencingToken)], parseFenceReply);
    const calls = new FanOut<'fenced' | 'foreign'>(this.#set, 'fence', 'fenced').sendToEveryNode(this.#request.ttlMs, fence.keys.length, reader);
    const fenceNodes = (await calls.decided(this.#cutSignal)) ? undefined : await calls.allSettled();
    return this.#outcome(true, fencingToken, fenceNodes, undefined, false);
  }

  /** The lock, if the quorum granted it with validity left and no node is misconfigured; else the failed attempt, cleaned up. */
  #outcome(
    hasQuorum: boolean,
    fencingToken: number | undefined,
    fenceNodes: FenceNodeOutcome[] | undefined,
    cutOffAt: CutOff<AcquireStatus> | undefined,
    isSingleTry: boolean,
  ): Lock | Promise<AcquireAttempt> {
    const set = this.#set;
    const { ttlMs } = this.#request;
    const elapsedMs = set.options.clock.now() - this.#start;
    const validity = validityMs({ ttlMs, elapsedMs, driftFactor: set.options.driftFactor });
    // Two nodes found to be one server: no lock, whatever the vote; the caller rejects with the error.
    const isMisconfigured = set.servers.configurationError !== undefined;
    if (hasQuorum && fenceNodes === undefined && validity > 0 && !isMisconfigured && !hasMisconfiguredNode(this.calls.outcomes)) {
      return this.#lock(elapsedMs, validity, fencingToken);
    }
    // A single try whose vote failed, uncut, reports early; a quorum without validity (a stall) waits for every node.
    return this.#failed(elapsedMs, fenceNodes, cutOffAt, isSingleTry && !hasQuorum);
  }

  #lock(elapsedMs: number, validity: number, fencingToken: number | undefined): Lock {
    const { nodes } = this.#set;
    const { resources, keys, ttlMs } = this.#request;
    const calls = this.calls;
    const start = this.#start;
    const written = new Array<boolean>(nodes.length);
    for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) written[nodeIndex] = calls.wasSent(nodeIndex);
    const lock = new Lock({
      set: this.#set,
      resources,
      keys,
      token: this.#token,
      attempts: this.#attemptNumber,
      fencingToken,
      ttlMs,
      // Validity is what is left now, at the decision: it runs from here, not from the start.
      validUntil: start + elapsedMs + validity,
      keysExpireAt: start + ttlMs,
      expiresAt: Math.floor(this.#wallStart + elapsedMs + validity),
      written,
      wakeTicket: this.#ticket,
      // A copy: the fan-out keeps filling in its own array as the other nodes answer.
      nodes: outcomesSoFar(calls.outcomes),
    });
    watchLateGrants(lock, calls, nodes);
    return lock;
  }

  async #failed(
    elapsedMs: number,
    fenceNodes: FenceNodeOutcome[] | undefined,
    cutOff: CutOff<AcquireStatus> | undefined,
    isSingleTry: boolean,
  ): Promise<AcquireAttempt> {
    const { resources, keys, ttlMs } = this.#request;
    // No wake: waiters blocked by a failed attempt retry on their timer, which keeps clients that
    // split the nodes between them from waking each other in lockstep.
    const cleanup: Release = { keys, token: this.#token, ttlMs, keysExpireAt: this.#start + ttlMs, announce: false };
    const failed = { rounds: [this.calls], resources, cleanup, granted: 'acquired', isRefusal, isTakenThere: isHeld, elapsedMs, cutOff, isSingleTry };
    const report = await endFailedAttempt(this.#set, failed);
    return fenceNodes === undefined ? report : { ...report, fenceNodes };
  }
}

/**
 * Asks node `wokenBy` (the node whose release woke the waiter) alone first, then the others: `callOn` sends one
 * node its call. Resolves with `'taken-where-woken'`, no other node asked, when that node refused because others
 * hold the resource there (`isTakenThere`: the holder took it again, or another woken waiter did), at the cost
 * of one call and no cleanup; a node wakes a waiter once it has deleted the previous holder's keys, and the
 * others have had the release sent at the same time. Cut off by `signal` while that node had not answered (it
 * hangs, or is slow), no other node is asked: the vote, decided at once as cut, removes whatever it may still grant.
 */
export async function askWokenByFirst<S extends string>(
  calls: FanOut<S>,
  wokenBy: number,
  signal: AbortSignal | undefined,
  isTakenThere: (status: string) => boolean,
  callOn: (nodeIndex: number) => void,
): Promise<'taken-where-woken' | undefined> {
  callOn(wokenBy);
  const wokenStatus = (await calls.outcomeUnlessCut(wokenBy, signal))?.status;
  if (wokenStatus === undefined) return undefined;
  if (isTakenThere(wokenStatus)) return 'taken-where-woken';
  for (let nodeIndex = 0; nodeIndex < calls.outcomes.length; nodeIndex += 1) if (nodeIndex !== wokenBy) callOn(nodeIndex);
  return undefined;
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
