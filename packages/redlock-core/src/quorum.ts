import type { RedisAdapter } from './adapter.js';
import type { Clock } from './clock.js';
import { NodeError } from './errors.js';
import type { NodeOutcome } from './outcomes.js';

/** The number of nodes that must agree: a strict majority, ⌊n/2⌋+1. */
export function quorumOf(nodeCount: number): number {
  return Math.floor(nodeCount / 2) + 1;
}

/** One call to one node: its outcome within the timeout, and its answer whenever it comes. */
export interface NodeCall<S extends string> {
  /** Settles within the node's timeout and never rejects. */
  readonly outcome: Promise<NodeOutcome<S>>;
  /** The node's answer even after the timeout fired: late answers still need cleaning up. Never rejects. */
  readonly lateAnswer: Promise<S | undefined>;
}

/**
 * Calls one node, bounded by `timeoutMs` on `clock`. `run` sends the script and parses its reply; a
 * rejection, a synchronous throw or an unparseable reply becomes an `'error'` outcome with a
 * {@link NodeError}, a call that outlives the timeout becomes `'timeout'`.
 */
export function callNode<S extends string>(
  adapter: RedisAdapter,
  nodeIndex: number,
  timeoutMs: number,
  clock: Clock,
  run: (adapter: RedisAdapter) => Promise<S>,
): NodeCall<S> {
  // An async wrapper turns a synchronous throw from a faulty adapter into a rejection.
  const answer = (async () => run(adapter))();
  // A plain timer rather than p-timeout, which builds an Error with a stack trace for every call: half the
  // client CPU of an acquire+release (bench/RESULTS.md). The NodeError is built only if the timer fires.
  const outcome = new Promise<NodeOutcome<S>>((resolve) => {
    const timer = clock.setTimeout(() => {
      // After a stalled event loop, Node runs due timers before it reads sockets: give replies that have
      // already arrived one turn of the loop to settle the call before calling the node timed out.
      setImmediate(() => {
        const error = new NodeError(`Node ${nodeIndex} did not answer within ${timeoutMs} ms`, { nodeIndex, isTimeout: true, cause: undefined });
        resolve({ nodeIndex, status: 'timeout', error });
      });
    }, timeoutMs);
    answer.then(
      (status) => {
        clock.clearTimeout(timer);
        resolve({ nodeIndex, status });
      },
      (cause: unknown) => {
        clock.clearTimeout(timer);
        const error = new NodeError(`Node ${nodeIndex} failed: ${describeCause(cause)}`, { nodeIndex, isTimeout: false, cause });
        resolve({ nodeIndex, status: 'error', error });
      },
    );
  });
  return { outcome, lateAnswer: answer.catch(() => undefined) };
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
 * Tallies outcomes as they arrive and resolves as soon as the vote is decided: with a quorum the moment
 * `quorum` nodes answered `yes` (or any of several statuses that count as yes), without one the moment so many answered otherwise that a quorum is
 * impossible, or at once when `signal` aborts. It does not wait for a slow minority, and with an even
 * node count a split still ends, because every outcome settles within its timeout.
 */
export function collectVotes<S extends string>(
  outcomes: readonly Promise<NodeOutcome<S>>[],
  yes: S | readonly S[],
  quorum: number,
  signal?: AbortSignal,
): Promise<Vote<S>> {
  const isYes = typeof yes === 'string' ? (status: string) => status === yes : (status: string) => (yes as readonly string[]).includes(status);
  const known: (NodeOutcome<S> | undefined)[] = outcomes.map(() => undefined);
  return new Promise((resolve) => {
    let yesCount = 0;
    let noCount = 0;
    const decide = (hasQuorum: boolean): void => {
      signal?.removeEventListener('abort', onAbort);
      resolve({ hasQuorum, outcomes: known });
    };
    const onAbort = (): void => decide(false);
    if (signal?.aborted) return decide(false);
    signal?.addEventListener('abort', onAbort, { once: true });
    outcomes.forEach((pending, index) => {
      void pending.then((outcome) => {
        known[index] = outcome;
        if (isYes(outcome.status)) yesCount += 1;
        else noCount += 1;
        // resolve() ignores every call after the first, so later answers only fill in `known`.
        if (yesCount === quorum) decide(true);
        else if (noCount === outcomes.length - quorum + 1) decide(false);
      });
    });
  });
}
