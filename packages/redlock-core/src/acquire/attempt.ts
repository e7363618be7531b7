import type { RedisAdapter } from '../base/adapter.js';
import { type Release, releaseAndRetry } from '../lock/cleanup.js';
import { validityMs } from '../base/clock.js';
import { Lock } from '../lock/lock.js';
import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import type { WaitSettings } from '../settings/resolve-options.js';
import { type AcquireAttempt, type AcquireNodeOutcome, type FenceNodeOutcome, outcomesAtCutOff } from '../base/outcomes.js';
import { type AttemptTraceResult } from '../base/diagnostics.js';
import { AttemptTiming, isAttemptTraced, traceAttempt } from '../base/tracing.js';
import { hasMisconfiguredNode, warnIfMisconfigured } from './misconfigured-nodes.js';
import { announceNodeIndexOf } from '../nodes/release-notifications.js';
import { FanOut } from '../nodes/fan-out.js';
import { quorumOf } from '../nodes/quorum.js';
import { acquireArgsOf, acquireScript, type AcquireStatus, canSetIfAbsent, fenceCounterOf, isPlainAcquire, parseAcquireReply, SetReader } from '../scripts/acquire.js';
import { fenceKeyOf, fenceScript, parseFenceReply } from '../scripts/fence.js';
import { onNoScriptOf, runScript, ScriptReader } from '../scripts/lua-script.js';
import { createLockToken } from '../base/token.js';

/** Whether a node refused the acquisition: the script then changed nothing there, so nothing needs removing. */
function isRefusal(status: string | undefined): boolean {
  return status === 'held' || status === 'restarting' || status === 'foreign';
}

/** One validated call of `acquire()` or `using()`. */
export interface AcquireRequest extends WaitSettings {
  readonly resources: readonly string[];
  readonly keys: readonly string[];
  readonly fencing: boolean;
  readonly reentrant: Lock | undefined;
  readonly ttlMs: number;
  readonly signal: AbortSignal | undefined;
}

/**
 * One round over the nodes: resolves with the lock, or with the failed attempt after cleaning up. With
 * `asksLeadFirst`, the lead node is asked alone first, and `'held-at-lead'` means it refused because the
 * lock is held there: nothing was set anywhere, and no other node was asked. `leadNodeIndex` is the
 * queue's lead node (`undefined` for a call that never queues): the lock remembers it, and its release
 * goes there first. A woken attempt's patient calls stop asking at `patientUntil` on the clock at the
 * latest (the caller's next timed retry, which a wake must not postpone). Traced on
 * `redlock-core.attempt` when someone listens. A node that replied with a setup mistake (see
 * `misconfigurationOf`) fails the attempt whatever the others said.
 */
export function runAttempt(
  set: NodeSet,
  request: AcquireRequest,
  attemptNumber: number,
  leadNodeIndex: number | undefined,
  asksLeadFirst: boolean,
  patientUntil = Infinity,
): Promise<Lock | AcquireAttempt | 'held-at-lead'> {
  if (!isAttemptTraced()) return attemptOnNodes(set, request, attemptNumber, leadNodeIndex, asksLeadFirst, patientUntil, undefined);
  const { nodes, options } = set;
  const timing = new AttemptTiming(options.clock);
  const start = options.clock.now();
  const traced = { resources: request.resources, attemptNumber, quorum: quorumOf(nodes.length), nodeCount: nodes.length, asksLeadFirst };
  return traceAttempt(
    traced,
    timing,
    () => attemptOnNodes(set, request, attemptNumber, leadNodeIndex, asksLeadFirst, patientUntil, timing),
    (outcome): AttemptTraceResult => {
      const elapsedMs = options.clock.now() - start;
      if (outcome === 'held-at-lead') return { outcome, elapsedMs, nodes: timing.reportOf(timing.answered, nodes.length) };
      if (outcome instanceof Lock) return { outcome: 'acquired', elapsedMs, nodes: timing.reportOf(outcome.nodes, nodes.length) };
      return { outcome: 'failed', elapsedMs, nodes: timing.reportOf(outcome.nodes, nodes.length) };
    },
  );
}

/** {@link runAttempt}, timing its node calls in `timing` when it is traced. */
async function attemptOnNodes(
  set: NodeSet,
  request: AcquireRequest,
  attemptNumber: number,
  leadNodeIndex: number | undefined,
  asksLeadFirst: boolean,
  patientUntil: number,
  timing: AttemptTiming | undefined,
): Promise<Lock | AcquireAttempt | 'held-at-lead'> {
  const { keys, ttlMs, signal } = request;
  const { options, nodes } = set;
  const { clock, driftFactor } = options;
  const token = createLockToken();
  const start = clock.now();
  const wallStart = clock.wallNow();
  /** With fencing: the counter keys, and the highest counter each granting node reported. */
  const fence = request.fencing ? { keys: keys.map(fenceKeyOf), counters: [] as number[] } : undefined;
  const scriptKeys = fence === undefined ? keys : [...keys, ...fence.keys];
  // Not async: one promise per node call fewer.
  const parseReply = fence === undefined ? parseAcquireReply : fencedReplyParser(fence.counters);
  /** Made for a woken attempt only: whether its vote is decided, which ends the patient calls' asking. */
  let vote: { isDecided: boolean } | undefined;
  const calls = new FanOut<AcquireStatus>(set, 'acquire', 'acquired');
  if (asksLeadFirst && leadNodeIndex !== undefined) {
    vote = { isDecided: false };
    const args = acquireArgsOf(token, ttlMs, options.restartGraceMs, request.fencing);
    const callOn = patientCaller(set, calls, scriptKeys, args, parseReply, ttlMs, { start, until: patientUntil }, vote, timing);
    // Waiters near different nodes than the releaser hear it on the announce node, whose release may
    // have run before the one sent to our lead node: the lead is asked patiently then (see `patientCaller`).
    callOn(leadNodeIndex, leadNodeIndex !== announceNodeIndexOf(keys, nodes.length));
    const leadStatus = (await calls.outcomeOf(leadNodeIndex)).status;
    if (leadStatus === 'held') return 'held-at-lead';
    for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) if (nodeIndex !== leadNodeIndex) callOn(nodeIndex, leadStatus === 'acquired');
  } else {
    // The usual lock (one resource, no fencing, no restart grace) is one plain SET per node where the
    // adapter can send it: a fraction of the script's cost on the node. Asking every node at once only:
    // a woken attempt's calls find the lock held more often than not, which only the script tells.
    const bySet = isPlainAcquire(options.restartGraceMs, request.fencing) && keys.length === 1 ? new SetReader(keys[0] as string, token, ttlMs) : undefined;
    let byScript: ScriptReader<AcquireStatus> | undefined;
    for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) {
      const node = nodes[nodeIndex] as NodeState;
      const reader =
        bySet !== undefined && canSetIfAbsent(node.adapter)
          ? bySet
          : (byScript ??= new ScriptReader(acquireScript, scriptKeys, acquireArgsOf(token, ttlMs, options.restartGraceMs, request.fencing), parseReply));
      calls.send(nodeIndex, nodeTimeoutMsFor(node, options, ttlMs, scriptKeys.length), reader, 'call', start);
    }
    if (timing !== undefined) for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) timing.watch(nodeIndex, calls.outcomeOf(nodeIndex));
  }
  // The Redlock's own signal (a call without a signal or `waitMs` of its own) never cuts a vote short:
  // `close()` rejects the call at once through its guard, which releases whatever this attempt wins, so
  // the vote need not listen to it: one abort listener less to add and remove per attempt.
  const cutSignal = signal === set.lifecycle.signal ? undefined : signal;
  const hasQuorum = await calls.decided(cutSignal);
  if (vote !== undefined) vote.isDecided = true;
  // Cut off by the signal (`waitMs` or the caller's): the attempt reports the answers known at that
  // moment, since later ones did not count, and the nodes still silent as timed out.
  const cutOffAt = !hasQuorum && cutSignal?.aborted === true ? { outcomes: [...calls.outcomes], elapsedMs: clock.now() - start } : undefined;
  // The granting quorum intersects the quorum that stored every earlier token, so one above the highest
  // counter it reported is above all of them.
  const fencingToken = hasQuorum && fence !== undefined ? Math.max(...fence.counters) + 1 : undefined;
  const fenceNodes = fencingToken === undefined || fence === undefined ? undefined : await storeFencingToken(set, fencingToken, fence.keys, ttlMs, cutSignal);
  const elapsedMs = clock.now() - start;
  const validity = validityMs({ ttlMs, elapsedMs, driftFactor });
  // Two nodes found to be one server: no lock, whatever the vote; the caller rejects with the error.
  const isMisconfigured = set.servers.configurationError !== undefined;

  if (hasQuorum && fenceNodes === undefined && validity > 0 && !isMisconfigured && !hasMisconfiguredNode(calls.outcomes)) {
    const written = new Array<boolean>(nodes.length);
    for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) written[nodeIndex] = calls.wasSent(nodeIndex);
    const lock = new Lock({
      set: set,
      resources: request.resources,
      keys,
      token,
      attempts: attemptNumber,
      fencingToken,
      ttlMs,
      // Validity is what is left now, at the decision: it runs from here, not from the start.
      validUntil: start + elapsedMs + validity,
      keysExpireAt: start + ttlMs,
      expiresAt: Math.floor(wallStart + elapsedMs + validity),
      written,
      leadNodeIndex,
      // A copy: the fan-out keeps filling in its own array as the other nodes answer.
      nodes: [...calls.outcomes],
    });
    watchLateGrants(lock, calls, lock.nodes, request.resources, nodes);
    return lock;
  }

  // No announcement: waiters blocked by a failed attempt retry on their timer, which keeps clients that
  // split the nodes between them from waking each other in lockstep.
  await cleanUp(set, calls, { keys, token, ttlMs, keysExpireAt: start + ttlMs, announce: false });
  if (cutOffAt !== undefined) return { nodes: outcomesAtCutOff(cutOffAt.outcomes, cutOffAt.elapsedMs), elapsedMs: cutOffAt.elapsedMs, isCutOff: true };
  const outcomes = await calls.allSettled();
  return fenceNodes === undefined ? { nodes: outcomes, elapsedMs } : { nodes: outcomes, fenceNodes, elapsedMs };
}

/**
 * Removes a failed attempt's keys from every node that may hold them, before the next attempt: all but
 * those that refused. Nodes still running the acquire script are released as soon as they answer. A
 * module function, so that the attempt's own variables need no closure on its usual path.
 */
async function cleanUp(set: NodeSet, calls: FanOut<AcquireStatus>, cleanup: Release): Promise<void> {
  const cleanups = set.nodes.map((_, nodeIndex) =>
    calls.outcomeOf(nodeIndex).then(async (outcome) => {
      if (isRefusal(outcome.status) || !calls.wasSent(nodeIndex)) return;
      if (outcome.status === 'timeout') {
        // The script may still run after the timeout; release again if it reports that it did.
        void calls.lateAnswerOf(nodeIndex).then((answer) => {
          if (answer === 'acquired') void releaseAndRetry(set, nodeIndex, cleanup);
        });
      }
      await releaseAndRetry(set, nodeIndex, cleanup);
    }),
  );
  await Promise.all(cleanups);
}

/**
 * How a woken attempt calls one node (see `runAttempt`'s `asksLeadFirst`): the acquire script, which tells
 * a lock held from a free one, and with `isPatient` asked again while the node still holds the previous
 * owner's key. A module function, made only for woken attempts: the usual attempt asks every node at once.
 */
function patientCaller(
  set: NodeSet,
  calls: FanOut<AcquireStatus>,
  scriptKeys: readonly string[],
  args: readonly string[],
  parseReply: (reply: unknown) => AcquireStatus,
  ttlMs: number,
  patience: { readonly start: number; readonly until: number },
  vote: { readonly isDecided: boolean },
  timing: AttemptTiming | undefined,
): (nodeIndex: number, isPatient: boolean) => void {
  const { nodes, options } = set;
  const { clock } = options;
  const acquireOn = (adapter: RedisAdapter, onNoScript: () => void): Promise<AcquireStatus> =>
    runScript(adapter, acquireScript, scriptKeys, args, onNoScript, parseReply);
  return (nodeIndex, isPatient) => {
    const node = nodes[nodeIndex] as NodeState;
    const timeoutMs = nodeTimeoutMsFor(node, options, ttlMs, scriptKeys.length);
    calls.send(nodeIndex, timeoutMs, async (adapter, call) => {
      const onNoScript = onNoScriptOf(call, nodeIndex);
      // A node may still be running the previous owner's release, sent with the one that woke us (on the
      // lead node, or on the announce node): ask it again, every millisecond, for up to half its timeout
      // or until the vote is decided or the caller's timed retry is due. The script grants a key that
      // already holds our token, so asking again is safe.
      for (;;) {
        const status = await acquireOn(adapter, onNoScript);
        const now = clock.now();
        if (status !== 'held' || !isPatient || vote.isDecided || now - patience.start >= timeoutMs / 2 || now >= patience.until) return status;
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 1));
      }
    }, isPatient ? 'repeating' : 'call');
    timing?.watch(nodeIndex, calls.outcomeOf(nodeIndex));
  };
}

/**
 * A node that had not answered when `lock` was granted may still set our keys later (see
 * `Lock.removeLateGrant`); one that answers with a setup mistake is reported once. One listener on the
 * fan-out for every node (the outcomes known at the decision, `known`, are replayed to it at once). A
 * module function, so that what a call still waiting for a far node keeps alive is its listener, the lock
 * and the resources: not the attempt's variables (see bench/scripts/far-node-retention.mjs).
 */
function watchLateGrants(
  lock: Lock,
  calls: FanOut<AcquireStatus>,
  known: readonly (AcquireNodeOutcome | undefined)[],
  resources: readonly string[],
  nodes: readonly NodeState[],
): void {
  // Every node answered by the decision, none with a timeout or an error: nothing can come later.
  if (isEveryAnswerIn(known)) return;
  calls.listen((outcome) => {
    const { nodeIndex, status } = outcome;
    const isLate = known[nodeIndex] === undefined;
    if (status === 'acquired') {
      // Granted at the decision, the lock holds it; granted since, it is a late grant.
      if (isLate) lock.removeLateGrant(nodeIndex);
      return;
    }
    if (!isLate && (isRefusal(status) || !calls.wasSent(nodeIndex))) return;
    if (status === 'timeout' || status === 'error') {
      void calls.lateAnswerOf(nodeIndex).then((answer) => {
        if (answer === 'acquired') lock.removeLateGrant(nodeIndex);
      });
    }
    // A setup mistake that a node reveals only after the quorum granted cannot fail this call any more:
    // the lock stands on the nodes that granted it, and the mistake is reported once per node.
    if (isLate) warnIfMisconfigured(resources, nodes[nodeIndex] as NodeState, outcome);
  });
}

/** Whether every node's outcome is known and is an answer (no timeout, no error, none still pending). */
function isEveryAnswerIn(outcomes: readonly (AcquireNodeOutcome | undefined)[]): boolean {
  for (const outcome of outcomes) if (outcome === undefined || outcome.status === 'timeout' || outcome.status === 'error') return false;
  return true;
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
 * The second phase of fencing: stores the token on every node, so that it is ours once a quorum did.
 * Resolves with `undefined` then, else with every node's outcome. A node whose counter key holds
 * something else refuses (`'foreign'`) and counts against the quorum.
 */
async function storeFencingToken(
  set: NodeSet,
  fencingToken: number,
  fenceKeys: readonly string[],
  ttlMs: number,
  signal: AbortSignal | undefined,
): Promise<FenceNodeOutcome[] | undefined> {
  const calls = new FanOut<'fenced' | 'foreign'>(set, 'fence', 'fenced').sendToEveryNode(ttlMs, fenceKeys.length, async (adapter, call, nodeIndex) =>
    parseFenceReply(await runScript(adapter, fenceScript, fenceKeys, [String(fencingToken)], onNoScriptOf(call, nodeIndex))),
  );
  return (await calls.decided(signal)) ? undefined : calls.allSettled();
}

/**
 * How many of the latest failed attempts an {@link AttemptLog} keeps, besides the first: with the default
 * `retryCount` (10), every attempt is kept.
 */
export const KEPT_LATEST_ATTEMPTS = 10;

/**
 * The failed attempts of one call, in bounded memory however long it waits: the first, the latest
 * {@link KEPT_LATEST_ATTEMPTS}, and a count of all. A call that retries for an hour makes tens of
 * thousands of attempts (about 380 bytes each); what a caller needs from them is how it began and how it
 * ended.
 */
export class AttemptLog {
  /** How many attempts were added, kept or not. */
  count = 0;
  #first: AcquireAttempt | undefined;
  /** The latest attempts after the first, oldest first; made with the second attempt (most calls make one). */
  #latest: AcquireAttempt[] | undefined;
  #lastDecided: AcquireAttempt | undefined;

  add(attempt: AcquireAttempt): void {
    this.count += 1;
    if (attempt.isCutOff !== true) this.#lastDecided = attempt;
    if (this.#first === undefined) {
      this.#first = attempt;
      return;
    }
    const latest = (this.#latest ??= []);
    latest.push(attempt);
    if (latest.length > KEPT_LATEST_ATTEMPTS) latest.shift();
  }

  /** The latest attempt added, if any. */
  get last(): AcquireAttempt | undefined {
    return this.#latest?.at(-1) ?? this.#first;
  }

  /** The latest attempt added that was not cut off (see {@link AcquireAttempt.isCutOff}), kept or not. */
  get lastDecided(): AcquireAttempt | undefined {
    return this.#lastDecided;
  }

  /** The kept attempts, in order: the first, then the latest. */
  kept(): AcquireAttempt[] {
    return this.#first === undefined ? [] : [this.#first, ...(this.#latest ?? [])];
  }
}
