import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { type Lock, NodeError, type RedisAdapter, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNode, grantingNodes } from '../../src/testing/fake-nodes.js';

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

  it('shows whole milliseconds of validity, rounded down, where the property keeps its fraction', async () => {
    const { clock, lock } = await heldLock();
    clock.stall(0.3);
    expect(lock.remainingValidityMs).toBeCloseTo(9897.7, 6);
    expect(inspect(lock)).toMatch(/remainingValidityMs: 9897\n/);
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

/** An error reply as ioredis makes it: the failed command's name and arguments in `command`. */
class ReplyError extends Error {
  override name = 'ReplyError';
  command: { name: string; args: string[] } = { name: '', args: [] };
}

describe("the token in a node's error", () => {
  it('is left out of a NodeError cause that carries the command arguments, and the client error keeps them', async () => {
    const clock = new FakeClock();
    const replies: ReplyError[] = [];
    const outOfMemory: RedisAdapter = {
      evalsha: () => Promise.reject(new Error('NOSCRIPT No matching script. Please use EVAL.')),
      eval: () => Promise.reject(new Error('ERR unexpected')),
      trySet(key, value, ttlMs) {
        const reply = Object.assign(new ReplyError('OOM command not allowed when used memory > maxmemory.'), { command: { name: 'set', args: [key, value, 'PX', String(ttlMs), 'NX'] } });
        replies.push(reply);
        return Promise.reject(reply);
      },
    };
    const redlock = new Redlock([outOfMemory, grantingNode(clock), grantingNode(clock)], { clock });
    // A first contact takes a lock by the script (see misconfigured-nodes.test.ts): met first, node 0 gets a SET.
    await clock.runUntilSettled(redlock.inspect('first-contact'));
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    const outcome = lock.nodes[0];
    const error = outcome?.status === 'error' ? outcome.error : undefined;
    expect(error).toBeInstanceOf(NodeError);
    expect(inspect(lock.nodes, { depth: null })).not.toContain(lock.token);
    expect(error?.cause).toBeInstanceOf(ReplyError);
    expect(error?.cause).toMatchObject({ name: 'ReplyError', message: 'OOM command not allowed when used memory > maxmemory.', command: { name: 'set' } });
    expect((error?.cause as ReplyError).command).not.toHaveProperty('args');
    expect((error?.cause as ReplyError).stack).toBe(replies[0]?.stack);
    // A copy: the client's own error, which it may have handed to others too, is unchanged.
    expect(error?.cause).not.toBe(replies[0]);
    expect(replies[0]?.command.args).toEqual(['r', lock.token, 'PX', '10000', 'NX']);
  });

  it('keeps any other cause as it is', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(new NodeError('Node 0 failed', { nodeIndex: 0, isTimeout: false, cause }).cause).toBe(cause);
  });
});
