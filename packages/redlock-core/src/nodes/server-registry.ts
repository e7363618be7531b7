// The servers behind the nodes, as the probe at first contact tells them: one vote per server, and the eviction
// policies that make a node unfit to hold locks.
import { NodeConfigurationError } from '../base/errors.js';

/** Eviction policies under which Redis may delete keys with a TTL, lock keys first among them. */
const EVICTING_POLICIES = new Set([
  'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random',
]);

/**
 * The servers behind the nodes of one `Redlock`, learnt at first contact with each node: two nodes must
 * never be one server (it would count one vote twice). Once that is found, every operation fails with it.
 */
export class ServerRegistry {
  /** Set once two nodes were found to be one server; every operation then rejects with it. */
  configurationError: NodeConfigurationError | undefined;
  readonly #nodeByRunId = new Map<string, number>();

  constructor(readonly refuseEvictingNodes: boolean) {}

  /** Records that node `nodeIndex` is the server `runId`; returns the error if another node is it too. */
  claim(nodeIndex: number, runId: string): NodeConfigurationError | undefined {
    if (runId === '') return undefined;
    const other = this.#nodeByRunId.get(runId);
    if (other === undefined || other === nodeIndex) {
      this.#nodeByRunId.set(runId, nodeIndex);
      return undefined;
    }
    const nodeIndexes = [Math.min(other, nodeIndex), Math.max(other, nodeIndex)];
    this.configurationError ??= new NodeConfigurationError(
      `Nodes ${nodeIndexes[0]} and ${nodeIndexes[1]} are the same Redis server (run_id ${runId}): every node must be an independent server, or one vote counts twice`,
      { nodeIndexes, problem: 'same-server' },
    );
    return this.configurationError;
  }
}

/** Whether Redis may delete lock keys under memory pressure with maxmemory-policy `policy`. */
export function isEvictingPolicy(policy: string): boolean {
  return EVICTING_POLICIES.has(policy);
}
