import { describe, expect, it } from '@jest/globals';
import { type Lock, LockExtendError, LockLostError, Redlock } from '../../src/index.js';
import { earlyTimersOf, FakeClock } from '../support/fake-clock.js';
import { FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNode, grantingNodes, hangingNode, hasKey, keysOf } from '../../src/testing/fake-nodes.js';

const WALL_START_MS = 1_700_000_000_000;

async function heldLock(nodes: readonly FakeNode[], clock: FakeClock, ttlMs = 1000): Promise<Lock> {
  return clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', ttlMs));
}

async function extendError(clock: FakeClock, extending: Promise<Lock>): Promise<LockExtendError> {
  const error = await clock.runUntilSettled(extending).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  if (!(error instanceof LockExtendError)) throw new Error(`Expected a LockExtendError, got ${String(error)}`);
  return error;
}

describe('lock.extend()', () => {
  it('resolves with the same lock and moves expiresAt and remainingValidityMs', async () => {
    const clock = new FakeClock(WALL_START_MS);
    const nodes = grantingNodes(clock, 5);
    const lock = await heldLock(nodes, clock);
    await clock.advance(500);
    expect(lock.remainingValidityMs).toBe(488);
    const extended = await clock.runUntilSettled(lock.extend(2000));
    expect(extended).toBe(lock);
    // drift = round(2000 × 0.01) + 2 = 22 ms, validity measured from 500 ms
    expect(lock.remainingValidityMs).toBe(1978);
    expect(lock.expiresAt).toBe(WALL_START_MS + 500 + 1978);
    for (const node of nodes) expect(node.keyspace.pttl('r')).toBe(2000);
    expect(nodes[0]!.callsTo('extend')[0]?.args).toEqual([lock.token, '2000', '0']);
  });

  it('measures validity from the start of the extension, minus the time the quorum took', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    for (const [index, node] of nodes.entries()) node.latencyMs = 10 * (index + 1);
    await clock.runUntilSettled(lock.extend(1000));
    expect(clock.now()).toBe(20);
    // Validity 1000 − 20 − 12 = 968 ms left at 20 ms, when the quorum answered.
    expect(lock.remainingValidityMs).toBe(968);
  });

  it('keeps a lock held past its first TTL when extended in time', async () => {
    const clock = new FakeClock();
    const lock = await heldLock(grantingNodes(clock, 3), clock);
    for (let round = 0; round < 5; round += 1) {
      await clock.advance(900);
      await clock.runUntilSettled(lock.extend(1000));
    }
    expect(clock.now()).toBe(4500);
    expect(lock.state).toBe('held');
  });

  it('tells each node\'s outcome in the extension that set the validity', async () => {
    const clock = new FakeClock();
    const nodes = [...grantingNodes(clock, 4), hangingNode(clock)];
    const lock = await heldLock(nodes, clock);
    expect(lock.extensionNodes).toBeUndefined();
    nodes[0]!.keyspace.delete('r');
    await clock.runUntilSettled(lock.extend(1000));
    expect(lock.extensionNodes?.map((node) => node.status)).toEqual(['missing', 'extended', 'extended', 'extended', 'pending']);
  });

  it('tolerates a minority of failed nodes', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const lock = await heldLock(nodes, clock);
    nodes[3]!.isDown = true;
    nodes[4]!.hang();
    await expect(clock.runUntilSettled(lock.extend(1000))).resolves.toBe(lock);
  });

  it('fails with isLost when a quorum of nodes no longer holds our token, and the lock reads lost from then on', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const lock = await heldLock(nodes, clock);
    // Another owner's key after ours vanished early on two nodes; plain expiry on the third.
    nodes[0]!.keyspace.set('r', 'someone');
    nodes[1]!.keyspace.set('r', 'someone');
    nodes[2]!.keyspace.pexpire('r', 1);
    await clock.advance(1);
    const error = await extendError(clock, lock.extend(1000));
    expect(error.isLost).toBe(true);
    expect(error.resources).toEqual(['r']);
    expect(error.nodes.map((node) => node.status)).toEqual(['not-held', 'not-held', 'missing', 'extended', 'extended']);
    expect(error.message).toBe('Could not extend "r": 2 not holding our token, 2 extended, 1 missing our keys, quorum is 3');
    // Another owner holds it: the handle must not read held with validity left.
    expect(lock.state).toBe('lost');
    expect(lock.remainingValidityMs).toBe(0);
    expect(() => lock.assertValid()).toThrow(LockLostError);
    await expect(lock.extend(1000)).rejects.toThrow('Could not extend "r": the lock is already lost');
    // Never touches another owner's key.
    expect(nodes[0]!.keyspace.get('r')).toBe('someone');
  });

  it('fails without isLost when nodes merely failed to answer', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const lock = await heldLock(nodes, clock);
    nodes[0]!.isDown = true;
    nodes[1]!.errorReply = new Error('LOADING Redis is loading the dataset in memory');
    nodes[2]!.hang();
    const error = await extendError(clock, lock.extend(1000));
    expect(error.isLost).toBe(false);
    expect(error.nodes.map((node) => node.status)).toEqual(['error', 'error', 'timeout', 'extended', 'extended']);
    expect(error.nodeErrors.map((nodeError) => nodeError.nodeIndex)).toEqual([0, 1, 2]);
    expect(error.message).toBe('Could not extend "r": 2 failed, 2 extended, 1 timed out, quorum is 3');
    expect(lock.state).toBe('held');
  });

  it('fails without isLost when only a minority lost our token and others failed', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const lock = await heldLock(nodes, clock);
    nodes[0]!.keyspace.delete('r');
    nodes[1]!.keyspace.delete('r');
    nodes[2]!.isDown = true;
    const error = await extendError(clock, lock.extend(1000));
    expect(error.isLost).toBe(false);
  });

  it('fails when the quorum answers too late to leave validity', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    // Acquired with a TTL that leaves more validity than the 5 s node timeout, as acquire() requires.
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, nodeTimeoutMs: 5000 }).acquire('r', 10_000));
    // extend() refuses a TTL that leaves no more validity than a node timeout: the answers come in time, but
    // the event loop stalls past the new TTL right after the extension was sent.
    const extending = lock.extend(6000);
    clock.stall(6000);
    const error = await extendError(clock, extending);
    expect(error.isLost).toBe(false);
    expect(error.message).toMatch(/^Could not extend "r": no validity left after 60\d\d ms$/);
    // The nodes ran it at once: our keys there expire 6 s after its start, long before the first TTL's end.
    expect(lock.remainingValidityMs).toBe(0);
    expect(lock.state).toBe('expired');
  });

  it('caps the validity at a shorter TTL from the moment the extension starts, and keeps it capped when it fails', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 10_000));
    const { signal } = lock;
    for (const node of nodes.slice(0, 3)) node.hang();
    const extending = lock.extend(1000);
    extending.catch(() => undefined);
    // Two nodes ran it at once, so our keys there expire in 1 s; no quorum ever answers.
    expect(lock.remainingValidityMs).toBe(1000 - 12);
    expect(nodes[4]!.keyspace.pttl('r')).toBe(1000);
    const error = await extendError(clock, extending);
    expect(error.isLost).toBe(false);
    expect(lock.remainingValidityMs).toBe(1000 - 12 - clock.now());
    expect(signal.aborted).toBe(false);
    await clock.advance(1000 - 12 - clock.now());
    expect(lock.state).toBe('expired');
    expect(signal.reason).toBeInstanceOf(LockLostError);
  });

  it('rejects without calling any node once the lock was released', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    await clock.runUntilSettled(lock.release());
    const callsBefore = nodes.map((node) => node.calls.length);
    const error = await extendError(clock, lock.extend(1000));
    expect(error).toMatchObject({ isLost: true, nodes: [], message: 'Could not extend "r": the lock is already released' });
    expect(nodes.map((node) => node.calls.length)).toEqual(callsBefore);
  });

  it('rejects without calling any node once the lock expired', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    await clock.advance(988);
    const error = await extendError(clock, lock.extend(1000));
    expect(error).toMatchObject({ isLost: true, nodes: [], message: 'Could not extend "r": the lock is already expired' });
    expect(nodes.flatMap((node) => node.callsTo('extend'))).toEqual([]);
  });

  it('fails with isLost when the lock is released while the extension runs', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    for (const node of nodes) node.latencyMs = 10;
    const extending = lock.extend(1000);
    extending.catch(() => undefined);
    const releasing = lock.release();
    const error = await extendError(clock, extending);
    expect(error).toMatchObject({ isLost: true, message: 'Could not extend "r": the lock was released meanwhile' });
    await clock.runUntilSettled(releasing);
    expect(lock.state).toBe('released');
  });

  it('lets the extension started last set the validity when two run concurrently', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    for (const node of nodes) node.latencyMs = 40;
    const first = lock.extend(5000);
    for (const node of nodes) node.latencyMs = 10;
    const second = lock.extend(2000);
    // The second answers first, at 10 ms; the first answers at 40 ms but must not overwrite it.
    await expect(clock.runUntilSettled(Promise.all([first, second]))).resolves.toEqual([lock, lock]);
    expect(clock.now()).toBe(40);
    // The second's validity, 2000 − 10 − 22 ms at 10 ms, of which 30 ms have passed by 40 ms.
    expect(lock.remainingValidityMs).toBe(2000 - 10 - 22 - 30);
    // The nodes ran the commands in the order sent, so they hold the second TTL too.
    expect(nodes[0]!.keyspace.pttl('r')).toBe(2000 - 40);
  });

  it('lets the extension started last set the validity when they finish in order', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await heldLock(nodes, clock);
    for (const node of nodes) node.latencyMs = 10;
    const first = lock.extend(5000);
    for (const node of nodes) node.latencyMs = 20;
    const second = lock.extend(2000);
    await clock.runUntilSettled(first);
    // At 10 ms the first is applied, but the nodes ran the second after it: its 2 s TTL caps the validity.
    expect(clock.now()).toBe(10);
    expect(lock.remainingValidityMs).toBe(2000 - 22 - 10);
    await clock.runUntilSettled(second);
    // The second's validity, 2000 − 20 − 22 ms left at 20 ms, its answer.
    expect(lock.remainingValidityMs).toBe(2000 - 20 - 22);
  });

  it('waits no longer than the node timeout for a hung node when failing', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), hangingNode(clock)];
    const lock = await heldLock(nodes, clock);
    nodes[0]!.keyspace.delete('r');
    const error = await extendError(clock, lock.extend(1000));
    // The hung node never answered, so it has the longest node timeout for a 1 s TTL: 100 ms.
    expect(clock.now()).toBe(100);
    expect(error.nodes.map((node) => node.status)).toEqual(['missing', 'extended', 'timeout']);
    expect(error.isLost).toBe(false);
  });

  it('says the validity ended when its calls were cut there, also when the timer fired a hair early', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), grantingNode(clock)];
    const redlock = new Redlock(nodes, { clock: earlyTimersOf(clock), retryCount: 0, nodeTimeoutMs: 500 });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1_000));
    await clock.advance(900);
    nodes[1]!.hang();
    nodes[2]!.hang();
    const error = await extendError(clock, lock.extend(1_000));
    // Read off the clock, the cut came 0.0001 ms before the validity's end: it was taken for two nodes unreachable.
    expect(error.message).toMatch(/^Could not extend "r": its validity ended before a quorum agreed, after \d+ ms \(2 timed out, 1 extended, quorum is 2\)$/);
    expect(error.isLost).toBe(false);
  });

  it('ends by the end of the validity when a node it needs answers later, and counts no timeout against that node', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), grantingNode(clock)];
    // Node timeouts of 500 ms, longer than the validity left when the extension starts.
    const redlock = new Redlock(nodes, { clock, retryCount: 0, nodeTimeoutMs: 500 });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1_000));
    const validUntil = clock.now() + lock.remainingValidityMs;
    await clock.advance(900);
    nodes[1]!.hang();
    nodes[2]!.hang();
    const error = await extendError(clock, lock.extend(1_000));
    // Not 500 ms later, when the node timeouts would have ended it: the hold could not be kept past its validity.
    expect(clock.now()).toBeLessThanOrEqual(validUntil);
    expect(error.message).toMatch(/^Could not extend "r": its validity ended before a quorum agreed, after 88 ms \(2 timed out, 1 extended, quorum is 2\)$/);
    expect(error.nodes.map((node) => node.status)).toEqual(['extended', 'timeout', 'timeout']);
    expect(error.nodeErrors[0]?.message).toMatch(/^Node 1 had not answered when the hold's validity ended, \d+ ms after the call$/);
    expect(error.isLost).toBe(false);
    expect(lock.state).toBe('expired');
    // The nodes were not given their timeout: neither is judged silent for it.
    expect(redlock.nodeHealth().map((node) => node.state)).toEqual(['up', 'up', 'up']);
  });
});

describe('lock.extend() re-seeding', () => {
  it('sets our keys again on a node that lost them, once a quorum has extended', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire(['a', 'b'], 1000));
    // Node 4 restarted empty; node 3 lost one of the two keys.
    for (const key of keysOf(nodes[4]!)) nodes[4]!.keyspace.delete(key);
    nodes[3]!.keyspace.delete('b');
    await clock.runUntilSettled(lock.extend(5000));
    for (const node of nodes) {
      expect(hasKey(node, 'a', lock.token)).toBe(true);
      expect(hasKey(node, 'b', lock.token)).toBe(true);
      expect(node.keyspace.pttl('a')).toBe(5000);
    }
    expect(nodes[4]!.callsTo('extend').map((call) => call.args[2])).toEqual(['0', '1']);
  });

  it('never re-seeds when no quorum still holds the lock, and reports the lock lost', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000));
    for (const node of nodes.slice(0, 3)) node.keyspace.delete('r');
    const error = await extendError(clock, lock.extend(1000));
    expect(error.isLost).toBe(true);
    expect(error.nodes.map((node) => node.status)).toEqual(['missing', 'missing', 'missing', 'extended', 'extended']);
    expect(nodes.slice(0, 3).flatMap(keysOf)).toEqual([]);
    expect(nodes.flatMap((node) => node.callsTo('extend')).filter((call) => call.args[2] === '1')).toEqual([]);
  });

  it('never takes over a key that another owner set on a node', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 5);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000));
    nodes[0]!.keyspace.set('r', 'someone-else', 10_000);
    await clock.runUntilSettled(lock.extend(1000));
    expect(nodes[0]!.keyspace.get('r')).toBe('someone-else');
  });
});
