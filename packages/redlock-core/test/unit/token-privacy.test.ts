import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { type Lock, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNodes } from '../../src/testing/fake-adapter.js';

async function heldLock(options: { fencing?: boolean } = {}): Promise<{ clock: FakeClock; lock: Lock; redlock: Redlock }> {
  const clock = new FakeClock();
  const redlock = new Redlock(grantingNodes(clock, 3), { clock });
  const lock = await clock.runUntilSettled(redlock.acquire(['orders:1', 'orders:2'], 10_000, options));
  return { clock, lock, redlock };
}

describe('the token of a lock', () => {
  it('stays readable as lock.token, and is the value the nodes hold', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(new Redlock(nodes, { clock }).acquire('r', 10_000));
    expect(typeof lock.token).toBe('string');
    expect(lock.token.length).toBeGreaterThan(0);
    expect(nodes.map((node) => node.keyspace.get('r'))).toEqual([lock.token, lock.token, lock.token]);
  });

  it('is left out of JSON.stringify(lock), of a spread copy and of Object.keys(lock)', async () => {
    const { lock } = await heldLock();
    const json = JSON.stringify(lock);
    expect(json).not.toContain(lock.token);
    expect(JSON.parse(json)).toEqual({ resources: ['orders:1', 'orders:2'], attempts: 1 });
    expect({ ...lock }).not.toHaveProperty('token');
    expect(Object.keys(lock)).not.toContain('token');
    expect(Object.getOwnPropertyNames(lock)).not.toContain('token');
  });

  it('is shown as [redacted] by util.inspect, with the other fields visible', async () => {
    const { lock } = await heldLock({ fencing: true });
    const shown = inspect(lock);
    expect(shown).not.toContain(lock.token);
    expect(shown).toMatch(/^Lock \{/);
    expect(shown).toContain('token: [redacted]');
    expect(shown).toContain("resources: [ 'orders:1', 'orders:2' ]");
    expect(shown).toContain('attempts: 1');
    expect(shown).toContain('fencingToken: 1');
    expect(shown).toContain("state: 'held'");
    expect(shown).toContain(`expiresAt: ${lock.expiresAt}`);
    expect(shown).toContain('remainingValidityMs: 9898');
  });

  it('stays redacted when the lock is nested in something logged, and at any depth', async () => {
    const { lock } = await heldLock();
    expect(inspect({ job: { lock } }, { depth: 5 })).toContain('token: [redacted]');
    expect(inspect({ job: { lock } }, { depth: null })).not.toContain(lock.token);
    expect(inspect({ job: { lock } }, { depth: 0 })).not.toContain(lock.token);
    expect(inspect([[lock]], { depth: 1 })).toBe('[ [ [Lock] ] ]');
  });

  it('is the same, and as private, on a re-entrant handle', async () => {
    const { clock, lock, redlock } = await heldLock();
    const again = await clock.runUntilSettled(redlock.acquire('orders:1', 10_000, { reentrant: lock }));
    expect(again.token).toBe(lock.token);
    expect(JSON.stringify(again)).not.toContain(lock.token);
    expect(inspect(again)).not.toContain(lock.token);
  });
});
