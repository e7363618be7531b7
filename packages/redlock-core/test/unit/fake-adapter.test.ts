import { describe, expect, it } from '@jest/globals';
import { acquireScript } from '../../src/scripts/acquire.js';
import { extendScript } from '../../src/scripts/extend.js';
import { fenceScript } from '../../src/scripts/fence.js';
import { inspectScript } from '../../src/scripts/inspect.js';
import { releaseScript } from '../../src/scripts/release.js';
import { FakeClock } from '../support/fake-clock.js';
import { permitAcquireArgsOf } from '../../src/scripts/permit-acquire.js';
import { NO_INTENT } from '../../src/scripts/read-write-acquire.js';
import { FakeKeyspace } from '../../src/testing/fake-keyspace.js';
import { runPermitScript } from '../../src/testing/fake-permits.js';
import { grantingNode, hangingNode, keysOf, noScriptOnceNode, refusingNode, slowNode } from '../../src/testing/fake-nodes.js';

// The unit tests trust the fake to behave like the Lua scripts on a real node; these pin that down.
describe('FakeNode', () => {
  it('acquires all or nothing, with the TTL as PX', async () => {
    const clock = new FakeClock();
    const node = grantingNode(clock);
    node.keyspace.set('b', 'other', 1000);
    expect(await node.evalsha(acquireScript.sha1, ['a', 'b'], ['t', '100'])).toBe(0);
    expect(keysOf(node)).toEqual(['b']);
    expect(await node.evalsha(acquireScript.sha1, ['a', 'c'], ['t', '100'])).toBe(1);
    expect(node.keyspace.pttl('a')).toBe(100);
    await clock.advance(100);
    expect(keysOf(node)).toEqual(['b']);
  });

  it('refuses an acquisition with -2, setting nothing, at a key that is not a lock: another type or no TTL', async () => {
    const clock = new FakeClock();
    const node = grantingNode(clock);
    node.keyspace.setOfType('h', 'hash', 1000);
    node.keyspace.set('s', 'user-data');
    node.keyspace.set('lock', 'other', 1000);
    expect(await node.evalsha(acquireScript.sha1, ['a', 'h'], ['t', '100'])).toBe(-2);
    expect(await node.evalsha(acquireScript.sha1, ['a', 's'], ['t', '100'])).toBe(-2);
    // The first key that is neither missing nor ours decides, as in the script.
    expect(await node.evalsha(acquireScript.sha1, ['lock', 's'], ['t', '100'])).toBe(0);
    expect(keysOf(node).sort()).toEqual(['h', 'lock', 's']);
  });

  it('reads fencing counters only when they are counters: -2 and nothing set otherwise', async () => {
    const clock = new FakeClock();
    const node = grantingNode(clock);
    node.keyspace.set('c1', '4');
    expect(await node.evalsha(acquireScript.sha1, ['a', 'c1'], ['t', '100', '0', '1'])).toEqual([1, 4]);
    node.keyspace.set('c2', '4', 1000);
    expect(await node.evalsha(acquireScript.sha1, ['b', 'c2'], ['t', '100', '0', '1'])).toBe(-2);
    expect(keysOf(node).sort()).toEqual(['a', 'c1', 'c2']);
  });

  it('raises counters all or nothing, refusing with -2 when any key is not a counter', async () => {
    const clock = new FakeClock();
    const node = grantingNode(clock);
    node.keyspace.set('c1', '4');
    node.keyspace.setOfType('c2', 'hash');
    expect(await node.evalsha(fenceScript.sha1, ['c1', 'c2', 'c3'], ['7'])).toBe(-2);
    expect([node.keyspace.get('c1'), node.keyspace.get('c3')]).toEqual(['4', undefined]);
    expect(await node.evalsha(fenceScript.sha1, ['c1', 'c3'], ['7'])).toBe(1);
    expect([node.keyspace.get('c1'), node.keyspace.get('c3'), node.keyspace.pttl('c3')]).toEqual(['7', '7', Infinity]);
  });

  it('inspects a key that is not a lock as -1, a lock as its milliseconds left and a missing key as -2', async () => {
    const clock = new FakeClock();
    const node = grantingNode(clock);
    node.keyspace.setOfType('h', 'hash', 1000);
    node.keyspace.set('s', 'user-data');
    node.keyspace.set('lock', 'other', 1000);
    const replies = await Promise.all(['h', 's', 'lock', 'none'].map((key) => node.evalsha(inspectScript.sha1, [key, `{${key}}:label`], [])));
    expect(replies).toEqual([
      [-1, '', ''],
      [-1, '', ''],
      [1000, '', ''],
      [-2, '', ''],
    ]);
  });

  it('extends only when every key holds the token', async () => {
    const clock = new FakeClock();
    const node = grantingNode(clock);
    await node.evalsha(acquireScript.sha1, ['a', 'b'], ['t', '100']);
    node.keyspace.set('b', 'other');
    expect(await node.evalsha(extendScript.sha1, ['a', 'b'], ['t', '500'])).toBe(0);
    expect(node.keyspace.pttl('a')).toBe(100);
    expect(await node.evalsha(extendScript.sha1, ['a'], ['t', '500'])).toBe(1);
    expect(node.keyspace.pttl('a')).toBe(500);
  });

  it('releases only keys holding the token and returns how many it deleted', async () => {
    const clock = new FakeClock();
    const node = grantingNode(clock);
    await node.evalsha(acquireScript.sha1, ['a', 'b'], ['t', '100']);
    node.keyspace.set('b', 'other');
    expect(await node.evalsha(releaseScript.sha1, ['a', 'b'], ['t'])).toBe(1);
    expect(keysOf(node)).toEqual(['b']);
  });

  it('rejects a TTL that is not a positive integer string, as SET PX would', async () => {
    const node = grantingNode(new FakeClock());
    await expect(node.evalsha(acquireScript.sha1, ['a'], ['t', '1.5'])).rejects.toThrow('ERR invalid expire time');
  });

  it('answers NOSCRIPT until the script was sent with EVAL', async () => {
    const node = noScriptOnceNode(new FakeClock());
    await expect(node.evalsha(acquireScript.sha1, ['a'], ['t', '100'])).rejects.toThrow(/^NOSCRIPT No matching script/);
    expect(await node.eval(acquireScript.source, ['a'], ['t', '100'])).toBe(1);
    expect(await node.evalsha(releaseScript.sha1, ['a'], ['t']).catch(() => 'NOSCRIPT')).toBe('NOSCRIPT');
    expect(await node.evalsha(acquireScript.sha1, ['b'], ['t', '100'])).toBe(1);
  });

  it('refuses every acquisition on a refusing node', async () => {
    const node = refusingNode(new FakeClock());
    expect(await node.evalsha(acquireScript.sha1, ['anything'], ['t', '100'])).toBe(0);
    expect(keysOf(node)).toEqual([]);
  });

  it('applies a write on arrival and answers after latencyMs on a slow node', async () => {
    const clock = new FakeClock();
    const node = slowNode(clock, 30);
    let reply: unknown;
    void node.evalsha(acquireScript.sha1, ['a'], ['t', '100']).then((value) => {
      reply = value;
    });
    expect(keysOf(node)).toEqual(['a']);
    await clock.advance(29);
    expect(reply).toBeUndefined();
    await clock.advance(1);
    expect(reply).toBe(1);
  });

  it('runs commands queued on a hung node in order when it resumes', async () => {
    const clock = new FakeClock();
    const node = hangingNode(clock);
    const acquired = node.evalsha(acquireScript.sha1, ['a'], ['t', '100']);
    const released = node.evalsha(releaseScript.sha1, ['a'], ['t']);
    await clock.advance(1000);
    expect(keysOf(node)).toEqual([]);
    node.resume();
    expect(await Promise.all([acquired, released])).toEqual([1, 1]);
    expect(keysOf(node)).toEqual([]);
    expect(node.calls.map((call) => call.sentAtMs)).toEqual([0, 0]);
  });

  it('shares the keyspace between connections of two clients', async () => {
    const clock = new FakeClock();
    const node = grantingNode(clock);
    const other = node.connectAnotherClient();
    await node.evalsha(acquireScript.sha1, ['a'], ['t', '100']);
    expect(await other.evalsha(acquireScript.sha1, ['a'], ['u', '100'])).toBe(0);
    expect(other.calls).toHaveLength(1);
    expect(node.calls).toHaveLength(1);
  });
});

describe("the fake's permit scripts", () => {
  it("keep a waiting request's intent as the Lua does (scripts.test.ts): left, respected, refreshed, removed on admission and release", async () => {
    const clock = new FakeClock();
    const keyspace = new FakeKeyspace(clock);
    const waiter = { id: '3:intent-of-three', ttlMs: 60_000 };
    const take = (token: string, permits: number, firstSlot: number, intent = NO_INTENT) =>
      runPermitScript(keyspace, 'permit-acquire', ['jobs'], permitAcquireArgsOf(token, 10_000, permits, 3, 0, firstSlot, intent, ''));
    const release = (token: string, other = '') => runPermitScript(keyspace, 'permit-release', ['jobs'], [token, other]);
    take('holder-1', 1, 1);
    take('holder-2', 1, 2);
    expect(take('attempt-1', 3, 1, waiter)).toEqual([0, 3]);
    const left = keyspace.hashOf('jobs')?.get('i');
    expect(left).toMatch(/^\d+:3:intent-of-three$/);
    expect(keyspace.pttl('jobs')).toBe(60_000);
    expect(take('other', 1, 3)).toEqual([0]);
    expect(take('other', 2, 3, { id: '2:intent-of-two', ttlMs: 60_000 })).toEqual([0]);
    await clock.advance(5);
    expect(take('attempt-2', 3, 1, waiter)).toEqual([0, 3]);
    expect(Number(keyspace.hashOf('jobs')?.get('i')?.split(':')[0])).toBe(Number(left?.split(':')[0]) + 5);
    release('holder-1');
    release('holder-2');
    expect(take('attempt-3', 3, 2, waiter)).toEqual([1, 3, 2, 3, 1]);
    expect([...(keyspace.hashOf('jobs')?.keys() ?? [])].sort()).toEqual(['1', '2', '3', 'limit']);
    release('attempt-3', '3:intent-of-three');
    expect(keyspace.typeOf('jobs')).toBe('none');
  });

  it('admit others beside a live intent only where they leave its permits free, as the Lua does (scripts.test.ts)', async () => {
    const clock = new FakeClock();
    const keyspace = new FakeKeyspace(clock);
    const take = (token: string, permits: number, firstSlot: number, intent = NO_INTENT) =>
      runPermitScript(keyspace, 'permit-acquire', ['jobs'], permitAcquireArgsOf(token, 10_000, permits, 3, 0, firstSlot, intent, ''));
    take('holder-1', 1, 1);
    take('holder-2', 1, 2);
    expect(take('liar', 2, 1, { id: '3:liar', ttlMs: 60_000 })).toEqual([0, 3]);
    expect(keyspace.hashOf('jobs')?.has('i')).toBe(false);
    expect(take('attempt-1', 2, 1, { id: '2:intent-of-two', ttlMs: 60_000 })).toEqual([0, 3]);
    runPermitScript(keyspace, 'permit-release', ['jobs'], ['holder-1', '']);
    expect(take('other', 1, 1)).toEqual([0]);
    runPermitScript(keyspace, 'permit-release', ['jobs'], ['holder-2', '']);
    expect(take('other', 1, 1)).toEqual([1, 1, 1, 2, 3]);
    expect(runPermitScript(keyspace, 'permit-inspect', ['jobs'], [])).toEqual([3, 1, expect.any(String), 10_000]);
    expect(runPermitScript(keyspace, 'permit-release', ['jobs'], ['2:intent-of-two', ''])).toBe(1);
    expect([...(keyspace.hashOf('jobs')?.keys() ?? [])].sort()).toEqual(['1', 'limit']);
    // An expired intent keeps nothing free.
    await clock.advance(10);
    keyspace.hashOf('jobs')?.set('i', '1:2:intent-of-two');
    expect(take('third', 2, 2)).toEqual([1, 2, 2, 3]);
    // An `i` field that is not an intent makes the hash someone else's.
    keyspace.hashOf('jobs')?.set('i', 'not-an-intent');
    expect(take('fourth', 1, 1)).toEqual(-2);
  });

  it('refuse a re-sent first call whose token holds fewer slots than it asks for, as the Lua does (scripts.test.ts)', () => {
    const keyspace = new FakeKeyspace(new FakeClock());
    const take = (permits: number) => runPermitScript(keyspace, 'permit-acquire', ['jobs'], permitAcquireArgsOf('t', 10_000, permits, 3, 0, 1, NO_INTENT, ''));
    expect(take(1)).toEqual([1, 1, 1, 2, 3]);
    expect(take(2)).toEqual([0, 2, 3]);
    expect([...(keyspace.hashOf('jobs')?.keys() ?? [])].sort()).toEqual(['1', 'limit']);
  });
});
