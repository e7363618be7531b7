import { describe, expect, it } from '@jest/globals';
import { NodeError, type NodeOutcome } from 'redlock-core';
import { ResourceLockedError } from '../../src/index.js';
import { Votes } from '../../src/execution-stats.js';

// How the core's per-node outcomes become node-redlock's votes: a node the attempt did not hear from (not
// asked, or not answered yet when a single try ended) casts no vote, as an unknown answer does.
describe('node-redlock compat: votes', () => {
  const clients = ['a', 'b', 'c', 'd', 'e'] as const;
  const silent = (nodeIndex: number, isTimeout: boolean): NodeOutcome<string> => ({
    nodeIndex,
    status: 'timeout',
    error: new NodeError(`Node ${nodeIndex} had not answered`, { nodeIndex, isTimeout, cause: undefined }),
  });

  it('counts a refusal as a ResourceLockedError and a timeout as its NodeError, and no vote for a node not heard from', () => {
    const outcomes: NodeOutcome<string>[] = [
      { nodeIndex: 0, status: 'held' },
      { nodeIndex: 1, status: 'held' },
      { nodeIndex: 2, status: 'held' },
      silent(3, true),
      silent(4, false),
    ];
    const votes = new Votes(clients as unknown as never[], outcomes, 'acquired', 1);
    const against = [...(votes.against ?? new Map<unknown, Error>()).entries()];
    expect(against.map(([client]) => client)).toEqual(['a', 'b', 'c', 'd']);
    expect(against.slice(0, 3).every(([, error]) => error instanceof ResourceLockedError)).toBe(true);
    expect(against[3]?.[1]).toBe((outcomes[3] as { error: Error }).error);
    expect(votes.stats()).toMatchObject({ membershipSize: 5, quorumSize: 3, votesFor: new Set() });
  });
});
