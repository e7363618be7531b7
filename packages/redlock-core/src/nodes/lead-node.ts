// Which node a lock's waiters ask first and listen to (every node announces its own release): chosen from
// the hash of the lock's smallest key and the nodes' distances, the same for every client that lists the
// nodes in the same order and sees the same nodes as the nearest, whatever order each lists a lock's
// resources in.
import type { NodeSet, NodeState } from './node-state.js';
import { distanceChangeCount, nodeDistanceMsFor } from './node-latency.js';

/**
 * How far a node may be and still count among the nearest: up to half as far again as the nearest, plus
 * {@link LEAD_NODE_SLACK_MS}. In round trips (a measured distance is 1.25 times the round trip plus 10 ms,
 * see `NodeLatency.distanceMs`), up to 1.5 times the nearest's plus 12 ms: the nodes of one datacenter tie,
 * whatever their jitter, and a node in another datacenter 25 ms away does not.
 */
export const LEAD_NODE_BAND = 1.5;

/** See {@link LEAD_NODE_BAND}, in milliseconds. */
export const LEAD_NODE_SLACK_MS = 10;

/**
 * The node a woken waiter asks first and listens to, for resource keys `keys`: chosen by a hash of the
 * smallest key ({@link hashedKeyOf}) among the nodes about as near as the nearest ({@link LEAD_NODE_BAND}),
 * by `distancesMs` (see `nodeDistanceMsFor`), so different resources spread over the nodes, and clients
 * side by side (which see the same nodes as the nearest) choose the same node.
 *
 * Waiters that all ask one node first are ordered by it: one wins that node and then asks the rest, the
 * others learn at the cost of one call that the lock was taken, instead of every waiter sending a full
 * attempt to every node, splitting the votes, and cleaning up (the thundering herd of a release). Clients
 * whose lead nodes differ (one near each datacenter) each hear the release on their own, as every node
 * announces its own.
 */
export function leadNodeIndexOf(keys: readonly string[], distancesMs: readonly number[]): number {
  // Runs again whenever a node's distance changed (see leadNodeIndexIn): plain loops, no arrays built on the way.
  let nearestMs = Infinity;
  for (const distanceMs of distancesMs) if (distanceMs < nearestMs) nearestMs = distanceMs;
  // Every node unmeasured (Infinity) ties too.
  const bandMs = nearestMs * LEAD_NODE_BAND + LEAD_NODE_SLACK_MS;
  let candidateCount = 0;
  for (const distanceMs of distancesMs) if (distanceMs <= bandMs) candidateCount += 1;
  let skip = moduloOf(fnv1a(hashedKeyOf(keys)), candidateCount);
  for (let nodeIndex = 0; nodeIndex < distancesMs.length; nodeIndex += 1) {
    if ((distancesMs[nodeIndex] as number) <= bandMs && skip-- === 0) return nodeIndex;
  }
  return 0;
}

/**
 * {@link leadNodeIndexOf} for a lock on `keys` over the nodes of `set`, by each node's current distance:
 * what a queue's waiters ask first, and what a release goes to first. The same as last time while no
 * node's distance changed (see `distanceChangeCount`), for the same keys.
 */
export function leadNodeIndexIn(set: NodeSet, keys: readonly string[]): number {
  const memo = set.leadNode;
  const key = hashedKeyOf(keys);
  if (memo.distanceChanges === distanceChangeCount() && memo.key === key) return memo.nodeIndex;
  const { nodes, options } = set;
  // One array per node count, filled in again each time.
  if (distancesScratch.length !== nodes.length) distancesScratch = new Array<number>(nodes.length).fill(0);
  for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) {
    distancesScratch[nodeIndex] = nodeDistanceMsFor(nodes[nodeIndex] as NodeState, options);
  }
  memo.nodeIndex = leadNodeIndexOf(keys, distancesScratch);
  memo.key = key;
  memo.distanceChanges = distanceChangeCount();
  return memo.nodeIndex;
}

/** The node distances {@link leadNodeIndexIn} works on; read only within one synchronous call. */
let distancesScratch: number[] = [];

/**
 * The key a lock's nodes are chosen by: its smallest, in code-unit order, so that a holder of `[a, b]` and
 * a waiter for `[b, a]` (a transfer and the one back) pick the same nodes, as their local queue is the same.
 */
function hashedKeyOf(keys: readonly string[]): string {
  let smallest = keys[0] ?? '';
  for (let index = 1; index < keys.length; index += 1) {
    const key = keys[index] as string;
    if (key < smallest) smallest = key;
  }
  return smallest;
}

/** The latest text {@link fnv1a} hashed, and its hash: a lock's acquisition and its release hash the same key. */
let lastHashed = '';
let lastHash = fnv1aOf('');

/**
 * The 32-bit FNV-1a hash of a string's UTF-16 code units: cheap, and well spread for short keys. Its bits
 * as a signed 32-bit integer, which V8 keeps unboxed; {@link moduloOf} reads them as unsigned.
 */
function fnv1a(text: string): number {
  if (text !== lastHashed) {
    lastHash = fnv1aOf(text);
    lastHashed = text;
  }
  return lastHash;
}

function fnv1aOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}

/**
 * `hash % count` for the unsigned value of the 32 bits of `hash`, worked out in two steps of 16 bits that
 * stay small integers: the same node for every client and version, where `%` on an unsigned hash of 2^31 or
 * more works on doubles (a call into the C library's `fmod`, in V8).
 */
function moduloOf(hash: number, count: number): number {
  return (((hash >>> 16) % count) * 0x10000 + (hash & 0xffff)) % count;
}
