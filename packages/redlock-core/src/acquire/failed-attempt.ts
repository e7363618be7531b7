// How an attempt that won no hold ends, written once for every kind of hold (a lock, a semaphore's permits, a
// read-write lock): what it wrote is removed, and it reports its nodes' outcomes as soon as they tell why it failed.
import { type NodeOutcome, outcomesAtCutOff, outcomesOfSettledFailure } from '../base/outcomes.js';
import { type Release, releaseAndRetry } from '../lock/release.js';
import type { FanOut } from '../nodes/fan-out.js';
import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { warnIfMisconfigured } from './misconfigured-nodes.js';
import { isSettledByRefusals } from './verdict.js';

/** An attempt cut off by its signal: the answers known at that moment, and the time it had taken. */
export interface CutOff<S extends string> {
  readonly outcomes: readonly (NodeOutcome<S> | undefined)[];
  readonly elapsedMs: number;
}

/** What a kind of hold's nodes answer, as its attempt reads them. */
export interface AnswerRules<S extends string> {
  /** The answer with which a node took the request: what a failed attempt leaves there to remove. */
  readonly granted: S;
  /** Whether a node refused the request: nothing of the attempt's token was written there. */
  isRefusal(status: string): boolean;
  /** Whether a node refused because others hold the resource there: a woken attempt stops at the node that woke it then (see also `isSettledByRefusals`). */
  isTakenThere(status: string): boolean;
}

/** An attempt whose vote failed, or whose hold was refused, as {@link endFailedAttempt} reads it. */
export interface AttemptToEnd<S extends string> extends AnswerRules<S> {
  /** Its rounds of calls, the last one voted on: a lock's one, a claim's two where a second round ran. */
  readonly rounds: readonly FanOut<S>[];
  readonly resources: readonly string[];
  /** What frees its writes on one node, unannounced: nobody waits for them. */
  readonly cleanup: Release;
  /** Told the answer a node gives after its call timed out, or after the attempt ended without it. */
  readonly onLateAnswer?: ((nodeIndex: number, answer: string | undefined) => void) | undefined;
  /** The time it took, up to its decision. */
  readonly elapsedMs: number;
  /** Set when the call's signal cut the vote short: the later answers did not count. */
  readonly cutOff: CutOff<S> | undefined;
  /** A single try whose vote failed: no attempt follows that its keys could refuse. */
  readonly isSingleTry: boolean;
}

/**
 * Removes what a failed attempt wrote, on every node that may hold it (all but those that refused every
 * round), and resolves with the attempt's outcomes once the nodes that answered are clean. A release after a
 * timeout is not waited for: it would likely time out too, and it goes out on the node's connection after the
 * request it cleans up and before any later attempt's. Not waited for either, and released once they report
 * a grant, time out or fail (`close()` waits, within its bound): the nodes `FanOut.isLeftOutOfFailure` leaves
 * out (waiting held a waiter, and its listening, up to a second), and for a single try those still silent
 * once the refusals settle why it failed, reported as not answered yet; a setup mistake one of them reveals
 * later is warned of, since it can no longer fail the call. A cut-off attempt reports the answers known at the cut.
 */
export async function endFailedAttempt<S extends string>(set: NodeSet, failed: AttemptToEnd<S>): Promise<{ nodes: NodeOutcome<S>[]; elapsedMs: number; isCutOff?: true }> {
  const { rounds, cutOff, elapsedMs } = failed;
  const last = rounds[rounds.length - 1] as FanOut<S>;
  const quorum = quorumOf(set.nodes.length);
  const reportsOnceSettled = failed.isSingleTry && cutOff === undefined;
  if (reportsOnceSettled) await failureSettled(last, quorum, failed.isTakenThere);
  const known = reportsOnceSettled ? last.outcomes.slice() : undefined;
  const isSettled = cutOff === undefined && isSettledByRefusals(last.outcomes, quorum, failed.isTakenThere);
  // Loops with `push()`, not `map()` or `filter()`, for the arrays that other functions read: once V8 optimizes
  // a function, its inlined `map()` makes holey arrays where the interpreter made packed ones, and each function
  // reading them was compiled again (bench/RESULTS.md, History, 2026-11-30, "compiled again").
  const isLeftOut: boolean[] = [];
  const cleanups: (Promise<void> | undefined)[] = [];
  for (let nodeIndex = 0; nodeIndex < set.nodes.length; nodeIndex += 1) {
    const leftOut = known !== undefined ? known[nodeIndex] === undefined : rounds.some((calls) => calls.isLeftOutOfFailure(nodeIndex, isSettled));
    isLeftOut.push(leftOut);
    cleanups.push(cleanUpNode(set, failed, nodeIndex, leftOut));
  }
  if (isLeftOut.includes(true)) set.lifecycle.track(Promise.all(cleanups));
  for (let nodeIndex = 0; known !== undefined && nodeIndex < known.length; nodeIndex += 1) {
    if (isLeftOut[nodeIndex] === true) last.onOutcomeOf(nodeIndex, (outcome) => warnIfMisconfigured(failed.resources, set.nodes[nodeIndex] as NodeState, outcome, 'refused'));
  }
  await Promise.all(cleanups.filter((_, nodeIndex) => isLeftOut[nodeIndex] !== true));
  if (known !== undefined) return { nodes: outcomesOfSettledFailure(known, elapsedMs), elapsedMs };
  if (cutOff !== undefined) return { nodes: outcomesAtCutOff(cutOff.outcomes, cutOff.elapsedMs, last), elapsedMs: cutOff.elapsedMs, isCutOff: true };
  return { nodes: await last.settledExcept(isLeftOut, elapsedMs), elapsedMs };
}

/** Removes a failed attempt's writes on node `nodeIndex`: settles once done or, where it is not waited for, sent. */
function cleanUpNode<S extends string>(set: NodeSet, failed: AttemptToEnd<S>, nodeIndex: number, isLeftOut: boolean): Promise<void> | undefined {
  const { cleanup, granted, onLateAnswer } = failed;
  const releaseAtGrant = (calls: FanOut<S>): void =>
    void calls.lateAnswerOf(nodeIndex).then((answer) => {
      if (answer === granted) void releaseAndRetry(set, nodeIndex, cleanup);
      onLateAnswer?.(nodeIndex, answer);
    });
  // A node not asked when the attempt ended (cut off while the node that woke it had not answered) never will be.
  const sent: FanOut<S>[] = [];
  for (const calls of failed.rounds) if (calls.wasSent(nodeIndex)) sent.push(calls);
  if (sent.length === 0) return undefined;
  if (isLeftOut) for (const calls of sent) releaseAtGrant(calls);
  const outcomes = Promise.all(sent.map((calls) => calls.outcomeOf(nodeIndex)));
  if (isLeftOut) {
    // Its reply may be lost while the script ran: released at its timeout or failure too, as below.
    return outcomes.then((settled) => {
      if (settled.some(({ status }) => status === 'timeout' || status === 'error')) void releaseAndRetry(set, nodeIndex, cleanup);
    });
  }
  return outcomes.then(async (settled) => {
    if (settled.every(({ status }) => failed.isRefusal(status))) return;
    // The script may still run after the timeout; release again if it reports that it did.
    const timedOut = sent.filter((calls) => calls.outcomes[nodeIndex]?.status === 'timeout');
    for (const calls of timedOut) releaseAtGrant(calls);
    if (timedOut.length > 0) void releaseAndRetry(set, nodeIndex, cleanup);
    else await releaseAndRetry(set, nodeIndex, cleanup, true);
  });
}

/**
 * Resolves once the refusals known of a failed vote settle why it failed (see `isSettledByRefusals`), or every
 * node answered or timed out but the probes the vote did without (a paused node's held the grants up to a second).
 */
function failureSettled<S extends string>(calls: FanOut<S>, quorum: number, isTakenThere: (status: string) => boolean): Promise<unknown> | undefined {
  const isSettled = (): boolean => isSettledByRefusals(calls.outcomes, quorum, isTakenThere) || calls.hasOnlyVotedProbesPending();
  if (isSettled()) return undefined;
  return Promise.race([
    calls.allSettled(),
    new Promise<void>((resolve) => {
      const onOutcome = (): void => {
        if (isSettled()) resolve();
      };
      for (let nodeIndex = 0; nodeIndex < calls.outcomes.length; nodeIndex += 1) if (calls.outcomes[nodeIndex] === undefined) calls.onOutcomeOf(nodeIndex, onOutcome);
    }),
  ]);
}
