import type { CallRecord, SimNode } from './sim-node.js';

// What a client leaves on the nodes once it is done with something: the key or entry of a failed attempt,
// of a released holder, a writer's intent. A node is judged only once every call of that client carrying
// the holder's id (its token, or an intent id) was answered: whatever ran there has run, the removal too.

/**
 * What is left of a holder on one node, by the calls that carried its id there:
 * - `'in-flight'`: a call is not answered yet (or never will be: a lost message), so it may still run;
 * - `'unjudged'`: no call reached it, or one failed (the node was down): the removal may not have run;
 * - `'clean'`: every call was answered and nothing of the holder is there;
 * - `'left-behind'`: every call was answered, and the node still holds it.
 */
export type Verdict = 'in-flight' | 'unjudged' | 'clean' | 'left-behind';

/** The verdict on `node` for `holder`, from `carrying`: the calls of one client carrying its id there. */
export function verdictOn(node: SimNode, carrying: readonly CallRecord[], holder: string): Verdict {
  if (carrying.length === 0 || carrying.some((call) => call.replied?.kind === 'error')) return 'unjudged';
  if (carrying.some((call) => call.replied === undefined)) return 'in-flight';
  return node.holdsAny(holder) ? 'left-behind' : 'clean';
}

/** Something of a holder left on a node that answered every call carrying its id. */
export interface LeftBehind<K extends string = string> {
  readonly kind: K;
  readonly clientIndex: number;
  /** The token or intent id: random, so never in a trace (a replay would differ). */
  readonly holder: string;
  readonly nodeIndex: number;
  /** When it was found, in true milliseconds. */
  readonly atMs: number;
}

/**
 * Checks, whenever {@link sweep} is called, that what a client is done with leaves nothing behind: each
 * holder id given to {@link expectGone} is judged on every node (see {@link verdictOn}) until the node is
 * clean, left behind, or unjudged; a node in flight is judged again at the next sweep. A sweep can come
 * at any later moment: nothing of that holder is written after its client is done with it, so what is
 * gone stays gone (it may only expire sooner, which a sweep soon after the end sees less of).
 */
export class LeftBehindChecks<K extends string> {
  readonly #nodes: readonly SimNode[];
  readonly #calls: readonly CallRecord[];
  /** The calls carrying each expected holder's id (any `ARGV`), by client and id, indexed as the log grows. */
  readonly #carrying = new Map<string, CallRecord[]>();
  #indexedCalls = 0;
  #pending: { readonly kind: K; readonly clientIndex: number; readonly holder: string; nodes: SimNode[] }[] = [];

  constructor(nodes: readonly SimNode[], calls: readonly CallRecord[]) {
    this.#nodes = nodes;
    this.#calls = calls;
  }

  /** Client `clientIndex` is done with `holder`: nothing of it may be left where its calls were answered. */
  expectGone(kind: K, clientIndex: number, holder: string): void {
    const key = `${clientIndex} ${holder}`;
    if (!this.#carrying.has(key)) {
      const carrying = this.#calls.slice(0, this.#indexedCalls).filter((call) => call.clientIndex === clientIndex && call.args.includes(holder));
      this.#carrying.set(key, carrying);
    }
    this.#pending.push({ kind, clientIndex, holder, nodes: [...this.#nodes] });
  }

  /** Judges every node still in flight for every holder expected gone; returns what it found left now. */
  sweep(atMs: number): LeftBehind<K>[] {
    this.#index();
    const found: LeftBehind<K>[] = [];
    for (const check of this.#pending) {
      const carrying = this.#carrying.get(`${check.clientIndex} ${check.holder}`) ?? [];
      check.nodes = check.nodes.filter((node) => {
        const there = carrying.filter((call) => call.nodeIndex === node.index);
        const verdict = verdictOn(node, there, check.holder);
        if (verdict === 'left-behind') found.push({ kind: check.kind, clientIndex: check.clientIndex, holder: check.holder, nodeIndex: node.index, atMs });
        return verdict === 'in-flight';
      });
    }
    this.#pending = this.#pending.filter((check) => check.nodes.length > 0);
    return found;
  }

  /** Adds the calls logged since the last sweep to the lists of the holders expected gone. */
  #index(): void {
    for (; this.#indexedCalls < this.#calls.length; this.#indexedCalls += 1) {
      const call = this.#calls[this.#indexedCalls] as CallRecord;
      for (const arg of call.args) this.#carrying.get(`${call.clientIndex} ${arg}`)?.push(call);
    }
  }
}
