// The outcomes of one operation's calls to the nodes, by node, as they settle, and every way to wait for them:
// one node's, all of them, all but those left out, or each as it comes. A fan-out (fan-out.ts) fills them in.
import { unlessAborted } from '../base/abort-listeners.js';
import { type NodeOutcome, outcomesOfSettledFailure } from '../base/outcomes.js';

// The outcomes of a `FanOut`'s calls by node index, and who waits for them. The fan-out settles each outcome
// once: it fills in `outcomes`, counts down `unsettledCount` and tells the listeners itself, in its `#settle`.
// (Line comments on what only the fan-out uses: the bundled declarations, in the package's size budget, skip them.)
export class NodeOutcomes<S extends string> {
  /** The outcomes by node index, filled in as the calls settle (also after the vote was decided). */
  readonly outcomes: (NodeOutcome<S> | undefined)[];
  protected unsettledCount: number;
  // The listener of every outcome (see `listen`).
  protected listener: ((outcome: NodeOutcome<S>) => void) | undefined;
  // Listeners of one node's outcome: made when someone asks (most operations read `outcomes`).
  protected nodeListeners: (((outcome: NodeOutcome<S>) => void)[] | undefined)[] | undefined;
  // Resolves `allSettled()`'s promise, once someone asked for it.
  protected onAllSettled: ((outcomes: NodeOutcome<S>[]) => void) | undefined;
  #allSettled: Promise<NodeOutcome<S>[]> | undefined;

  /** @param outcomes - One `undefined` per node: the array to fill in, a fresh copy. */
  constructor(outcomes: (NodeOutcome<S> | undefined)[]) {
    this.outcomes = outcomes;
    this.unsettledCount = outcomes.length;
  }

  /** Resolves with every outcome, by node index, once all the calls settled. */
  allSettled(): Promise<NodeOutcome<S>[]> {
    if (this.unsettledCount === 0) return Promise.resolve(this.outcomes as NodeOutcome<S>[]);
    return (this.#allSettled ??= new Promise((resolve) => (this.onAllSettled = resolve)));
  }

  /** Every outcome once all the calls settled but those `isLeftOut` marks, reported as not answered after `elapsedMs` unless settled. */
  async settledExcept(isLeftOut: readonly boolean[], elapsedMs: number): Promise<NodeOutcome<S>[]> {
    if (!isLeftOut.includes(true)) return this.allSettled();
    const waitedFor: Promise<NodeOutcome<S>>[] = [];
    for (let nodeIndex = 0; nodeIndex < this.outcomes.length; nodeIndex += 1) if (isLeftOut[nodeIndex] !== true) waitedFor.push(this.outcomeOf(nodeIndex));
    await Promise.all(waitedFor);
    return outcomesOfSettledFailure(this.outcomes, elapsedMs);
  }

  /** Tells `listener` every outcome as it settles, those settled already at once. One per fan-out; it must not throw. */
  listen(listener: (outcome: NodeOutcome<S>) => void): void {
    this.listener = listener;
    for (const outcome of this.outcomes) if (outcome !== undefined) listener(outcome);
  }

  /** Calls `listener` with node `nodeIndex`'s outcome once it settles (at once if it did). `listener` must not throw. */
  onOutcomeOf(nodeIndex: number, listener: (outcome: NodeOutcome<S>) => void): void {
    const outcome = this.outcomes[nodeIndex];
    if (outcome !== undefined) return listener(outcome);
    ((this.nodeListeners ??= [])[nodeIndex] ??= []).push(listener);
  }

  /** Node `nodeIndex`'s outcome, once it settles; never rejects. */
  outcomeOf(nodeIndex: number): Promise<NodeOutcome<S>> {
    return new Promise((resolve) => this.onOutcomeOf(nodeIndex, resolve));
  }

  /** Node `nodeIndex`'s outcome once it settles, or `undefined` as soon as `signal` aborts first; never rejects. */
  outcomeUnlessCut(nodeIndex: number, signal: AbortSignal | undefined): Promise<NodeOutcome<S> | undefined> {
    return this.outcomes[nodeIndex] !== undefined ? this.outcomeOf(nodeIndex) : unlessAborted(this.outcomeOf(nodeIndex), signal, undefined);
  }
}
