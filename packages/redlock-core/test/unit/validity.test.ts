import { describe, expect, it } from '@jest/globals';
import { LockAcquireError, LockExtendError, PermitError, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNode, grantingNodes, keysOf, refusingNode, slowNode } from '../../src/testing/fake-nodes.js';

const WALL_START_MS = 1_700_000_000_000;

describe('validity of an acquired lock', () => {
  it('is the TTL minus the drift when every node answers at once', async () => {
    const clock = new FakeClock(WALL_START_MS);
    const redlock = new Redlock(grantingNodes(clock, 5), { clock, retryCount: 0 });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    // drift = round(1000 × 0.01) + 2 = 12 ms
    expect(lock.remainingValidityMs).toBe(988);
    expect(lock.expiresAt).toBe(WALL_START_MS + 988);
  });

  it('subtracts the time the quorum took, not the time of the slow minority', async () => {
    const clock = new FakeClock(WALL_START_MS);
    const nodes = [slowNode(clock, 10), slowNode(clock, 20), slowNode(clock, 30), slowNode(clock, 40), slowNode(clock, 45)];
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000));
    expect(clock.now()).toBe(30);
    // Validity 1000 − 30 − 12 = 958 ms left at 30 ms, when the quorum answered.
    expect(lock.remainingValidityMs).toBe(1000 - 30 - 12);
    expect(lock.expiresAt).toBe(WALL_START_MS + 30 + 1000 - 30 - 12);
  });

  it('follows driftFactor', async () => {
    const clock = new FakeClock();
    const lock = await clock.runUntilSettled(new Redlock(grantingNodes(clock, 3), { clock, driftFactor: 0.1 }).acquire('r', 1000));
    expect(lock.remainingValidityMs).toBe(1000 - 102);
    const exact = await clock.runUntilSettled(new Redlock(grantingNodes(clock, 3), { clock, driftFactor: 0 }).acquire('r', 1000));
    expect(exact.remainingValidityMs).toBe(998);
  });

  it('is measured from the start of the attempt that succeeded, not from the first attempt', async () => {
    const clock = new FakeClock(WALL_START_MS);
    const slow = slowNode(clock, 40);
    slow.failNext('acquire', new Error('ERR busy'));
    const nodes = [grantingNode(clock), slow, refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: 1, retryDelayMs: 100, retryJitterMs: 0 });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    // Attempt 1: fails at 40 ms, its cleanup answers at 80 ms. Attempt 2 starts at 180 ms and reaches
    // its quorum 40 ms later, when the slow node answers.
    expect(lock.attempts).toBe(2);
    expect(slow.acquireRequests().map((call) => call.sentAtMs)).toEqual([0, 180]);
    expect(clock.now()).toBe(220);
    // Validity 1000 − 40 − 12 = 948 ms left at 220 ms, when the quorum answered: none from attempt 1.
    expect(lock.remainingValidityMs).toBe(948);
    expect(lock.expiresAt).toBe(WALL_START_MS + 220 + 948);
  });

  it('runs on the monotonic clock: a wall clock jump moves neither validity nor expiresAt', async () => {
    const clock = new FakeClock(WALL_START_MS);
    const lock = await clock.runUntilSettled(new Redlock(grantingNodes(clock, 3), { clock }).acquire('r', 1000));
    clock.jumpWallClock(-60_000);
    await clock.advance(100);
    expect(lock.remainingValidityMs).toBe(888);
    expect(lock.expiresAt).toBe(WALL_START_MS + 988);
    expect(lock.state).toBe('held');
  });

  it('ends exactly when the remaining validity reaches zero, while the keys still live', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('r', 1000));
    await clock.advance(987);
    expect(lock.state).toBe('held');
    expect(lock.remainingValidityMs).toBe(1);
    await clock.advance(1);
    expect(lock.state).toBe('expired');
    expect(lock.remainingValidityMs).toBe(0);
    // The keys outlive the validity by the drift allowance.
    expect(nodes.map(keysOf)).toEqual([['r'], ['r'], ['r']]);
  });
});

describe('the signal of a lock', () => {
  it('aborts no later than the validity ends, giving up the last fraction of a millisecond', async () => {
    const clock = new FakeClock();
    await clock.advance(0.3);
    const lock = await clock.runUntilSettled(new Redlock(grantingNodes(clock, 3), { clock }).acquire('r', 1000));
    // Validity ends at 0.3 + 988 = 988.3 ms; read at 0.5 ms, the signal has 987.8 ms to wait.
    await clock.advance(0.2);
    const { signal } = lock;
    await clock.advance(986.9);
    expect(signal.aborted).toBe(false);
    expect(lock.remainingValidityMs).toBeCloseTo(0.9, 5);
    // Its timer of 987 ms (rounded down) fires at 987.5 ms and gives up the 0.8 ms left: one of 988 ms
    // (rounded up) would abort it at 988.5, after the end, and the routine could still act meanwhile.
    await clock.advance(0.1);
    expect(signal.aborted).toBe(true);
    expect(lock.state).toBe('expired');
    expect(clock.now()).toBeLessThan(988.3);
    // The wall-clock end follows: no later than now.
    expect(lock.expiresAt).toBeLessThanOrEqual(clock.wallNow());
  });

  it('stays aborted: an extension agreed after it gave the validity up is not applied', async () => {
    const clock = new FakeClock();
    await clock.advance(0.3);
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('r', 1000));
    await clock.advance(0.2);
    const { signal } = lock;
    for (const node of nodes) node.latencyMs = 0.6;
    await clock.advance(986.7);
    // Sent at 987.2 ms, agreed at 987.8 ms: after the signal gave up the last 0.8 ms at 987.5 ms.
    const extending = lock.extend(1000).catch((error: unknown) => error);
    await clock.advance(1);
    const error = (await extending) as LockExtendError;
    expect(error).toBeInstanceOf(LockExtendError);
    expect(error.message).toContain('its validity ran out before a quorum agreed');
    expect(error.isLost).toBe(false);
    expect({ state: lock.state, aborted: signal.aborted }).toEqual({ state: 'expired', aborted: true });
  });
});

describe('validity lost to a stalled event loop', () => {
  it('counts a stall between sending and reading the replies as elapsed time', async () => {
    const clock = new FakeClock();
    const nodes = [slowNode(clock, 10), slowNode(clock, 10), slowNode(clock, 10)];
    clock.setTimeout(() => clock.stall(990), 5);
    const error = await clock.runUntilSettled(new Redlock(nodes, { clock, retryCount: 0 }).acquire('r', 1000)).catch((failure: unknown) => failure);
    expect(error).toMatchObject({ reason: 'no-validity' });
    expect((error as LockAcquireError).attempts[0]?.elapsedMs).toBe(995);
  });
});

// acquire() refuses a TTL that leaves less validity than one node timeout, so nodes answering within
// their timeout always leave validity: the attempt outlives its TTL only when the event loop stalls (a
// long GC, a paused VM) while the answers are on their way, as here.
describe('validity lost while the answers were on their way', () => {
  it('gives up the attempt, with reason no-validity, when the quorum arrives after TTL − drift', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), slowNode(clock, 10), slowNode(clock, 10), slowNode(clock, 10)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const acquiring = redlock.acquire('r', 10_000);
    acquiring.catch(() => undefined);
    // The quorum is read at 9950 ms, with 10 000 − 9950 − 102 < 0 ms of validity; the cleanup runs at once.
    await clock.advance(5);
    clock.stall(9945);
    await clock.advance(1);
    expect(nodes.flatMap(keysOf)).toEqual([]);
    const error = await clock.runUntilSettled(acquiring).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect(error).toMatchObject({ reason: 'no-validity' });
    expect((error as LockAcquireError).attempts[0]?.elapsedMs).toBe(9950);
    expect((error as LockAcquireError).message).toBe(
      'Could not acquire "r" after 1 attempt: no validity (last attempt: a quorum agreed after 9950 ms, leaving no validity of the 10000 ms TTL)',
    );
  });

  it('says the same of a semaphore\'s permits, one error builder for every kind of hold', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), slowNode(clock, 10), slowNode(clock, 10), slowNode(clock, 10)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const acquiring = redlock.semaphore('s', { limit: 3 }).acquire(10_000);
    acquiring.catch(() => undefined);
    await clock.advance(5);
    clock.stall(9945);
    const error = await clock.runUntilSettled(acquiring).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(PermitError);
    expect(error).toMatchObject({ reason: 'no-validity' });
    expect(nodes.flatMap(keysOf)).toEqual([]);
    expect((error as PermitError).message).toBe(
      'Could not acquire 1 of 3 permits of "s" after 1 attempt: no validity (last attempt: a quorum agreed after 9950 ms, leaving no validity of the 10000 ms TTL)',
    );
  });

  it('gives up at exactly zero validity left', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), slowNode(clock, 10), slowNode(clock, 10)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const acquiring = redlock.acquire('r', 1000);
    acquiring.catch(() => undefined);
    await clock.advance(5);
    // Read at 988 ms: 1000 − 988 − 12 = 0 ms left.
    clock.stall(983);
    const error = await clock.runUntilSettled(acquiring).catch((failure: unknown) => failure);
    expect((error as LockAcquireError).attempts[0]?.elapsedMs).toBe(988);
    expect(error).toMatchObject({ reason: 'no-validity' });
  });

  it('still reports no-validity when some node refused but a quorum agreed too late', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), slowNode(clock, 10), slowNode(clock, 10), refusingNode(clock), refusingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const acquiring = redlock.acquire('r', 1000);
    acquiring.catch(() => undefined);
    await clock.advance(5);
    clock.stall(990);
    const error = await clock.runUntilSettled(acquiring).catch((failure: unknown) => failure);
    expect(error).toMatchObject({ reason: 'no-validity' });
  });
});
