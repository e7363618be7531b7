// Which node a queue's woken waiters ask first and listen to (every node announces its own release).
import type { NodeSet, NodeState } from './node-state.js';
import { nodeDistanceMsFor } from './node-latency.js';

/**
 * How far a node may be and still count among the nearest: up to half as far again as the nearest, plus
 * {@link LEAD_NODE_SLACK_MS}. In round trips (a distance is 1.25 times the round trip plus 10 ms, see
 * `NodeLatency.distanceMs`), up to 1.5 times the nearest's plus 12 ms: the nodes of one datacenter tie,
 * whatever their jitter, and a node in another datacenter 25 ms away does not.
 */
export const LEAD_NODE_BAND = 1.5;

/** See {@link LEAD_NODE_BAND}, in milliseconds. */
export const LEAD_NODE_SLACK_MS = 10;

/**
 * The lead node for resource keys `keys`: chosen by a hash of the smallest key among the nodes about as
 * near as the nearest ({@link LEAD_NODE_BAND}) by `distancesMs`, so different resources spread over the
 * nodes and clients side by side choose the same node, whatever order each lists the resources in.
 *
 * Waiters that all ask one node first are ordered by it: one wins that node and then asks the rest, the
 * others learn at the cost of one call that the hold was taken, instead of every waiter sending a full
 * attempt to every node, splitting the votes, and cleaning up (the thundering herd of a release).
 */
export function leadNodeIndexOf(keys: readonly string[], distancesMs: readonly number[]): number {
  // Every node unmeasured (Infinity) ties too.
  const bandMs = Math.min(...distancesMs) * LEAD_NODE_BAND + LEAD_NODE_SLACK_MS;
  const candidates = distancesMs.flatMap((distanceMs, nodeIndex) => (distanceMs <= bandMs ? [nodeIndex] : []));
  const smallestKey = keys.reduce((smallest, key) => (key < smallest ? key : smallest), keys[0] ?? '');
  return candidates[fnv1a(smallestKey) % candidates.length] ?? 0;
}

/** {@link leadNodeIndexOf} for `keys` over the nodes of `set`, by each node's current distance. */
export function leadNodeIndexIn(set: NodeSet, keys: readonly string[]): number {
  return leadNodeIndexOf(
    keys,
    set.nodes.map((node: NodeState) => nodeDistanceMsFor(node, set.options)),
  );
}

/** The 32-bit FNV-1a hash of a string's UTF-16 code units, unsigned: cheap, and well spread for short keys. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
