import { longestNodeTimeoutMs } from '../nodes/node-latency.js';
import type { NodeSet } from '../nodes/node-state.js';
import { wakeTicketOf } from '../scripts/wake-queue.js';
import type { RetrySettings } from '../settings/resolve-options.js';

/** The shortest lease of a fair waiter, in milliseconds (see {@link fairLeaseMsOf}). */
export const MIN_FAIR_LEASE_MS = 1_000;

/**
 * How long a fair waiter stays live on a node after its latest attempt there, in milliseconds: twice its longest
 * pause between timed retries, plus a node timeout, at least {@link MIN_FAIR_LEASE_MS}. A waiter makes a timed
 * attempt at least that often however many wakes it gets, so one whose lease ran out has missed two: its
 * process is paused or gone without closing its connections (one that exits is skipped at once: its channel
 * loses its subscriber), and the waiters behind it go on. 1 s at the defaults (200 ± 100 ms), where Redisson's
 * fair lock waits 5 s for a thread that does not ask again: a waiter here asks every 300 ms at most, and one
 * that was skipped takes its place back at its next attempt.
 */
export function fairLeaseMsOf(set: NodeSet, request: RetrySettings & { readonly ttlMs: number; readonly keys: readonly string[] }): number {
  const pauseMs = request.retryDelayMs + request.retryJitterMs;
  return Math.max(MIN_FAIR_LEASE_MS, Math.ceil(2 * pauseMs + longestNodeTimeoutMs(set.nodes, set.options, request.ttlMs, request.keys.length)));
}

/**
 * A waiting call's ticket in the nodes' wait queues (see scripts/wake-queue.ts `ticketLua`): its member, and
 * its place, which the nodes give, not a clock. Until a quorum of nodes has reported a place, each refusing
 * node queues the member after its last and says where; then the ticket carries the highest of those, and
 * every node that refuses it from then on moves the member there, so that all order it alike. Made once the
 * waiter listens for wakes (a fair waiter's, before its first attempt); the attempts send {@link text} and tell
 * it the places the nodes report.
 */
export class QueueTicket {
  /** What a call sends: `:<member>` while it has no place, then `<place>:<member>` (see `wakeTicketOf`). */
  text: string;
  /** Its place on every node, once a quorum of nodes reported one: the highest they reported. */
  place: number | undefined;
  /** By node index: the place each node reported, until {@link place} is set, then whether the node has it there. */
  readonly #byNode: (number | true | undefined)[] = [];
  #nodesHeard = 0;
  #reserveMs = 0;
  /**
   * The calls of the latest attempt that sent the ticket: once they settled (a silent node's probe aside), its
   * grants on nodes that answered after it failed are being removed, and a fair waiter's next attempt waits
   * for that (see `waitForHold`).
   */
  latestAttempt: { settledButProbes(): Promise<unknown>; readonly outcomes: readonly unknown[] } | undefined;
  /** Whether the waiter listens for the wakes of node `nodeIndex` (its subscription is in place there): a fair call tells the node. */
  listensOn: ((nodeIndex: number) => boolean) | undefined;

  constructor(
    readonly member: string,
    /** How many nodes make a quorum. */
    private readonly quorum: number,
  ) {
    this.text = wakeTicketOf(member, undefined);
  }

  /** Node `nodeIndex` queued the member at `place`: it refused the attempt, or granted it fairly. */
  heard(nodeIndex: number, place: number): void {
    const byNode = this.#byNode;
    const before = byNode[nodeIndex];
    if (this.place !== undefined) {
      if (place === this.place && before !== true) {
        byNode[nodeIndex] = true;
        this.#nodesHeard += 1;
      }
      return;
    }
    if (before === undefined) this.#nodesHeard += 1;
    byNode[nodeIndex] = before === undefined || before === true ? place : Math.max(before, place);
    if (this.#nodesHeard < this.quorum) return;
    let highest = 0;
    for (const each of byNode) if (typeof each === 'number') highest = Math.max(highest, each);
    this.place = highest;
    this.text = wakeTicketOf(this.member, highest, this.#reserveMs);
    // From now on, a node counts once it has the member at the place: those that reported it already do.
    this.#nodesHeard = 0;
    for (let index = 0; index < byNode.length; index += 1) {
      const isThere = byNode[index] === highest;
      byNode[index] = isThere ? true : undefined;
      if (isThere) this.#nodesHeard += 1;
    }
  }

  /**
   * Its place, once a quorum of nodes has the member there: from then on, a waiter that first asks the nodes
   * for a place gets a later one. `undefined` before.
   */
  get queuedPlace(): number | undefined {
    return this.place !== undefined && this.#nodesHeard >= this.quorum ? this.place : undefined;
  }

  /** Asks to keep its place when woken, and a lock's release that wakes it to keep the key for it `reserveMs` (see `wakeTicketOf`). */
  reserve(reserveMs: number): void {
    this.#reserveMs = reserveMs;
    this.text = wakeTicketOf(this.member, this.place, reserveMs);
  }
}
