import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { NodeError, type NodeOutcome } from 'redlock-core';
import Redlock, { ExecutionError, ResourceLockedError } from '../../src/index.js';
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
    const votes = new Votes(clients as unknown as never[], outcomes, 'acquired', 1, true);
    const against = [...(votes.against ?? new Map<unknown, Error>()).entries()];
    expect(against.map(([client]) => client)).toEqual(['a', 'b', 'c', 'd']);
    expect(against.slice(0, 3).every(([, error]) => error instanceof ResourceLockedError)).toBe(true);
    expect(against[3]?.[1]).toBe((outcomes[3] as { error: Error }).error);
    expect(votes.stats()).toMatchObject({ membershipSize: 5, quorumSize: 3, votesFor: new Set() });
  });

  it("counts a node that failed with the client's own error, as node-redlock, or with its NodeError with `errors: 'redlock-core'`", () => {
    const closed = new Error('Connection is closed.');
    const failed: NodeOutcome<string> = { nodeIndex: 1, status: 'error', error: new NodeError('Node 1 failed: Connection is closed.', { nodeIndex: 1, isTimeout: false, cause: closed }) };
    const outcomes: NodeOutcome<string>[] = [{ nodeIndex: 0, status: 'acquired' }, failed, silent(2, true)];
    const asNodeRedlock = new Votes(clients as unknown as never[], outcomes, 'acquired', 1, true).stats().votesAgainst;
    expect(asNodeRedlock.get('b' as never)).toBe(closed);
    // A timeout has no error of the client's: its NodeError either way.
    expect(asNodeRedlock.get('c' as never)).toBe((outcomes[2] as { error: Error }).error);
    const asCore = new Votes(clients as unknown as never[], outcomes, 'acquired', 1, false).stats().votesAgainst;
    expect(asCore.get('b' as never)).toBe((failed as { error: Error }).error);
    expect(asCore.get('b' as never)?.cause).toBe(closed);
  });
});

describe('node-redlock compat: votes of clients that fail', () => {
  // Clients that never connect: each command fails at once with the client's own error.
  const opened: Redis[] = [];
  const offlineClients = (): Redis[] => {
    const clients = [1, 2, 3].map((port) => new Redis({ port, lazyConnect: true, enableOfflineQueue: false }));
    opened.push(...clients);
    return clients;
  };
  afterAll(() => {
    for (const client of opened) client.disconnect();
  });
  const clientMessage = "Stream isn't writeable and enableOfflineQueue options is false";

  /** The votes against of every attempt of the failed acquisition, and the "error" events it emitted. */
  async function failedAcquisition(settings: ConstructorParameters<typeof Redlock>[1]): Promise<{ attempts: number; votes: Error[]; events: Error[] }> {
    const redlock = new Redlock(offlineClients(), { retryCount: 1, retryDelay: 0, retryJitter: 0, ...settings });
    const events: Error[] = [];
    redlock.on('error', (error: Error) => events.push(error));
    const error = await redlock.acquire(['votes:a'], 1_000).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(ExecutionError);
    const attempts = await Promise.all((error as ExecutionError).attempts);
    // Stops the failed attempts' cleanup, which would go on failing against these clients in the background.
    await redlock.quit();
    return { attempts: attempts.length, votes: attempts.flatMap((stats) => [...stats.votesAgainst.values()]), events };
  }

  it("are the client's own errors, in the attempts and the \"error\" events, as node-redlock's", async () => {
    const { attempts, votes, events } = await failedAcquisition({});
    expect(attempts).toBe(2);
    expect(votes).toHaveLength(6);
    for (const vote of votes) {
      expect(vote).not.toBeInstanceOf(NodeError);
      expect(vote.message).toBe(clientMessage);
    }
    expect(events).toEqual(votes);
  });

  it("are the core's NodeErrors, which name the node, with `errors: 'redlock-core'`", async () => {
    const { votes, events } = await failedAcquisition({ errors: 'redlock-core' });
    expect(votes).toHaveLength(6);
    for (const vote of votes) {
      expect(vote).toBeInstanceOf(NodeError);
      expect((vote.cause as Error).message).toBe(clientMessage);
    }
    expect(votes.map((vote) => (vote as NodeError).nodeIndex)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(events).toEqual(votes);
  });
});
