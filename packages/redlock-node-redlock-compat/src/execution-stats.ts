// The votes of one attempt, as node-redlock reports them: the clients that voted for the operation, and
// the error of each that voted against, made from the per-node outcomes redlock-core reports.
import type { NodeError, NodeOutcome, PendingNodeOutcome } from 'redlock-core';
import { ResourceLockedError } from './errors.js';
import type { Client, ExecutionStats } from './types.js';

/**
 * The votes in `outcomes` (by node index, as the core reports them; `undefined` for a node whose answer is
 * not known) of an operation whose yes is `yes`, over `resourceCount` resources. A node that answered
 * anything else voted against with a {@link ResourceLockedError}, as node-redlock's scripts, which apply to
 * every resource or none, report it; a node that failed, with the client's error when `isClientErrors`
 * (node-redlock's vote), else with its `NodeError`; a node that timed out, with its `NodeError`. The errors
 * are made at once (they are emitted as events); the sets of {@link ExecutionStats} when someone reads them.
 */
export class Votes {
  /** The error of each client that voted against; `undefined` when none did, as usual. */
  readonly against: Map<Client, Error> | undefined;
  readonly #clients: readonly Client[];
  readonly #outcomes: readonly (NodeOutcome<string> | PendingNodeOutcome | undefined)[];
  readonly #yes: string;

  constructor(clients: readonly Client[], outcomes: readonly (NodeOutcome<string> | PendingNodeOutcome | undefined)[], yes: string, resourceCount: number, isClientErrors: boolean) {
    this.#clients = clients;
    this.#outcomes = outcomes;
    this.#yes = yes;
    let against: Map<Client, Error> | undefined;
    for (const outcome of outcomes) {
      if (outcome === undefined || outcome.status === yes || outcome.status === 'pending' || hasNotVoted(outcome)) continue;
      const error =
        outcome.status === 'error' || outcome.status === 'timeout'
          ? voteOf((outcome as Extract<typeof outcome, { error: NodeError }>).error, isClientErrors)
          : new ResourceLockedError(`The operation was applied to: 0 of the ${resourceCount} requested resources.`);
      (against ??= new Map()).set(clients[outcome.nodeIndex] as Client, error);
    }
    this.against = against;
  }

  /** How many clients voted for. */
  get forCount(): number {
    let count = 0;
    for (const outcome of this.#outcomes) if (outcome?.status === this.#yes) count += 1;
    return count;
  }

  /** The votes as node-redlock reports them. */
  stats(): ExecutionStats {
    const votesFor = new Set<Client>();
    for (const outcome of this.#outcomes) if (outcome?.status === this.#yes) votesFor.add(this.#clients[outcome.nodeIndex] as Client);
    const clientCount = this.#clients.length;
    return { membershipSize: clientCount, quorumSize: Math.floor(clientCount / 2) + 1, votesFor, votesAgainst: new Map(this.against) };
  }
}

/**
 * The vote against of a node that failed or timed out with `error`: with `isClientErrors`, the client's own
 * error, its `cause` (node-redlock's vote: the error the client rejected with); else, and for a node with no
 * error of the client's (timed out, left alone as silent, refused), the `NodeError`.
 */
function voteOf(error: NodeError, isClientErrors: boolean): Error {
  return isClientErrors && error.cause instanceof Error ? error.cause : error;
}

/**
 * Whether the core reports a node that gave no answer the attempt counted, without failing or timing out:
 * not asked (a cut-off attempt), or not answered yet when a single try ended (a `'timeout'` whose
 * `NodeError` has `isTimeout` false). Like an unknown answer, it is no vote.
 */
function hasNotVoted(outcome: NodeOutcome<string>): boolean {
  return outcome.status === 'timeout' && 'error' in outcome && !(outcome as Extract<typeof outcome, { error: unknown }>).error.isTimeout;
}

/**
 * How many of the latest failed attempts an `ExecutionError` keeps besides the first, as the core's
 * `LockAcquireError` keeps them: with node-redlock's default `retryCount` (10), every attempt.
 */
const KEPT_LATEST_ATTEMPTS = 10;

/** The first of `attempts` and the latest {@link KEPT_LATEST_ATTEMPTS}: what a failed call reports, in bounded memory however long it retried. */
export function keptAttempts(attempts: readonly Votes[]): readonly Votes[] {
  return attempts.length <= KEPT_LATEST_ATTEMPTS + 1 ? attempts : [attempts[0] as Votes, ...attempts.slice(-KEPT_LATEST_ATTEMPTS)];
}

/** The attempts of `votes`, each a promise of its stats, as node-redlock hands them out. */
export function attemptsOf(votes: readonly Votes[]): ReadonlyArray<Promise<ExecutionStats>> {
  return votes.map((vote) => Promise.resolve(vote.stats()));
}
