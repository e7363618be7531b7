// One operation's calls to the nodes, in one object: each call bounded by its node's timeout on one shared
// deadline, each answer told to its node's health, and the vote over the answers; the outcomes by node, and
// the ways to wait for them, are its base's (node-outcomes.ts).
import type { Clock } from '../base/clock.js';
import type { NodeOperation } from '../base/diagnostics.js';
import { answerIn, type NodeOutcome } from '../base/outcomes.js';
import type { RenewableCall, ReplyReader } from '../scripts/reply-reader.js';
import { blankArraysFor } from './blank-arrays.js';
import { deadlineTimerOf, type DeadlineTimer, type Due, stallThresholdMs } from './deadline-timer.js';
import type { NodeCallKind, NodeCallRun } from './node-call.js';
import { nodeTimeoutMsFor } from './node-latency.js';
import { NodeOutcomes } from './node-outcomes.js';
import type { NodeSet, NodeState } from './node-state.js';
import { Vote } from './quorum.js';

// A node's call, as bits of `FanOut.#flags`.
const SENT = 1; // a command went out: not refused at once, not skipped
const PENDING = 2; // sent, and not answered, failed or timed out yet: its deadline counts
const ANSWER_KNOWN = 4; // what the script did there is known: an answer, or none (see `lateAnswerOf`)
const MEASURED = 8; // its answer measures the node's round trip (a `'call'`)
const PROBE = 16; // the one call a silent node gets to show that it answers again (see `CircuitBreaker`)
const FIRST_CONTACT = 32; // to a node never heard from, under the adaptive timeout: the longest timeout there is
const VOTE_DUE = 64; // a probe whose deadline is its vote's: the node's pace, before its own timeout (see `send`)
const VOTED = 128; // a probe counted in the vote as a no at its pace, before it settled

/** Who waits for a fan-out's calls: see the {@link FanOut} constructor. */
export type FanOutWork = 'awaited' | 'tracked' | 'background' | 'detached';

/**
 * The calls of one operation to the nodes of a `Redlock`, by node index: one object rather than one per
 * call, one deadline, one tally, and with `yes`, the {@link Vote} over the outcomes ({@link decided}). Each call:
 * - is refused at once, nothing sent, when its node is silent or its server unusable (never a `'cleanup'`);
 *   at first contact the server probe goes out ahead of it (see `NodeState.checkServer`);
 * - times out `timeoutMs` after its start on the clock's one timer (see {@link DeadlineTimer}); after a
 *   stall (the timer late by more than {@link stallThresholdMs}), the calls still pending get one more
 *   full timeout, once per fan-out;
 * - tells its node's health how it went (`NodeState.call…`), and settles with one outcome, which never
 *   rejects; its answer is still read after a timeout, as a late answer needs cleaning up ({@link lateAnswerOf}).
 */
export class FanOut<S extends string> extends NodeOutcomes<S> implements Due, RenewableCall {
  /** The earliest deadline of a pending call: what the clock's timer waits for (see {@link Due}). */
  deadline = Infinity;
  pendingSlot = -1;
  readonly isAwaited: boolean;
  readonly #set: NodeSet;
  readonly #operation: NodeOperation;
  readonly #clock: Clock;
  readonly #timer: DeadlineTimer;
  /** The bits of each node's call: {@link SENT} and those after it. */
  readonly #flags: number[];
  /**
   * Four numbers per node's call, at `4 × nodeIndex`: its start on the clock (its round trip counts from it),
   * timeout, deadline, and how many answers its node had given when it was sent (`CircuitBreaker.answerCount`).
   */
  readonly #timing: number[];
  /** What a script answered where its call's outcome will not tell it (it timed out, or waits for a server check). */
  #lateAnswers: (S | undefined)[] | undefined;
  /** The server checks of first contacts, by node. */
  #checks: (Promise<Error | undefined> | undefined)[] | undefined;
  #pendingCount = 0;
  /** When every call ends at the latest, on the clock, whatever its node's timeout: see {@link endingBy}. */
  #endsBy = Infinity;
  /** Whether a call was cut at {@link endingBy}'s end: told by the cut, not the clock (a timer may fire early). */
  wasCut = false;
  #hasRenewedAfterStall = false;
  /** Whether a call was sent as a probe with {@link VOTE_DUE}: only then does a settled call look at the probes. */
  #hasVoteDueProbe = false;
  /** Listeners of one node's late answer: made when someone asks. */
  #answerListeners: (((answer: S | undefined) => void)[] | undefined)[] | undefined;
  /** Whether each call is background work that `redlock.close()` waits for. */
  readonly #isTracked: boolean;
  readonly #vote: Vote<S> | undefined;

  /**
   * @param yes - The status (or the two statuses) that count as yes in the vote; none for a fan-out without one.
   * @param work - Who waits for the calls: their caller (`'awaited'`), also `redlock.close()` (`'tracked'`:
   *   releases, a failed attempt's cleanup), `redlock.close()` only (`'background'`), or no one
   *   (`'detached'`: re-seeding). The last two never keep the process alive (see {@link Due.isAwaited}).
   */
  constructor(set: NodeSet, operation: NodeOperation, yes?: S | readonly [S, S], work: FanOutWork = 'awaited') {
    const nodeCount = set.nodes.length;
    const blank = blankArraysFor(nodeCount);
    super(blank.outcomes.slice() as (NodeOutcome<S> | undefined)[]);
    this.#set = set;
    this.#operation = operation;
    this.#clock = set.options.clock;
    this.#timer = deadlineTimerOf(this.#clock);
    this.#vote = yes === undefined ? undefined : new Vote(nodeCount, yes);
    this.#isTracked = work === 'tracked' || work === 'background';
    this.isAwaited = work === 'awaited' || work === 'tracked';
    this.#flags = blank.flags.slice();
    this.#timing = blank.timing.slice();
  }

  /**
   * Calls node `nodeIndex`, bounded by `timeoutMs` from `startedAtMs` (the clock's time by default). `run`
   * sends the command and reads its reply; a rejection, a synchronous throw or an unparseable reply is an
   * `'error'` outcome with a `NodeError`, a call that outlives its deadline a `'timeout'`.
   */
  send(nodeIndex: number, timeoutMs: number, run: NodeCallRun<S>, kind: NodeCallKind = 'call', startedAtMs?: number): void {
    const node = this.#set.nodes[nodeIndex] as NodeState;
    const isCall = kind === 'call';
    let flags = isCall ? SENT | PENDING | MEASURED : SENT | PENDING;
    if (isCall) {
      const admission = node.admitCall<S>(this.#clock, this.#operation);
      if (typeof admission === 'object') return this.skip(nodeIndex, admission);
      if (admission === 'probe') flags |= PROBE;
      else if (node.isTimeoutAdaptive && node.latency.smoothedRttMs === undefined) flags |= FIRST_CONTACT;
    }
    const startedAt = startedAtMs ?? this.#clock.now();
    let voteTimeoutMs = timeoutMs;
    // A silent node's probe waits for its answer as long as the node may take (the ceiling), to tell whether it
    // answers at all; the vote waits for it only as long as the node took when it answered, and once every
    // other node settled, only as long again as they took (see `#hastenProbes`). Else a paused node's probe
    // held an attempt whose other nodes split (a fair waiter's grants among them) for a second, then 50 ms.
    if ((flags & PROBE) !== 0 && node.isTimeoutAdaptive && node.latency.paceTimeoutMs < timeoutMs) {
      voteTimeoutMs = node.latency.paceTimeoutMs;
      flags |= VOTE_DUE;
      this.#hasVoteDueProbe = true;
    }
    this.#flags[nodeIndex] = flags;
    this.#timing[4 * nodeIndex] = startedAt;
    this.#timing[4 * nodeIndex + 1] = timeoutMs;
    this.#timing[4 * nodeIndex + 3] = node.breaker.answerCount;
    this.#setDeadline(nodeIndex, startedAt + voteTimeoutMs);
    this.#pendingCount += 1;
    if (this.#isTracked) this.#set.lifecycle.callStarted(nodeIndex);
    try {
      if (isCall) {
        const check = node.checkServer();
        if (check !== undefined) (this.#checks ??= [])[nodeIndex] = check;
      }
      if (typeof run === 'function') this.#follow(nodeIndex, run(node.adapter, this, nodeIndex));
      else this.#readLater(nodeIndex, run.send(node.adapter), run);
    } catch (error) {
      // A faulty adapter may throw instead of rejecting: that is a failed call like any other.
      this.#scriptFailed(nodeIndex, error);
    }
  }

  /** Calls every node at once, each bounded by its timeout for `ttlMs` over `keyCount` keys, from `startedAtMs`. */
  sendToEveryNode(ttlMs: number, keyCount: number, run: NodeCallRun<S>, startedAtMs = this.#clock.now()): this {
    const { nodes, options } = this.#set;
    for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) {
      this.send(nodeIndex, nodeTimeoutMsFor(nodes[nodeIndex] as NodeState, options, ttlMs, keyCount), run, 'call', startedAtMs);
    }
    return this;
  }

  /**
   * Ends every call by `atMs` on the clock at the latest, whatever its node's timeout: the calls on a hold
   * end where the hold would expire (an extension or a re-seed with its validity, a release with its keys),
   * since waiting longer can neither keep nor free it. A call cut there times out without counting against
   * its node, which was not given its timeout (see `NodeState.callCut`); its answer is still read. Set
   * before the first {@link send}.
   */
  endingBy(atMs: number): this {
    this.#endsBy = atMs;
    return this;
  }

  /** Settles node `nodeIndex` with `outcome` and sends nothing there: refused at once, or nothing to do. */
  skip(nodeIndex: number, outcome: NodeOutcome<S>): void {
    this.#flags[nodeIndex] = ANSWER_KNOWN;
    this.#settle(nodeIndex, outcome);
  }

  wasSent(nodeIndex: number): boolean {
    return ((this.#flags[nodeIndex] as number) & SENT) !== 0;
  }

  /** Resolves once the vote is decided, with whether a quorum said yes; with `false` at once if `signal` aborts first. */
  decided(signal?: AbortSignal): Promise<boolean> {
    return (this.#vote as Vote<S>).decided(signal);
  }

  /**
   * Whether a failed operation need not wait for node `nodeIndex`'s call, cleaned up in the background: a
   * silent node's probe still unanswered (no later attempt can meet what it may write: the node gets no
   * other call meanwhile), or once the refusals settled the failure, a first contact still unanswered.
   */
  isLeftOutOfFailure(nodeIndex: number, isSettled: boolean): boolean {
    const flags = this.#flags[nodeIndex] as number;
    if ((flags & PENDING) === 0) return false;
    return (flags & PROBE) !== 0 || (isSettled && (flags & FIRST_CONTACT) !== 0);
  }

  /** Resolves once every call settled but a silent node's probe still unanswered, which {@link isLeftOutOfFailure} leaves out. */
  settledButProbes(): Promise<unknown> {
    const waitedFor: Promise<NodeOutcome<S>>[] = [];
    for (let nodeIndex = 0; nodeIndex < this.outcomes.length; nodeIndex += 1) if (!this.isLeftOutOfFailure(nodeIndex, false)) waitedFor.push(this.outcomeOf(nodeIndex));
    return Promise.all(waitedFor);
  }

  /** Whether every call still pending is a probe that the vote counted without it, past the node's pace (see {@link send}). */
  hasOnlyVotedProbesPending(): boolean {
    for (const flags of this.#flags) if ((flags & PENDING) !== 0 && (flags & VOTED) === 0) return false;
    return true;
  }

  /** What the script did on node `nodeIndex`, whenever it answers, even after a timeout or a failed server check; `undefined` for none. */
  lateAnswerOf(nodeIndex: number): Promise<S | undefined> {
    const flags = this.#flags[nodeIndex] as number;
    if ((flags & SENT) === 0) return Promise.resolve(undefined);
    if ((flags & ANSWER_KNOWN) !== 0) return Promise.resolve(this.#lateAnswers?.[nodeIndex] ?? answerIn(this.outcomes[nodeIndex]));
    return new Promise((resolve) => ((this.#answerListeners ??= [])[nodeIndex] ??= []).push(resolve));
  }

  /** Calls `listener` with node `nodeIndex`'s answer: at once from an answered outcome, else whenever it comes (see {@link lateAnswerOf}). */
  onAnswerOf(nodeIndex: number, listener: (answer: S | undefined) => void): void {
    this.onOutcomeOf(nodeIndex, (outcome) => {
      const answer = answerIn(outcome);
      if (answer !== undefined) listener(answer);
      else void this.lateAnswerOf(nodeIndex).then(listener);
    });
  }

  /**
   * When node `nodeIndex` was sent the command whose answer its call gives, on the clock: the call's start,
   * or after `NOSCRIPT`, when the `EVAL` went (see {@link renewTimeout}). Commands to a node run in the
   * order they were sent, so this tells whether the answer came from before or after another command.
   */
  sentAtOf(nodeIndex: number): number {
    return this.#timing[4 * nodeIndex] as number;
  }

  /**
   * Node `nodeIndex` answered `NOSCRIPT`, so it is alive: its call gets a fresh timeout for the EVAL that
   * follows, from now, when that goes out (also for a call that timed out already: see {@link sentAtOf}).
   */
  renewTimeout(nodeIndex: number): void {
    const now = this.#clock.now();
    this.#timing[4 * nodeIndex] = now;
    this.#timing[4 * nodeIndex + 3] = (this.#set.nodes[nodeIndex] as NodeState).breaker.answerCount;
    if (((this.#flags[nodeIndex] as number) & PENDING) === 0) return;
    this.#flags[nodeIndex] = (this.#flags[nodeIndex] as number) & ~VOTE_DUE;
    this.#setDeadline(nodeIndex, now + this.#timeoutOf(nodeIndex));
  }

  /** The timer found {@link deadline} passed: see the class's comment. */
  expire(now: number): void {
    // A stall is judged by the pending call due first and, of those due together, of the shortest timeout.
    let first = -1;
    for (let nodeIndex = 0; nodeIndex < this.#flags.length; nodeIndex += 1) {
      if (((this.#flags[nodeIndex] as number) & PENDING) === 0) continue;
      const later = first === -1 ? -1 : this.#deadlineOf(nodeIndex) - this.#deadlineOf(first);
      if (later < 0 || (later === 0 && this.#timeoutOf(nodeIndex) < this.#timeoutOf(first))) first = nodeIndex;
    }
    if (!this.#hasRenewedAfterStall && first !== -1 && now - this.#deadlineOf(first) > stallThresholdMs(this.#timeoutOf(first))) {
      this.#hasRenewedAfterStall = true;
      this.deadline = Infinity;
      for (let nodeIndex = 0; nodeIndex < this.#flags.length; nodeIndex += 1) {
        const flags = this.#flags[nodeIndex] as number;
        if ((flags & PENDING) === 0) continue;
        this.#flags[nodeIndex] = flags & ~VOTE_DUE;
        this.#setDeadline(nodeIndex, now + this.#timeoutOf(nodeIndex));
      }
      return;
    }
    // The timer ran its course, so every call due by the deadline it was armed for is due, even if the
    // clock reads a little earlier (see `DeadlineTimer`).
    const reached = Math.max(now, this.deadline);
    // After a stalled event loop, Node runs due timers before it reads sockets: replies already there get a turn first.
    setImmediate(() => {
      this.deadline = Infinity;
      for (let nodeIndex = 0; nodeIndex < this.#flags.length; nodeIndex += 1) {
        if (((this.#flags[nodeIndex] as number) & PENDING) === 0) continue;
        const deadline = this.#deadlineOf(nodeIndex);
        // A call with a later deadline (another timeout, or renewed after `NOSCRIPT`) waits for its own.
        if (deadline > reached) this.#setDeadline(nodeIndex, deadline);
        else if (((this.#flags[nodeIndex] as number) & VOTE_DUE) !== 0) this.#voteWithout(nodeIndex);
        else this.#timedOut(nodeIndex);
      }
    });
  }

  #timeoutOf(nodeIndex: number): number {
    return this.#timing[4 * nodeIndex + 1] as number;
  }

  #deadlineOf(nodeIndex: number): number {
    return this.#timing[4 * nodeIndex + 2] as number;
  }

  /** Sets a pending call's deadline, and the timer's when it is earlier than every other pending one. */
  #setDeadline(nodeIndex: number, timedOutAt: number): void {
    const deadline = timedOutAt < this.#endsBy ? timedOutAt : this.#endsBy;
    this.#timing[4 * nodeIndex + 2] = deadline;
    // Off the timer with a deadline: the timer fired, and the expiry waiting for its turn of the loop arms it then.
    if (deadline >= this.deadline || (this.pendingSlot === -1 && this.deadline !== Infinity)) return;
    if (this.pendingSlot !== -1) this.#timer.delete(this);
    this.deadline = deadline;
    this.#timer.add(this);
  }

  /** Takes a call out of the pending ones; returns whether it was pending (answered in time). */
  #removePending(nodeIndex: number): boolean {
    const flags = this.#flags[nodeIndex] as number;
    if ((flags & PENDING) === 0) return false;
    this.#flags[nodeIndex] = flags & ~PENDING;
    this.#pendingCount -= 1;
    if (this.#pendingCount === 0 && this.pendingSlot !== -1) {
      this.#timer.delete(this);
      this.deadline = Infinity;
    }
    return true;
  }

  /** Reads the adapter's reply with `reader`; not in `send`, where the closures cost some 130 instructions per acquire+release more. */
  #readLater(nodeIndex: number, reply: PromiseLike<unknown>, reader: ReplyReader<S>): void {
    reply.then((value) => this.#read(nodeIndex, reader, false, value), (error: unknown) => this.#read(nodeIndex, reader, true, error));
  }

  /** Reads what the adapter's promise settled with (a rejection when `isRejection`): the status at once, or the promise of it. */
  #read(nodeIndex: number, reader: ReplyReader<S>, isRejection: boolean, value: unknown): void {
    let status: S | Promise<S>;
    try {
      const { adapter } = this.#set.nodes[nodeIndex] as NodeState;
      status = isRejection ? reader.recover(value, adapter, this, nodeIndex) : reader.read(value, adapter, this, nodeIndex);
    } catch (error) {
      return this.#scriptFailed(nodeIndex, error);
    }
    if (typeof status === 'string') this.#scriptAnswered(nodeIndex, status);
    else this.#follow(nodeIndex, status);
  }

  #follow(nodeIndex: number, status: Promise<S>): void {
    status.then((answer) => this.#scriptAnswered(nodeIndex, answer), (error: unknown) => this.#scriptFailed(nodeIndex, error));
  }

  /** Records what the script did on the node, and tells who waits for its late answer. */
  #answerKnown(nodeIndex: number, answer: S | undefined): void {
    const flags = this.#flags[nodeIndex] as number;
    if ((flags & ANSWER_KNOWN) !== 0) return;
    this.#flags[nodeIndex] = flags | ANSWER_KNOWN;
    if (answer !== undefined && (this.outcomes[nodeIndex] !== undefined || this.#checks?.[nodeIndex] !== undefined)) (this.#lateAnswers ??= [])[nodeIndex] = answer;
    const listeners = this.#answerListeners?.[nodeIndex];
    if (listeners === undefined) return;
    (this.#answerListeners as unknown[])[nodeIndex] = undefined;
    for (const listener of listeners) listener(answer);
  }

  /** The script answered `status`: the call answers it, once the server check (if any) found no problem. */
  #scriptAnswered(nodeIndex: number, status: S): void {
    this.#answerKnown(nodeIndex, status);
    const check = this.#checks?.[nodeIndex];
    if (check === undefined) return this.#answered(nodeIndex, status);
    check.then(
      (problem) => {
        if (problem !== undefined) return this.#failed(nodeIndex, problem);
        (this.#set.nodes[nodeIndex] as NodeState).noteAnswered();
        this.#answered(nodeIndex, status);
      },
      (error: unknown) => this.#failed(nodeIndex, error),
    );
  }

  /** The script failed (the adapter rejected, threw, or replied what no script can): the call fails at once. */
  #scriptFailed(nodeIndex: number, cause: unknown): void {
    this.#answerKnown(nodeIndex, undefined);
    this.#failed(nodeIndex, cause);
  }

  #answered(nodeIndex: number, status: S): void {
    const node = this.#set.nodes[nodeIndex] as NodeState;
    this.#removePending(nodeIndex);
    node.callAnswered(this.#clock, this.#timing[4 * nodeIndex] as number, ((this.#flags[nodeIndex] as number) & MEASURED) !== 0);
    this.#settle(nodeIndex, node.answerOf(status));
  }

  #failed(nodeIndex: number, cause: unknown): void {
    if (!this.#removePending(nodeIndex)) return;
    const isProbe = ((this.#flags[nodeIndex] as number) & PROBE) !== 0;
    const node = this.#set.nodes[nodeIndex] as NodeState;
    this.#settle(nodeIndex, node.callFailed<S>(this.#clock, cause, this.#operation, this.#timing[4 * nodeIndex + 3] as number, isProbe));
  }

  /** A probe past its vote's deadline counts as a no there, and waits on for its own (see {@link send}). */
  #voteWithout(nodeIndex: number): void {
    this.#flags[nodeIndex] = ((this.#flags[nodeIndex] as number) & ~VOTE_DUE) | VOTED;
    this.#vote?.count('timeout');
    this.#setDeadline(nodeIndex, (this.#timing[4 * nodeIndex] as number) + this.#timeoutOf(nodeIndex));
  }

  /**
   * When the vote waits for nothing but probes, each of them (sent with the others) has as long again as the
   * others took, at least 1 ms: a node back from a pause answers about when they did, a paused one never. Its
   * node's pace could be 50 ms more for every attempt whose other nodes split, the woken fair waiter's turn
   * among them (refused where the release came after it). A probe counted without its answer still runs to its
   * own end and tells the node's health; its grant, if any, is removed as a late one.
   */
  #hastenProbes(): void {
    const now = this.#clock.now();
    for (let nodeIndex = 0; nodeIndex < this.#flags.length; nodeIndex += 1) {
      if (this.outcomes[nodeIndex] === undefined && ((this.#flags[nodeIndex] as number) & (VOTE_DUE | VOTED)) === 0) return;
    }
    for (let nodeIndex = 0; nodeIndex < this.#flags.length; nodeIndex += 1) {
      if (((this.#flags[nodeIndex] as number) & (PENDING | VOTE_DUE)) !== (PENDING | VOTE_DUE)) continue;
      const hastenedMs = now + Math.max(1, now - (this.#timing[4 * nodeIndex] as number));
      if (hastenedMs < this.#deadlineOf(nodeIndex)) this.#setDeadline(nodeIndex, hastenedMs);
    }
  }

  #timedOut(nodeIndex: number): void {
    this.#removePending(nodeIndex);
    const isProbe = ((this.#flags[nodeIndex] as number) & PROBE) !== 0;
    const node = this.#set.nodes[nodeIndex] as NodeState;
    const startedAt = this.#timing[4 * nodeIndex] as number;
    const timeoutMs = this.#timeoutOf(nodeIndex);
    const isCut = startedAt + timeoutMs > this.#endsBy;
    if (isCut) this.wasCut = true;
    const answersAtSend = this.#timing[4 * nodeIndex + 3] as number;
    const outcome = isCut ? node.callCut<S>(this.#clock, startedAt, this.#operation) : node.callTimedOut<S>(this.#clock, answersAtSend, timeoutMs, this.#operation, isProbe);
    this.#settle(nodeIndex, outcome);
  }

  /**
   * Settles node `nodeIndex`'s call with `outcome`, once: counts it in the vote and tells the listeners (its
   * base's fields, written here: a method of the base's for it cost 30 instructions per node call, not inlined).
   */
  #settle(nodeIndex: number, outcome: NodeOutcome<S>): void {
    if (this.outcomes[nodeIndex] !== undefined) return;
    this.outcomes[nodeIndex] = outcome;
    this.unsettledCount -= 1;
    if (this.#isTracked && ((this.#flags[nodeIndex] as number) & SENT) !== 0) this.#set.lifecycle.callEnded(nodeIndex);
    if (((this.#flags[nodeIndex] as number) & VOTED) === 0) this.#vote?.count(outcome.status);
    if (this.#hasVoteDueProbe && this.#vote?.isDecided === false) this.#hastenProbes();
    this.listener?.(outcome);
    const listeners = this.nodeListeners?.[nodeIndex];
    if (listeners !== undefined) {
      (this.nodeListeners as unknown[])[nodeIndex] = undefined;
      for (const listener of listeners) listener(outcome);
    }
    if (this.unsettledCount === 0) this.onAllSettled?.(this.outcomes as NodeOutcome<S>[]);
  }
}
