// node-redlock 5's types of clients and votes.
import type { Cluster, Redis } from 'ioredis';

/** A node-redlock client: an ioredis `Redis` (one independent node) or `Cluster`. */
export type Client = Redis | Cluster;

/** The votes of one attempt, by client, once every node answered or timed out. */
export interface ExecutionStats {
  /** How many clients (nodes) the `Redlock` has. */
  readonly membershipSize: number;
  /** How many must vote for: ⌊membershipSize / 2⌋ + 1. */
  readonly quorumSize: number;
  /** The clients whose node did what was asked on every resource. */
  readonly votesFor: Set<Client>;
  /**
   * The clients whose node did not, with why: a `ResourceLockedError`; for a node that failed, the client's
   * error, as node-redlock (or with the setting `errors: 'redlock-core'`, the core's `NodeError`, whose
   * `cause` is the client's error); for a node that timed out, the core's `NodeError`.
   */
  readonly votesAgainst: Map<Client, Error>;
}

/** What `release()` resolves with: the votes of its attempt. */
export interface ExecutionResult {
  /** The votes of each attempt (one for a release). Not read-only, as node-redlock declares it. */
  attempts: ReadonlyArray<Promise<ExecutionStats>>;
}

/** One client's vote, as node-redlock 5's types declare it. */
export type ClientExecutionResult =
  | {
      /** The client whose node voted. */
      readonly client: Client;
      /** It did what was asked on every resource. */
      readonly vote: 'for';
      /** How many resources it applied to: all of them. */
      readonly value: number;
    }
  | {
      /** The client whose node voted. */
      readonly client: Client;
      /** It did not. */
      readonly vote: 'against';
      /** Why: a `ResourceLockedError`, the client's error, or the node's timeout (see {@link ExecutionStats.votesAgainst}). */
      readonly error: Error;
    };
