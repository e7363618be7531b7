// One call to one node, bounded by its timeout: sending the script, reading the reply, and telling the
// node's health how the call went (through `NodeState`'s call… methods). The vote over the calls is in quorum.ts.
import type { RedisAdapter } from '../base/adapter.js';
import type { Clock } from '../base/clock.js';
import type { NodeOperation } from '../base/diagnostics.js';
import type { NodeOutcome } from '../base/outcomes.js';
import type { NodeReply, RenewableCall, ReplyReader } from '../scripts/reply-reader.js';
import { nodeTimeoutMsFor } from './node-latency.js';
import type { NodeSet, NodeState } from './node-state.js';
import { SharedTimeout, type TimedCall } from './shared-timeout.js';

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
  const refused = isCleanup ? undefined : node.refuseCall<S>(timeout.clock, operation);
  if (refused !== undefined) return settledCall<S>(refused);
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
 * waits for the server check of a first contact when there is one, and settles the call. It reaches the
 * node's health only through the node's `call…` methods (see `NodeState`): how the node answered, when,
 * and whether the answer's round trip is worth measuring (`isMeasured`).
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
    const timeout = this.#timeout;
    this.settle(this.#node.callTimedOut<S>(timeout.clock, timeout.startedAtMs, timeout.timeoutMs, this.#operation));
  }

  #answered(status: S): void {
    const node = this.#node;
    const timeout = this.#timeout;
    node.callAnswered(timeout.clock, timeout.startedAtMs, timeout.timeoutMs, timeout.remove(this.#slot), this.#isMeasured);
    this.settle(node.answerOf(status));
  }

  #failed(cause: unknown): void {
    if (!this.#timeout.remove(this.#slot)) return;
    this.settle(this.#node.callFailed<S>(cause, this.#operation));
  }
}

/** A call settled from the start with `outcome`, nothing sent: a node refused at once, or one with nothing to do. */
export function settledCall<S extends string>(outcome: NodeOutcome<S>): NodeCall<S> {
  const call = new PendingNodeCall<S>(false);
  call.settle(outcome);
  return call;
}
