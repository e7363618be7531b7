// The votes of one attempt, as node-redlock reports them: the clients that voted for the operation, and
// the error of each that voted against, made from the per-node outcomes redlock-core reports.
import type { NodeOutcome } from 'redlock-core';
import { ResourceLockedError } from './errors.js';
import type { Client, ExecutionStats } from './types.js';

/**
 * The votes in `outcomes` (by node index, as the core reports them; `undefined` for a node whose answer is
 * not known) of an operation whose yes is `yes`, over `resourceCount` resources. A node that answered
 * anything else voted against with a {@link ResourceLockedError}, as node-redlock's scripts, which apply to
 * every resource or none, report it; a node that failed or timed out, with its `NodeError`.
 */
export function statsOf(clients: readonly Client[], outcomes: readonly (NodeOutcome<string> | undefined)[], yes: string, resourceCount: number): ExecutionStats {
  const votesFor = new Set<Client>();
  const votesAgainst = new Map<Client, Error>();
  for (const outcome of outcomes) {
    if (outcome === undefined) continue;
    const client = clients[outcome.nodeIndex] as Client;
    if (outcome.status === yes) votesFor.add(client);
    else if (outcome.status === 'error' || outcome.status === 'timeout') votesAgainst.set(client, (outcome as Extract<typeof outcome, { error: unknown }>).error);
    else votesAgainst.set(client, new ResourceLockedError(`The operation was applied to: 0 of the ${resourceCount} requested resources.`));
  }
  return { membershipSize: clients.length, quorumSize: Math.floor(clients.length / 2) + 1, votesFor, votesAgainst };
}
