import { describe, expect, it } from '@jest/globals';
import { LockInspectError, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNodes } from '../../src/testing/fake-nodes.js';

// The quorum view itself is checked on real Redis nodes (the redlock suite of the adapter package).
describe('redlock.inspect()', () => {
  it.each([
    [42, TypeError, 'Expected every resource to be a string, got `42`'],
    ['', RangeError, 'Expected every resource to be a non-empty string, got `""`'],
    [['a', 'b'], TypeError, 'Expected every resource to be a string, got `["a","b"]`'],
  ])('rejects %j before any node call', async (resource, type, message) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const inspecting = new Redlock(nodes, { clock }).inspect(resource as string);
    await expect(inspecting).rejects.toThrow(new type(message));
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});

describe('redlock.inspect() quorum view', () => {
  it('reports the time until fewer than a quorum of nodes hold the key, never a token', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const ttls = [9_000, 1_000, 5_000, undefined, 3_000];
    ttls.forEach((ttlMs, index) => {
      if (ttlMs !== undefined) nodes[index]!.keyspace.set('lock:r', 'secret-token', ttlMs);
    });
    const inspection = await clock.runUntilSettled(new Redlock(nodes, { clock, keyPrefix: 'lock:' }).inspect('r'));
    // Sorted: 9000, 5000, 3000, 1000; the third longest is when the quorum of 3 goes.
    expect(inspection).toEqual({
      resource: 'r',
      isLocked: true,
      remainingMs: 3_000,
      nodes: [
        { nodeIndex: 0, status: 'locked', remainingMs: 9_000 },
        { nodeIndex: 1, status: 'locked', remainingMs: 1_000 },
        { nodeIndex: 2, status: 'locked', remainingMs: 5_000 },
        { nodeIndex: 3, status: 'free' },
        { nodeIndex: 4, status: 'locked', remainingMs: 3_000 },
      ],
    });
    expect(JSON.stringify(inspection)).not.toContain('secret-token');
  });

  it('reports a resource held on only a minority as free', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    for (const node of nodes.slice(0, 2)) node.keyspace.set('r', 'someone', 5_000);
    const inspection = await clock.runUntilSettled(new Redlock(nodes, { clock }).inspect('r'));
    expect(inspection.isLocked).toBe(false);
    expect(inspection.remainingMs).toBe(0);
  });

  it('rejects with LockInspectError when fewer than a quorum answer', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes.slice(0, 2)) node.isDown = true;
    const error = await clock.runUntilSettled(new Redlock(nodes, { clock }).inspect('r')).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockInspectError);
    expect((error as LockInspectError).message).toBe('Could not inspect "r": 2 failed, 1 free, quorum is 2');
    expect((error as LockInspectError).nodeErrors.map((nodeError) => nodeError.nodeIndex)).toEqual([0, 1]);
  });
});
