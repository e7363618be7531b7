// How many nodes must agree. The vote itself is tallied by the fan-out that makes the calls (fan-out.ts).

/** The number of nodes that must agree: a strict majority, ⌊n/2⌋+1. */
export function quorumOf(nodeCount: number): number {
  return Math.floor(nodeCount / 2) + 1;
}
