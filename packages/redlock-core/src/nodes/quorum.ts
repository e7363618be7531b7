// The vote: how many nodes must agree, and the tally of the node calls' outcomes as they come. It only
// counts; how a call reaches its node and its node's health is in node-call.ts.
import type { NodeOutcome } from '../base/outcomes.js';
import type { NodeCall } from './node-call.js';

/** The number of nodes that must agree: a strict majority, ⌊n/2⌋+1. */
export function quorumOf(nodeCount: number): number {
  return Math.floor(nodeCount / 2) + 1;
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
