import { wakeTicketOf } from '../scripts/wake-queue.js';

/**
 * A waiting call's ticket in the nodes' wait queues (see scripts/wake-queue.ts `ticketLua`): its member, and
 * its place, which the nodes give, not a clock. Until a quorum of nodes has reported a place, each refusing
 * node queues the member after its last and says where; then the ticket carries the highest of those, and
 * every node that refuses it from then on moves the member there, so that all order it alike. Made once the
 * waiter listens for wakes; the attempts send {@link text} and tell it the places the nodes report.
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

  constructor(
    readonly member: string,
    /** How many nodes make a quorum. */
    private readonly quorum: number,
  ) {
    this.text = wakeTicketOf(member, undefined);
  }

  /** Node `nodeIndex` refused the attempt and queued the member at `place`. */
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
