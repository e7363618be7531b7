import { describe, expect, it } from '@jest/globals';
import { type Lock, LockReleaseError, Redlock } from '../../src/index.js';
import { earlyTimersOf, FakeClock } from '../support/fake-clock.js';
import { FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNodes, keysOf, refusingNode } from '../../src/testing/fake-nodes.js';
import type { LuaScript } from '../../src/scripts/lua-script.js';
import { quietReleaseScript, releaseScript } from '../../src/scripts/release.js';

async function heldLock(nodes: readonly FakeNode[], clock: FakeClock, resources: string | string[] = 'r'): Promise<Lock> {
  return clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire(resources, 1000));
}

describe('lock.release()', () => {
  it('deletes our keys on every node and resolves with each outcome and the released count', async () => {
    const clock = new FakeClock();
    const nodes = [...grantingNodes(clock, 4), refusingNode(clock)];
    const lock = await heldLock(nodes, clock, ['a', 'b']);
    const result = await clock.runUntilSettled(lock.release());
    expect(result.holders).toBe(0);
    expect(await result.settled).toEqual([
      { nodeIndex: 0, status: 'released' },
      { nodeIndex: 1, status: 'released' },
      { nodeIndex: 2, status: 'released' },
      { nodeIndex: 3, status: 'released' },
      { nodeIndex: 4, status: 'not-held' },
    ]);
    // Answers known at resolution are the same objects; releasedCount counts those.
    const known = result.nodes.filter((node) => node.status !== 'pending');
    expect(known.length).toBeGreaterThanOrEqual(3);
    expect(result.releasedCount).toBe(known.filter((node) => node.status === 'released').length);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect(nodes[0]!.callsTo('release')[0]).toMatchObject({ keys: ['a', 'b'], args: [lock.token] });
  });

  it('sends the release to every node, each announcing its own release, wherever waiters listen', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const sentTo: number[] = [];
    const announcedOn: number[] = [];
    const record = (nodeIndex: number, script: LuaScript): void => {
      sentTo.push(nodeIndex);
      if (script === releaseScript) announcedOn.push(nodeIndex);
    };
    const recording = nodes.map((node, nodeIndex) => ({
      client: node,
      evalsha: (sha1: string, keys: readonly string[], args: readonly string[]) => {
        const script = [releaseScript, quietReleaseScript].find((each) => each.sha1 === sha1);
        if (script !== undefined) record(nodeIndex, script);
        return node.evalsha(sha1, keys, args);
      },
      eval: (source: string, keys: readonly string[], args: readonly string[]) => {
        const script = [releaseScript, quietReleaseScript].find((each) => each.source === source);
        if (script !== undefined) record(nodeIndex, script);
        return node.eval(source, keys, args);
      },
    }));
    for (const [resource, retryCount] of [['orders:1', 0], ['orders:2', 0], ['orders:3', 10], ['orders:4', 10]] as const) {
      const lock = await clock.runUntilSettled(new Redlock(recording, { clock, retryCount }).acquire(resource, 1000));
      sentTo.length = 0;
      announcedOn.length = 0;
      await clock.runUntilSettled(lock.release());
      expect(sentTo).toEqual([0, 1, 2, 3, 4]);
      // Every node: a waiter listens on every node, and a release wakes it from each.
      expect(announcedOn).toEqual(sentTo);
    }
  });

  it('resolves with the first result when called again, without calling any node', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    const first = await clock.runUntilSettled(lock.release());
    const callsBefore = nodes.map((node) => node.calls.length);
    const again = lock.release();
    await clock.advance(0);
    await expect(again).resolves.toBe(first);
    expect(nodes.map((node) => node.calls.length)).toEqual(callsBefore);
  });

  it('shares one release between concurrent calls', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    for (const node of nodes) node.latencyMs = 10;
    const [first, second] = await clock.runUntilSettled(Promise.all([lock.release(), lock.release()]));
    expect(second).toBe(first);
    expect(nodes.map((node) => node.callsTo('release').length)).toEqual([1, 1, 1]);
  });

  it('resolves with releasedCount 0 for a lock that already expired', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    await clock.advance(1000);
    expect(lock.state).toBe('expired');
    const result = await clock.runUntilSettled(lock.release());
    expect(result.releasedCount).toBe(0);
    expect((await result.settled).map((node) => node.status)).toEqual(['not-held', 'not-held', 'not-held']);
  });

  it('never deletes the key of an owner who took the resource after ours expired', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    await clock.advance(1000);
    for (const node of nodes) node.keyspace.set('r', 'next-owner');
    await clock.runUntilSettled(lock.release());
    expect(nodes.map((node) => node.keyspace.get('r'))).toEqual(['next-owner', 'next-owner', 'next-owner']);
  });

  it('rejects with LockReleaseError when a majority of nodes is down, and retries on the next call', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const lock = await heldLock(nodes, clock);
    for (const node of nodes.slice(0, 3)) node.isDown = true;
    const error = await clock.runUntilSettled(lock.release()).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockReleaseError);
    const releaseError = error as LockReleaseError;
    expect(releaseError.message).toBe('Could not confirm the release of "r": 3 failed, 2 released, quorum is 3');
    expect(releaseError.resources).toEqual(['r']);
    expect(releaseError.nodes.map((node) => node.status)).toEqual(['error', 'error', 'error', 'released', 'released']);
    expect(releaseError.nodeErrors.map((nodeError) => nodeError.nodeIndex)).toEqual([0, 1, 2]);
    expect(lock.state).toBe('released');

    for (const node of nodes) node.isDown = false;
    const result = await clock.runUntilSettled(lock.release());
    expect((await result.settled).map((node) => node.status)).toEqual(['released', 'released', 'released', 'not-held', 'not-held']);
    expect(nodes.map((node) => node.callsTo('release').length)).toEqual([2, 2, 2, 2, 2]);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('resolves once a quorum answered, without waiting for a slow minority', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const lock = await heldLock(nodes, clock);
    const start = clock.now();
    nodes[0]!.latencyMs = 1;
    nodes[1]!.latencyMs = 2;
    nodes[2]!.latencyMs = 3;
    nodes[3]!.latencyMs = 40;
    nodes[4]!.hang();
    const result = await clock.runUntilSettled(lock.release());
    expect(clock.now() - start).toBe(3);
    expect(result.nodes.map((node) => node.status)).toEqual(['released', 'released', 'released', 'pending', 'pending']);
    expect(result.releasedCount).toBe(3);
    // The minority finishes in the background, the hung node within its timeout.
    const settled = await clock.runUntilSettled(result.settled);
    expect(clock.now() - start).toBe(50);
    expect(settled.map((node) => node.status)).toEqual(['released', 'released', 'released', 'released', 'timeout']);
    expect(nodes.slice(0, 4).flatMap(keysOf)).toEqual([]);
    // The result handed out earlier is not changed by the late answers.
    expect(result.nodes[3]).toEqual({ nodeIndex: 3, status: 'pending' });
  });

  it('says the keys expired when its calls were cut there, also when the timer fired a hair early', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = new Redlock(nodes, { clock: earlyTimersOf(clock), retryCount: 0, nodeTimeoutMs: 500 });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1_000));
    await clock.advance(900);
    nodes[1]!.hang();
    nodes[2]!.hang();
    const error = await clock.runUntilSettled(lock.release()).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockReleaseError);
    expect((error as LockReleaseError).message).toMatch(/^Could not confirm the release of "r": its keys expired before a quorum confirmed, after \d+ ms \(2 timed out, 1 released, quorum is 2\)$/);
  });

  it('ends by the expiry of its keys when nodes it needs answer later, and counts no timeout against them', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    // Node timeouts of 500 ms, longer than the keys have left when the release starts.
    const redlock = new Redlock(nodes, { clock, retryCount: 0, nodeTimeoutMs: 500 });
    const start = clock.now();
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1_000));
    await clock.advance(900);
    nodes[1]!.hang();
    nodes[2]!.hang();
    const error = await clock.runUntilSettled(lock.release()).catch((failure: unknown) => failure);
    // Not 500 ms later, when the node timeouts would have ended it: past the keys' expiry there is nothing to free.
    expect(clock.now()).toBe(start + 1_000);
    expect(error).toBeInstanceOf(LockReleaseError);
    const releaseError = error as LockReleaseError;
    expect(releaseError.message).toBe('Could not confirm the release of "r": its keys expired before a quorum confirmed, after 100 ms (2 timed out, 1 released, quorum is 2)');
    expect(releaseError.nodeErrors.map((nodeError) => nodeError.message)).toEqual([
      "Node 1 had not answered when the hold's keys expired, 100 ms after the call",
      "Node 2 had not answered when the hold's keys expired, 100 ms after the call",
    ]);
    // The nodes were not given their timeout: neither is judged silent for it.
    expect(redlock.nodeHealth().map((node) => node.state)).toEqual(['up', 'up', 'up']);
  });

  it('waits for the answers of a release begun after its keys expired', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    await clock.advance(1_200);
    for (const node of nodes) node.latencyMs = 30;
    const start = clock.now();
    const result = await clock.runUntilSettled(lock.release());
    // Not cut at once: the nodes' answers tell that our keys are gone.
    expect(clock.now() - start).toBe(30);
    expect((await result.settled).map((node) => node.status)).toEqual(['not-held', 'not-held', 'not-held']);
  });

  it('falls back to EVAL for the release script on a node that lost its script cache', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    await clock.runUntilSettled((await heldLock(nodes, clock)).release());
    const lock = await heldLock(nodes, clock);
    nodes[0]!.keyspace.flushScripts();
    const result = await clock.runUntilSettled(lock.release());
    expect((await result.settled).map((node) => node.status)).toEqual(['released', 'released', 'released']);
    expect(nodes[0]!.callsTo('release').map((call) => call.method)).toEqual(['eval', 'evalsha', 'eval']);
  });
});

describe('lock state', () => {
  it('goes from held to released on release(), and stays released', async () => {
    const clock = new FakeClock();
    const lock = await heldLock(grantingNodes(clock, 3), clock);
    expect(lock.state).toBe('held');
    const releasing = lock.release();
    expect(lock.state).toBe('released');
    expect(lock.remainingValidityMs).toBe(0);
    await clock.runUntilSettled(releasing);
    await clock.advance(5000);
    expect(lock.state).toBe('released');
  });

  it('goes from held to expired when validity runs out, and to released on release()', async () => {
    const clock = new FakeClock();
    const lock = await heldLock(grantingNodes(clock, 3), clock);
    await clock.advance(988);
    expect(lock.state).toBe('expired');
    await clock.runUntilSettled(lock.release());
    expect(lock.state).toBe('released');
  });

  it('stays expired: extend() refuses an expired lock', async () => {
    const clock = new FakeClock();
    const lock = await heldLock(grantingNodes(clock, 3), clock);
    await clock.advance(988);
    await expect(clock.runUntilSettled(lock.extend(1000))).rejects.toMatchObject({ name: 'LockExtendError' });
    expect(lock.state).toBe('expired');
  });

  it('exposes the token that is stored on the nodes', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    expect(lock.token).toMatch(/^[A-Za-z0-9_-]{21}$/);
    expect(nodes[0]!.keyspace.get('r')).toBe(lock.token);
  });

  it('gives every attempt a token of its own, across many draws of random bytes', async () => {
    const clock = new FakeClock();
    const redlock = new Redlock(grantingNodes(clock, 3), { clock, retryCount: 0 });
    const tokens = new Set<string>();
    // Random bytes are drawn for 195 tokens at a time: 1,000 locks cross several draws.
    for (let index = 0; index < 1_000; index += 1) {
      const lock = await clock.runUntilSettled(redlock.acquire(`r${index}`, 1000));
      expect(lock.token).toMatch(/^[A-Za-z0-9_-]{21}$/);
      tokens.add(lock.token);
    }
    expect(tokens.size).toBe(1_000);
    // Every character of base64url turns up: the bytes are encoded whole, not cut to fewer symbols.
    expect(new Set([...tokens].join('')).size).toBe(64);
  });
});
