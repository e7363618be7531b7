// How many nodes must agree, and the vote that counts their answers as they come (from a fan-out, fan-out.ts).
import { unlessAborted } from '../base/abort-listeners.js';

/** The number of nodes that must agree: a strict majority, ⌊n/2⌋+1. */
export function quorumOf(nodeCount: number): number {
  return Math.floor(nodeCount / 2) + 1;
}

/**
 * The vote over the outcomes of one operation's calls to `nodeCount` nodes: decided the moment a quorum
 * answered a status that counts as yes, or so many answered otherwise that a quorum is impossible. It
 * never waits for a slow minority, and with an even node count a split still ends, as every call settles
 * within its timeout.
 */
export class Vote<S extends string> {
  /** Whether the vote is decided: a quorum said yes ({@link hasQuorum}), or none can. */
  isDecided = false;
  hasQuorum = false;
  /** The status that counts as yes, and a second one where two do (a release's `'released'` and `'not-held'`). */
  readonly #yes: S;
  readonly #alsoYes: S | undefined;
  readonly #quorum: number;
  /** How many `no`s make a quorum impossible. */
  readonly #noToFail: number;
  #yesCount = 0;
  #noCount = 0;
  #onDecided: ((hasQuorum: boolean) => void) | undefined;
  #decided: Promise<boolean> | undefined;

  /** @param yes - The status, or the two statuses, that count as yes. */
  constructor(nodeCount: number, yes: S | readonly [S, S]) {
    this.#yes = typeof yes === 'string' ? yes : yes[0];
    this.#alsoYes = typeof yes === 'string' ? undefined : yes[1];
    this.#quorum = quorumOf(nodeCount);
    this.#noToFail = nodeCount - this.#quorum + 1;
  }

  /** Counts one node's outcome; after the decision, counts nothing. */
  count(status: string): void {
    if (this.isDecided) return;
    if (status === this.#yes || status === this.#alsoYes) this.#yesCount += 1;
    else this.#noCount += 1;
    const hasQuorum = this.#yesCount === this.#quorum;
    if (!hasQuorum && this.#noCount !== this.#noToFail) return;
    this.isDecided = true;
    this.hasQuorum = hasQuorum;
    const onDecided = this.#onDecided;
    // Dropped: a fan-out still waiting for a far node keeps its vote alive, not the vote's promise.
    this.#onDecided = undefined;
    this.#decided = undefined;
    onDecided?.(hasQuorum);
  }

  /** Resolves once the vote is decided, with whether a quorum said yes; with `false` at once when `signal` aborts first. */
  decided(signal?: AbortSignal): Promise<boolean> {
    if (this.isDecided) return Promise.resolve(this.hasQuorum);
    const decided = (this.#decided ??= new Promise((resolve) => (this.#onDecided = resolve)));
    return unlessAborted(decided, signal, false);
  }
}
