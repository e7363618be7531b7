import type { RedisAdapter } from '../base/adapter.js';
import type { NodeReply, RenewableCall, ReplyReader } from '../scripts/reply-reader.js';
import type { Clock } from '../base/clock.js';
import { unansweredAfterMs } from './circuit-breaker.js';
import { deadlineTimerOf, type DeadlineTimer, type Due } from './deadline-timer.js';
import { NodeError } from '../base/redlock-error.js';
import type { NodeSet, NodeState } from './node-state.js';
import { nodeTimeoutMsFor } from './node-latency.js';
import type { NodeOutcome } from '../base/outcomes.js';
import type { NodeOperation } from '../base/diagnostics.js';
import { recordNodeOutcome } from './stats.js';

/** The number of nodes that must agree: a strict majority, ⌊n/2⌋+1. */
export function quorumOf(nodeCount: number): number {
  return Math.floor(nodeCount / 2) + 1;
}

/** One call to one node: its outcome within the timeout, and its answer whenever it comes. */
export interface NodeCall<S extends string> {
  /** Settles within the node's timeout and never rejects. Made on first use: {@link onOutcome} needs no promise. */
  readonly outcome: Promise<NodeOutcome<S>>;
  /**
   * Calls `listener` with the outcome the moment it is known (at once if it is): how votes and fan-outs
   * follow their calls without a promise per call. `listener` must not throw.
   */
  onOutcome(listener: (outcome: NodeOutcome<S>) => void): void;
  /**
   * Calls `listener` with the node's answer whenever it comes, even after the timeout fired (late answers
   * still need cleaning up), or with `undefined` if it never answers a status (an error, or not sent).
   */
  onAnswer(listener: (answer: S | undefined) => void): void;
  /** The node's answer even after the timeout fired, as {@link onAnswer} gives it. Never rejects. */
  readonly lateAnswer: Promise<S | undefined>;
  /** Whether a command was sent: false when the node was refused at once (down, or an unusable server). */
  readonly wasSent: boolean;
}

/**
 * How late a timeout timer may fire, in milliseconds, before its calls are owed a fresh window: the larger
 * of 5 ms and a tenth of the timeout. Later than that, the event loop was blocked (a long synchronous task,
 * a GC pause, a paused VM), and a client that sends its commands on a later turn of the loop (node-redis
 * writes on `setImmediate`) may have sent them only after the block: their answers cannot have come yet.
 */
export function stallThresholdMs(timeoutMs: number): number {
  return Math.max(5, timeoutMs / 10);
}

/**
 * One deadline for the node calls that start together with the same timeout (the calls of one fan-out),
 * instead of one per node: when it passes, every call still pending times out. Calls join it
 * synchronously, right after it is created, so each one still times out `timeoutMs` after its own start.
 * It waits on the clock's one {@link DeadlineTimer}, and stops waiting once every call answered.
 *
 * A stalled event loop does not eat the calls' time: when the deadline is found passed by more than
 * {@link stallThresholdMs}, the calls still pending get one more full `timeoutMs` from then, whichever
 * client carries them (one that writes at once, like ioredis, or on a later turn, like node-redis), before
 * they time out. Validity is unaffected: it always counts the whole time from the attempt's start.
 */
export class SharedTimeout implements Due {
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** When the calls started, on `clock`: what their answers' round trips are measured from. */
  readonly startedAtMs: number;
  deadline: number;
  pendingSlot = -1;
  readonly #timer: DeadlineTimer;
  /** The pending calls, by slot; a call that answered leaves `undefined` in its slot. */
  readonly #calls: (TimedCall | undefined)[] = [];
  #pendingCount = 0;
  #hasFired = false;
  /** Whether the deadline already passed late once and gave the pending calls a fresh window. */
  #hasRenewedAfterStall = false;

  /** @param startedAtMs - When the calls start, if the caller just read the clock: it is not read again. */
  constructor(clock: Clock, timeoutMs: number, startedAtMs = clock.now()) {
    this.clock = clock;
    this.timeoutMs = timeoutMs;
    this.startedAtMs = startedAtMs;
    this.deadline = this.startedAtMs + timeoutMs;
    this.#timer = deadlineTimerOf(clock);
  }

  /** Registers a pending call, timed out (`timedOut()`) if it has not answered when the deadline passes. Returns its slot. */
  add(call: TimedCall): number {
    if (this.#pendingCount === 0 && !this.#hasFired) this.#timer.add(this);
    this.#pendingCount += 1;
    return this.#calls.push(call) - 1;
  }

  /** Marks the call in `slot` as answered; the last answer stops the wait. Returns whether it was still pending. */
  remove(slot: number): boolean {
    if (this.#calls[slot] === undefined) return false;
    this.#calls[slot] = undefined;
    this.#pendingCount -= 1;
    if (this.#pendingCount === 0 && !this.#hasFired) this.#timer.delete(this);
    return true;
  }

  expire(now: number): void {
    if (!this.#hasRenewedAfterStall && now - this.deadline > stallThresholdMs(this.timeoutMs)) {
      this.#hasRenewedAfterStall = true;
      this.deadline = now + this.timeoutMs;
      this.#timer.add(this);
      return;
    }
    this.#hasFired = true;
    // After a stalled event loop, Node runs due timers before it reads sockets: give replies that have
    // already arrived one turn of the loop to settle their calls before calling the nodes timed out.
    setImmediate(() => {
      for (const [slot, call] of this.#calls.entries()) {
        if (call === undefined) continue;
        this.#calls[slot] = undefined;
        call.timedOut();
      }
      this.#pendingCount = 0;
    });
  }
}

/** A call bounded by a {@link SharedTimeout}. */
interface TimedCall {
  /** The timeout fired before the call answered. */
  timedOut(): void;
}

/**
 * What a node call does: sends its script on `adapter` (of node `nodeIndex`) and reads the reply, as a
 * promise of the status or a {@link NodeReply}. `call` is the node call, whose `onNoScriptOf` goes to
 * `runScript`: after `NOSCRIPT` the node answered, so the call gets a fresh timeout for its EVAL.
 */
export type NodeCallRun<S extends string> = (adapter: RedisAdapter, call: RenewableCall, nodeIndex: number) => Promise<S> | NodeReply<S>;

/**
 * What a node call is, for what it skips: a `'cleanup'` (releasing what an earlier call may have written)
 * is always sent, since it follows that call on the same connection, and skips the first-contact check and
 * the round-trip measure (the call it follows measured the same connection: one clock reading fewer per
 * node for every release); a `'repeating'` call asks several times before it answers, so its answer does
 * not measure the node's round trip (see `NodeLatency`).
 */
export type NodeCallKind = 'call' | 'cleanup' | 'repeating';

/**
 * Calls one node, bounded by `timeoutMs` on `clock`. `run` sends the script and parses its reply; a
 * rejection, a synchronous throw or an unparseable reply becomes an `'error'` outcome with a
 * {@link NodeError}, a call that outlives the timeout becomes `'timeout'`. See {@link callNodeWithin}.
 */
export function callNode<S extends string>(
  node: NodeState,
  timeoutMs: number,
  clock: Clock,
  run: NodeCallRun<S>,
  operation: NodeOperation,
  kind: NodeCallKind = 'call',
): NodeCall<S> {
  return callNodeWithin(new SharedTimeout(clock, timeoutMs), node, run, operation, kind);
}

/**
 * Like {@link callNode}, bounded by a deadline shared with the other calls of a fan-out. A new call is refused
 * at once, with no command sent, when the node is down or its server unusable, unless it is a cleanup.
 * Every outcome tells the node's circuit breaker whether the node answered (in time, or late: see
 * `TimedNodeCall`), and an answer of a `'call'` tells its latency how long it took, when it wants that one (see `NodeLatency.wantsRoundTripOf`).
 * Every outcome without an answer is counted for `redlock.stats()` and published on
 * `redlock-core.node.error`, as part of `operation`.
 */
export function callNodeWithin<S extends string>(
  timeout: SharedTimeout,
  node: NodeState,
  run: NodeCallRun<S>,
  operation: NodeOperation,
  kind: NodeCallKind = 'call',
): NodeCall<S> {
  const isCleanup = kind === 'cleanup';
  const refusal = isCleanup ? undefined : node.refusalAt(timeout.clock);
  if (refusal !== undefined) {
    const refused: NodeOutcome<S> = { nodeIndex: node.index, status: 'error', error: refusal };
    recordNodeOutcome(node, operation, refused);
    return settledCall<S>(refused);
  }
  const call = new TimedNodeCall<S>(timeout, node, operation, kind === 'call');
  try {
    if (!isCleanup) call.check = node.checkServer();
    call.start(run(node.adapter, call, node.index));
  } catch (error) {
    // A faulty adapter may throw instead of rejecting: that is a failed call like any other.
    call.scriptFailed(error);
  }
  return call;
}

/**
 * One deadline per distinct node timeout for a fan-out with `ttlMs` over `keyCount` keys, rather than one
 * per node: usually every node has the same. Returns the deadline a node's call joins.
 */
export function sharedTimeoutsFor(set: NodeSet, ttlMs: number, keyCount: number, startedAtMs?: number): (node: NodeState) => SharedTimeout {
  const timeouts: SharedTimeout[] = [];
  return (node) => {
    const timeoutMs = nodeTimeoutMsFor(node, set.options, ttlMs, keyCount);
    for (const timeout of timeouts) if (timeout.timeoutMs === timeoutMs) return timeout;
    const timeout = new SharedTimeout(set.options.clock, timeoutMs, startedAtMs);
    timeouts.push(timeout);
    return timeout;
  };
}

/**
 * Calls every node in parallel, each bounded by its timeout for `ttlMs` and a call over `keyCount` keys,
 * counted from `startedAtMs` when the caller just read the clock.
 */
export function callEveryNode<S extends string>(
  set: NodeSet,
  ttlMs: number,
  keyCount: number,
  run: NodeCallRun<S>,
  operation: NodeOperation,
  startedAtMs?: number,
): NodeCall<S>[] {
  const timeoutOf = sharedTimeoutsFor(set, ttlMs, keyCount, startedAtMs);
  return set.nodes.map((node) => callNodeWithin(timeoutOf(node), node, run, operation));
}

/**
 * A {@link NodeCall} settled by the code that made it ({@link settle}), which tells its listeners at once;
 * its `outcome` and `lateAnswer` promises are made on first use, since most calls answer in time and are
 * followed by listeners only. `lateAnswer` is the script's own answer ({@link answerKnown}), not held back
 * by a server check still pending, since it tells what the script did there.
 */
class PendingNodeCall<S extends string> implements NodeCall<S> {
  readonly wasSent: boolean;
  #settled: NodeOutcome<S> | undefined;
  /** The listeners waiting for the outcome: the first two (a vote and its fan-out's own) in fields, any others in a list. */
  #listener: ((outcome: NodeOutcome<S>) => void) | undefined;
  #secondListener: ((outcome: NodeOutcome<S>) => void) | undefined;
  #listeners: ((outcome: NodeOutcome<S>) => void)[] | undefined;
  #outcome: Promise<NodeOutcome<S>> | undefined;
  /** Whether the script's answer is known: {@link #answerStatus}, or none (it failed, or nothing was sent). */
  #isAnswerKnown: boolean;
  /** The script's answer once known, `undefined` for none. */
  #answerStatus: S | undefined;
  #lateAnswer: Promise<S | undefined> | undefined;
  #resolveLateAnswer: ((answer: S | undefined) => void) | undefined;

  constructor(wasSent: boolean) {
    this.wasSent = wasSent;
    this.#isAnswerKnown = !wasSent;
  }

  /** Settles the call with `outcome` and tells every listener; later calls do nothing. */
  settle(outcome: NodeOutcome<S>): void {
    if (this.#settled !== undefined) return;
    this.#settled = outcome;
    const listener = this.#listener;
    const secondListener = this.#secondListener;
    const listeners = this.#listeners;
    this.#listener = undefined;
    this.#secondListener = undefined;
    this.#listeners = undefined;
    listener?.(outcome);
    secondListener?.(outcome);
    if (listeners !== undefined) for (const each of listeners) each(outcome);
  }

  /** Records what the script did on the node (a status, or `undefined` when it failed): what `lateAnswer` tells. */
  answerKnown(status: S | undefined): void {
    if (this.#isAnswerKnown) return;
    this.#isAnswerKnown = true;
    this.#answerStatus = status;
    this.#resolveLateAnswer?.(status);
  }

  onOutcome(listener: (outcome: NodeOutcome<S>) => void): void {
    if (this.#settled !== undefined) listener(this.#settled);
    else if (this.#listener === undefined) this.#listener = listener;
    else if (this.#secondListener === undefined) this.#secondListener = listener;
    else (this.#listeners ??= []).push(listener);
  }

  onAnswer(listener: (answer: S | undefined) => void): void {
    this.onOutcome((outcome) => {
      if (outcome.status !== 'timeout' && outcome.status !== 'error') listener(outcome.status as S);
      else void this.lateAnswer.then(listener);
    });
  }

  get outcome(): Promise<NodeOutcome<S>> {
    this.#outcome ??= new Promise((resolve) => this.onOutcome(resolve));
    return this.#outcome;
  }

  get lateAnswer(): Promise<S | undefined> {
    if (this.#lateAnswer === undefined) {
      this.#lateAnswer = this.#isAnswerKnown
        ? Promise.resolve(this.#answerStatus)
        : new Promise((resolve) => {
            this.#resolveLateAnswer = resolve;
          });
    }
    return this.#lateAnswer;
  }
}

/**
 * A call sent to a node, bounded by a {@link SharedTimeout}. Its one pair of handlers reads the reply,
 * waits for the server check of a first contact when there is one, and settles the call. Every outcome
 * tells the node's circuit breaker whether the node answered, and an answer of a `'call'`
 * (`isMeasured`) tells its latency how long it took, when it wants that one. Every outcome without an
 * answer is counted for `redlock.stats()` and published on `redlock-core.node.error`.
 *
 * Under the adaptive timeout an answer that comes after the timeout, within {@link unansweredAfterMs} of
 * the call's start, still tells the breaker the node answers: the node is slow, not gone, and that late
 * answer widens its next timeouts. A fixed timeout is the user's verdict: a later answer counts for nothing.
 */
class TimedNodeCall<S extends string> extends PendingNodeCall<S> implements TimedCall, RenewableCall {
  /** The server check of a first contact, if any: the outcome waits for it. */
  check: Promise<Error | undefined> | undefined;
  readonly #node: NodeState;
  readonly #operation: NodeOperation;
  readonly #isMeasured: boolean;
  #timeout: SharedTimeout;
  #slot: number;

  constructor(timeout: SharedTimeout, node: NodeState, operation: NodeOperation, isMeasured: boolean) {
    super(true);
    this.#timeout = timeout;
    this.#node = node;
    this.#operation = operation;
    this.#isMeasured = isMeasured;
    // A deadline on the clock's one timer rather than p-timeout, which builds an Error with a stack trace
    // for every call: half the client CPU of an acquire+release (bench/RESULTS.md). The NodeError is
    // built only if the deadline passes.
    this.#slot = timeout.add(this);
  }

  /** Follows what `run` returned: a promise of the status, or a reply to read (see {@link NodeReply}). */
  start(running: Promise<S> | NodeReply<S>): void {
    if (!('reply' in running)) return this.#follow(running);
    const { reader } = running;
    running.reply.then(
      (reply) => this.#readWith(reader, false, reply),
      (error: unknown) => this.#readWith(reader, true, error),
    );
  }

  /**
   * Reads what the adapter's promise settled with (a rejection when `isRejection`): the status at once, or
   * the promise of it that reading returned.
   */
  #readWith(reader: ReplyReader<S>, isRejection: boolean, value: unknown): void {
    let status: S | Promise<S>;
    try {
      const { adapter } = this.#node;
      status = isRejection ? reader.recover(value, adapter, this) : reader.read(value, adapter, this);
    } catch (error) {
      return this.scriptFailed(error);
    }
    if (typeof status === 'string') this.scriptAnswered(status);
    else this.#follow(status);
  }

  #follow(status: Promise<S>): void {
    status.then(
      (answer) => this.scriptAnswered(answer),
      (error: unknown) => this.scriptFailed(error),
    );
  }

  /** The script answered `status`: the call answers it, once the server check (if any) found no problem. */
  scriptAnswered(status: S): void {
    this.answerKnown(status);
    const { check } = this;
    if (check === undefined) return this.#answered(status);
    check.then(
      (problem) => {
        if (problem !== undefined) return this.#failed(problem);
        this.#node.noteAnswered();
        this.#answered(status);
      },
      (error: unknown) => this.#failed(error),
    );
  }

  /** The script failed (the adapter rejected, threw, or replied what no script can): the call fails at once. */
  scriptFailed(cause: unknown): void {
    this.answerKnown(undefined);
    this.#failed(cause);
  }

  /** The node answered `NOSCRIPT`, so it is alive: the call gets a fresh timeout for the EVAL that follows. */
  renewTimeout(): void {
    if (!this.#timeout.remove(this.#slot)) return;
    this.#timeout = new SharedTimeout(this.#timeout.clock, this.#timeout.timeoutMs);
    this.#slot = this.#timeout.add(this);
  }

  timedOut(): void {
    const node = this.#node;
    const timeout = this.#timeout;
    const now = timeout.clock.now();
    node.breaker.recordTimeout(now, node.isTimeoutAdaptive ? timeout.startedAtMs + unansweredAfterMs(timeout.timeoutMs) : now);
    node.latency.recordTimeout();
    node.noteTimedOut();
    const error = new NodeError(`Node ${node.index} did not answer within ${timeout.timeoutMs} ms`, { nodeIndex: node.index, isTimeout: true, cause: undefined });
    const timedOut: NodeOutcome<S> = { nodeIndex: node.index, status: 'timeout', error };
    recordNodeOutcome(node, this.#operation, timedOut);
    this.settle(timedOut);
  }

  #answered(status: S): void {
    const node = this.#node;
    const timeout = this.#timeout;
    if (timeout.remove(this.#slot) || (node.isTimeoutAdaptive && timeout.clock.now() - timeout.startedAtMs <= unansweredAfterMs(timeout.timeoutMs))) {
      node.breaker.recordAnswer();
    }
    // A late answer is measured too: it is how long this node takes, which its next timeout must allow.
    const { startedAtMs } = timeout;
    if (this.#isMeasured && node.latency.wantsRoundTripOf(startedAtMs)) node.latency.recordAnswer(timeout.clock.now() - startedAtMs, startedAtMs);
    this.settle({ nodeIndex: node.index, status });
  }

  #failed(cause: unknown): void {
    if (!this.#timeout.remove(this.#slot)) return;
    const node = this.#node;
    node.breaker.recordAnswer();
    const error = new NodeError(`Node ${node.index} failed: ${describeCause(cause)}`, { nodeIndex: node.index, isTimeout: false, cause });
    const failed: NodeOutcome<S> = { nodeIndex: node.index, status: 'error', error };
    recordNodeOutcome(node, this.#operation, failed);
    this.settle(failed);
  }
}

/** A call settled from the start with `outcome`, nothing sent: a node refused at once, or one with nothing to do. */
export function settledCall<S extends string>(outcome: NodeOutcome<S>): NodeCall<S> {
  const call = new PendingNodeCall<S>(false);
  call.settle(outcome);
  return call;
}

/**
 * Resolves with the outcome of every call, by node index, once all settled: one promise for the lot.
 * `calls` are by node index, as for {@link collectVotes}.
 */
export function allOutcomes<S extends string>(calls: readonly NodeCall<S>[]): Promise<NodeOutcome<S>[]> {
  const { add, settled } = outcomesOf<S>(calls.length);
  for (const call of calls) call.onOutcome(add);
  return settled;
}

/**
 * Gathers the outcomes of `count` calls as they are given to `add`, by node index; `settled` resolves with
 * them all once the last one came. For a fan-out that follows its calls with a listener of its own anyway
 * (a release), and for {@link allOutcomes}.
 */
export function outcomesOf<S extends string>(count: number): { readonly add: (outcome: NodeOutcome<S>) => void; readonly settled: Promise<NodeOutcome<S>[]> } {
  const outcomes = new Array<NodeOutcome<S>>(count);
  let pendingCount = count;
  let resolveSettled: (outcomes: NodeOutcome<S>[]) => void = () => undefined;
  const settled = new Promise<NodeOutcome<S>[]>((resolve) => {
    resolveSettled = resolve;
  });
  if (count === 0) resolveSettled(outcomes);
  const add = (outcome: NodeOutcome<S>): void => {
    outcomes[outcome.nodeIndex] = outcome;
    pendingCount -= 1;
    if (pendingCount === 0) resolveSettled(outcomes);
  };
  return { add, settled };
}

/** Describes whatever an adapter rejected with; never throws, even for objects without a prototype. */
function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  try {
    return String(cause);
  } catch {
    return Object.prototype.toString.call(cause);
  }
}

/** The result of a vote: whether a quorum said yes, and the outcomes known so far (filled in as nodes answer). */
export interface Vote<S extends string> {
  readonly hasQuorum: boolean;
  /** By node index; `undefined` for a node that had not answered when the vote was decided. */
  readonly outcomes: readonly (NodeOutcome<S> | undefined)[];
}

/**
 * Tallies the calls' outcomes as they arrive and resolves as soon as the vote is decided: with a quorum
 * the moment `quorum` nodes answered `yes` (or any of several statuses that count as yes), without one the
 * moment so many answered otherwise that a quorum is impossible, or at once when `signal` aborts. It does not wait for a slow minority, and with an even
 * node count a split still ends, because every outcome settles within its timeout. `calls` are by node
 * index (each outcome goes to `outcomes[outcome.nodeIndex]`).
 */
export function collectVotes<S extends string>(
  calls: readonly NodeCall<S>[],
  yes: NoInfer<S> | readonly NoInfer<S>[],
  quorum: number,
  signal?: AbortSignal,
): Promise<Vote<S>> {
  // Nothing the listener keeps refers to `calls`: a call still pending keeps the vote's outcomes alive, not
  // the other calls.
  const known = new Array<NodeOutcome<S> | undefined>(calls.length).fill(undefined);
  const refusalsToFail = calls.length - quorum + 1;
  let resolveVote: (vote: Vote<S>) => void = () => undefined;
  const vote = new Promise<Vote<S>>((resolve) => {
    resolveVote = resolve;
  });
  if (signal?.aborted === true) {
    resolveVote({ hasQuorum: false, outcomes: known });
    return vote;
  }
  let yesCount = 0;
  let noCount = 0;
  const onAbort = signal === undefined ? undefined : (): void => resolveVote({ hasQuorum: false, outcomes: known });
  if (onAbort !== undefined) signal?.addEventListener('abort', onAbort, { once: true });
  // One listener for every call, rather than one made per call.
  const onOutcome = (outcome: NodeOutcome<S>): void => {
    known[outcome.nodeIndex] = outcome;
    const isYes = typeof yes === 'string' ? outcome.status === yes : (yes as readonly string[]).includes(outcome.status);
    if (isYes) yesCount += 1;
    else noCount += 1;
    // resolveVote() does nothing after the first time, so later answers only fill in `known`.
    const hasQuorum = yesCount === quorum;
    if (!hasQuorum && noCount !== refusalsToFail) return;
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    resolveVote({ hasQuorum, outcomes: known });
  };
  for (const call of calls) call.onOutcome(onOutcome);
  return vote;
}
