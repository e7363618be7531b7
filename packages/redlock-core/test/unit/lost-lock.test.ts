import { describe, expect, it } from '@jest/globals';
import { LockExtendError, LockLostError, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNodes } from '../../src/testing/fake-nodes.js';

function setup() {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, 3);
  return { clock, nodes, redlock: new Redlock(nodes, { clock, retryCount: 0 }) };
}

describe('a lock known to be lost', () => {
  it("aborts using()'s signal and reads lost when the routine's own extend() finds the token gone", async () => {
    const { clock, nodes, redlock } = setup();
    let seen: { reason: unknown; state: string; remainingMs: number } | undefined;
    const using = redlock.using('job', 10_000, async (signal, lock) => {
      for (const node of nodes.slice(0, 2)) node.keyspace.set('job', 'someone', 60_000);
      await lock.extend(10_000).catch((error: unknown) => expect(error).toBeInstanceOf(LockExtendError));
      seen = { reason: signal.reason, state: lock.state, remainingMs: lock.remainingValidityMs };
      return 'done';
    });
    // The routine returned, but the lock was lost meanwhile: using() says so, with what it returned.
    const error = await clock.runUntilSettled(using).catch((rejection: unknown) => rejection);
    expect(error).toBeInstanceOf(LockLostError);
    expect((error as LockLostError).result).toBe('done');
    expect((error as LockLostError).cause).toBe(seen?.reason);
    expect(seen?.reason).toBeInstanceOf(LockLostError);
    expect(seen?.state).toBe('lost');
    expect(seen?.remainingMs).toBe(0);
  });

  it('reads lost on every re-entrant handle of the hold', async () => {
    const { clock, nodes, redlock } = setup();
    const outer = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    const inner = await clock.runUntilSettled(redlock.acquire('r', 1_000, { reentrant: outer }));
    for (const node of nodes.slice(0, 2)) node.keyspace.set('r', 'someone', 60_000);
    await clock.runUntilSettled(inner.extend(10_000).catch(() => undefined));
    expect([outer.state, inner.state]).toEqual(['lost', 'lost']);
    expect(() => outer.assertValid()).toThrow('The lock on "r" is lost');
  });
});

describe('lock.assertValid()', () => {
  it('throws right after the event loop stalled past the validity, before any timer could run', async () => {
    const { clock, redlock } = setup();
    let afterStall: { aborted: boolean; error: unknown } | undefined;
    const using = redlock.using('job', 1_000, async (signal, lock) => {
      lock.assertValid();
      clock.stall(5_000);
      let error: unknown;
      try {
        lock.assertValid();
      } catch (thrown) {
        error = thrown;
      }
      // The timers have not run yet: the signal cannot know.
      afterStall = { aborted: signal.aborted, error };
    });
    // The routine swallowed the error, yet using() does not resolve as if the lock had held.
    await expect(clock.runUntilSettled(using)).rejects.toBeInstanceOf(LockLostError);
    expect(afterStall?.aborted).toBe(false);
    expect(afterStall?.error).toBeInstanceOf(LockLostError);
    expect((afterStall?.error as Error).message).toBe('The lock on "job" is expired');
  });

  it('throws for a released lock, and passes while it is held', async () => {
    const { clock, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    expect(() => lock.assertValid()).not.toThrow();
    await clock.runUntilSettled(lock.release());
    expect(() => lock.assertValid()).toThrow('The lock on "r" is released');
  });
});
