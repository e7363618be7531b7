import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Lock, LockAcquireError, NodeError, Redlock, type RedlockOptions } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import {
  connectionRefused,
  FakeNode,
} from '../../src/testing/fake-adapter.js';
import {
  OTHER_OWNER_TOKEN,
} from '../../src/testing/fake-keyspace.js';
import {
  failingNode,
  grantingNode,
  grantingNodes,
  hangingNode,
  hasKey,
  keysOf,
  noScriptOnceNode,
  nodesHoldingToken,
  refusingNode,
  slowNode,
} from '../../src/testing/fake-nodes.js';

/** A Redlock on the fake clock that makes one attempt unless told otherwise. */
function redlockOver(nodes: readonly FakeNode[], clock: FakeClock, options: RedlockOptions = {}): Redlock {
  return new Redlock(nodes, { clock, retryCount: 0, ...options });
}

async function acquireError(clock: FakeClock, acquiring: Promise<Lock>): Promise<LockAcquireError> {
  const error = await clock.runUntilSettled(acquiring).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  if (!(error instanceof LockAcquireError)) throw new Error(`Expected a LockAcquireError, got ${String(error)}`);
  return error;
}

/** Every token the nodes were asked to set, in the order of the attempts. */
function acquireTokens(nodes: readonly FakeNode[]): string[] {
  return [...new Set(nodes.flatMap((node) => node.callsTo('acquire').map((call) => call.args[0] as string)))];
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('quorum', () => {
  it('acquires the lock when 3 of 5 nodes grant it', async () => {
    const clock = new FakeClock();
    const nodes = [...grantingNodes(clock, 3), refusingNode(clock), refusingNode(clock)];
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock).acquire('orders:42', 1000));
    expect(lock).toBeInstanceOf(Lock);
    expect(lock.state).toBe('held');
    expect(lock.resources).toEqual(['orders:42']);
    expect(lock.attempts).toBe(1);
    for (const node of nodes.slice(0, 3)) expect(hasKey(node, 'orders:42', lock.token)).toBe(true);
  });

  it('rejects with LockAcquireError held-by-another-owner when only 2 of 5 nodes grant the lock', async () => {
    const clock = new FakeClock();
    const nodes = [...grantingNodes(clock, 2), refusingNode(clock), refusingNode(clock), refusingNode(clock)];
    const error = await acquireError(clock, redlockOver(nodes, clock).acquire('orders:42', 1000));
    expect(error.reason).toBe('held-by-another-owner');
    expect(error.message).toBe(
      'Could not acquire "orders:42" after 1 attempt: held by another owner (last attempt: 3 held by another owner, 2 acquired, quorum is 3)',
    );
    expect(error.resources).toEqual(['orders:42']);
    expect(error.attempts).toHaveLength(1);
    expect(error.attempts[0]?.nodes).toEqual([
      { nodeIndex: 0, status: 'acquired' },
      { nodeIndex: 1, status: 'acquired' },
      { nodeIndex: 2, status: 'held' },
      { nodeIndex: 3, status: 'held' },
      { nodeIndex: 4, status: 'held' },
    ]);
    expect(error.nodeErrors).toEqual([]);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('rejects with nodes-unreachable and keeps each node error with its index and cause', async () => {
    const clock = new FakeClock();
    const refused = connectionRefused();
    const replyError = new Error('READONLY You can not write against a read only replica');
    const nodes = [grantingNode(clock), grantingNode(clock), failingNode(clock, refused), failingNode(clock, replyError), hangingNode(clock)];
    const error = await acquireError(clock, redlockOver(nodes, clock).acquire('orders:42', 1000));
    expect(error.reason).toBe('nodes-unreachable');
    expect(error.message).toBe(
      'Could not acquire "orders:42" after 1 attempt: nodes unreachable (last attempt: 2 acquired, 2 failed, 1 timed out, quorum is 3)',
    );
    expect(error.nodeErrors.map((nodeError) => nodeError.nodeIndex)).toEqual([2, 3, 4]);
    expect(error.nodeErrors.every((nodeError) => nodeError instanceof NodeError)).toBe(true);
    expect(error.nodeErrors[0]).toMatchObject({ isTimeout: false, cause: refused, message: 'Node 2 failed: connect ECONNREFUSED 127.0.0.1:6379' });
    expect(error.nodeErrors[1]).toMatchObject({ isTimeout: false, cause: replyError });
    expect(error.nodeErrors[2]).toMatchObject({ isTimeout: true, message: 'Node 4 did not answer within 100 ms' });
    expect(error.attempts[0]?.nodes.map((node) => node.status)).toEqual(['acquired', 'acquired', 'error', 'error', 'timeout']);
  });

  it('tolerates a minority of failed nodes and still acquires', async () => {
    const clock = new FakeClock();
    const nodes = [...grantingNodes(clock, 3), failingNode(clock), hangingNode(clock)];
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock).acquire('r', 1000));
    expect(lock.state).toBe('held');
    expect(clock.now()).toBe(0);
  });

  it('works with a single node', async () => {
    const clock = new FakeClock();
    const redlock = redlockOver([grantingNode(clock)], clock);
    expect(redlock.quorum).toBe(1);
    await expect(clock.runUntilSettled(redlock.acquire('r', 1000))).resolves.toBeInstanceOf(Lock);
  });
});

describe('resources and keys', () => {
  it('locks several resources all or nothing on each node', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    nodes[2]!.keyspace.set('b', OTHER_OWNER_TOKEN, 60_000);
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock).acquire(['a', 'b'], 1000));
    expect(lock.resources).toEqual(['a', 'b']);
    expect(keysOf(nodes[0]!).sort()).toEqual(['a', 'b']);
    expect(keysOf(nodes[1]!).sort()).toEqual(['a', 'b']);
    // The node holding one of the keys for someone else set none of ours.
    expect(hasKey(nodes[2]!, 'a')).toBe(false);
    expect(nodes[2]!.keyspace.get('b')).toBe(OTHER_OWNER_TOKEN);
  });

  it('fails a multi-resource lock when a majority holds any one of the keys, leaving none of ours', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    nodes[1]!.keyspace.set('c', 'someone', 60_000);
    nodes[2]!.keyspace.set('a', 'someone', 60_000);
    const error = await acquireError(clock, redlockOver(nodes, clock).acquire(['a', 'b', 'c'], 1000));
    expect(error.reason).toBe('held-by-another-owner');
    expect(error.message).toContain('"a", "b", "c"');
    expect(keysOf(nodes[0]!)).toEqual([]);
    expect(keysOf(nodes[1]!)).toEqual(['c']);
    expect(keysOf(nodes[2]!)).toEqual(['a']);
  });

  it('puts keyPrefix before every key but reports resources without it', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = redlockOver(nodes, clock, { keyPrefix: 'lock:' });
    const lock = await clock.runUntilSettled(redlock.acquire(['orders:1', 'orders:2'], 1000));
    expect(lock.resources).toEqual(['orders:1', 'orders:2']);
    expect(keysOf(nodes[0]!).sort()).toEqual(['lock:orders:1', 'lock:orders:2']);
    expect(nodes[0]!.callsTo('acquire')[0]?.keys).toEqual(['lock:orders:1', 'lock:orders:2']);
  });

  it('names at most three resources in messages, each cut to 60 characters', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), grantingNode(clock)];
    const long = 'x'.repeat(100);
    const error = await acquireError(clock, redlockOver(nodes, clock).acquire([long, 'b', 'c', 'd', 'e'], 1000));
    expect(error.message.startsWith(`Could not acquire "${'x'.repeat(57)}...", "b", "c" and 2 more after 1 attempt`)).toBe(true);
    expect(error.resources).toEqual([long, 'b', 'c', 'd', 'e']);
  });

  it('sends the token and the TTL as strings', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock).acquire('r', 1234));
    // Without a restart grace or fencing, the script's optional arguments are left out.
    expect(nodes[0]!.callsTo('acquire')[0]?.args).toEqual([lock.token, '1234']);
    expect(nodes[0]!.keyspace.pttl('r')).toBe(1234);
  });

  it('sends the restart grace and the fencing flag when either is asked for', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    await clock.advance(10_000); // past the grace: the fake nodes started at 0
    const graced = await clock.runUntilSettled(new Redlock(nodes, { clock, restartGraceMs: 500 }).acquire('a', 1234));
    expect(nodes[0]!.callsTo('acquire')[0]?.args).toEqual([graced.token, '1234', '500', '0']);
    const fenced = await clock.runUntilSettled(redlockOver(nodes, clock).acquire('b', 1234, { fencing: true }));
    expect(nodes[0]!.callsTo('acquire')[1]?.args).toEqual([fenced.token, '1234', '0', '1']);
  });
});

describe('cleanup after a failed attempt', () => {
  it('releases on every node that may hold our token, including failed and timed-out ones, but not on refusing ones', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), refusingNode(clock), failingNode(clock), hangingNode(clock)];
    const error = await acquireError(clock, redlockOver(nodes, clock).acquire('r', 1000));
    // 1 held of 5 cannot deny a quorum: the failed nodes made the difference.
    expect(error.reason).toBe('nodes-unreachable');
    // The failing node is sent its cleanup again (see the next tests), after a pause the rejection does not
    // wait for (nor for the hung node's cleanup); the others once.
    await clock.advance(200);
    expect(nodes.map((node) => Math.min(node.callsTo('release').length, 2))).toEqual([1, 1, 0, 2, 1]);
    const [token] = acquireTokens(nodes);
    expect(nodes.map((node) => node.callsTo('release')[0]?.args[0])).toEqual([token, token, undefined, token, token]);
    expect(nodesHoldingToken(nodes, token!)).toEqual([]);
  });

  it('removes the key a hung node sets when it finally runs the acquire script', async () => {
    const clock = new FakeClock();
    const late = hangingNode(clock);
    const nodes = [grantingNode(clock), refusingNode(clock), refusingNode(clock), grantingNode(clock), late];
    await acquireError(clock, redlockOver(nodes, clock).acquire('r', 1000));
    late.resume();
    await clock.advance(0);
    expect(keysOf(late)).toEqual([]);
  });

  it('releases again when the late "acquired" of a timed-out node arrives after its cleanup failed', async () => {
    const clock = new FakeClock();
    const late = hangingNode(clock);
    late.failNext('release', new Error('ERR release lost'));
    const nodes = [grantingNode(clock), refusingNode(clock), refusingNode(clock), grantingNode(clock), late];
    await acquireError(clock, redlockOver(nodes, clock).acquire('r', 1000));
    const [token] = acquireTokens(nodes);
    late.resume();
    await clock.advance(0);
    expect(late.callsTo('release').map((call) => call.args[0])).toEqual([token, token]);
    expect(keysOf(late)).toEqual([]);
  });

  it('leaves no key with any attempt token on any node after the final failure', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), slowNode(clock, 20), refusingNode(clock), failingNode(clock), hangingNode(clock)];
    const error = await acquireError(clock, redlockOver(nodes, clock, { retryCount: 3 }).acquire('r', 1000));
    expect(error.attempts).toHaveLength(4);
    nodes[4]!.resume();
    await clock.advance(1000 - clock.now() - 1); // still before any key could have expired on its own
    const tokens = acquireTokens(nodes);
    expect(tokens).toHaveLength(4);
    for (const token of tokens) expect(nodesHoldingToken(nodes, token)).toEqual([]);
  });
});

describe('late answers after a successful acquisition', () => {
  it('sends no second release to a late node whose release already deleted our key', async () => {
    const clock = new FakeClock();
    const late = hangingNode(clock);
    const nodes = [...grantingNodes(clock, 3), refusingNode(clock), late];
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock, { nodeTimeoutMs: 500 }).acquire('r', 1000));
    const releasing = lock.release();
    // The node runs the acquire, then the release sent after it on the same connection.
    late.resume();
    expect((await clock.runUntilSettled(releasing)).nodes[4]?.status).toBe('released');
    await clock.advance(10);
    expect(late.callsTo('release')).toHaveLength(1);
    expect(keysOf(late)).toEqual([]);
  });

  it('releases a key set late by a hung node once the lock was released', async () => {
    const clock = new FakeClock();
    const late = hangingNode(clock);
    // Make the ordinary release miss the key, so only the late-answer cleanup can remove it.
    late.failNext('release');
    const nodes = [...grantingNodes(clock, 3), refusingNode(clock), late];
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock).acquire('r', 1000));
    await clock.runUntilSettled(lock.release());
    late.resume();
    await clock.advance(0);
    expect(late.callsTo('release')).toHaveLength(2);
    expect(keysOf(late)).toEqual([]);
  });

  it('releases a key set late by a hung node once the lock expired', async () => {
    const clock = new FakeClock();
    const late = hangingNode(clock);
    const nodes = [...grantingNodes(clock, 3), late];
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock, { nodeTimeoutMs: 10 }).acquire(['r'], 1000));
    await clock.advance(lock.remainingValidityMs);
    expect(lock.state).toBe('expired');
    late.resume();
    await clock.advance(0);
    expect(late.callsTo('release')).toHaveLength(1);
    expect(keysOf(late)).toEqual([]);
  });

  it('leaves a key set late by a slow node while the lock is held, for release() to remove', async () => {
    const clock = new FakeClock();
    const slow = slowNode(clock, 30);
    const nodes = [...grantingNodes(clock, 3), slow];
    const lock = await clock.runUntilSettled(redlockOver(nodes, clock).acquire('r', 1000));
    await clock.advance(30);
    expect(slow.callsTo('release')).toHaveLength(0);
    expect(hasKey(slow, 'r', lock.token)).toBe(true);
    await clock.runUntilSettled(lock.release());
    expect(keysOf(slow)).toEqual([]);
  });
});

describe('retries', () => {
  it('makes exactly one attempt with retryCount 0', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), grantingNode(clock)];
    const error = await acquireError(clock, redlockOver(nodes, clock).acquire('r', 1000));
    expect(error.attempts).toHaveLength(1);
    expect(error.message).toContain('after 1 attempt:');
    expect(nodes.map((node) => node.acquireRequests().length)).toEqual([1, 1, 1]);
  });

  it('makes retryCount + 1 attempts, each with a fresh token', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), grantingNode(clock)];
    const error = await acquireError(clock, redlockOver(nodes, clock, { retryCount: 4 }).acquire('r', 1000));
    expect(error.attempts).toHaveLength(5);
    expect(error.message).toContain('after 5 attempts:');
    expect(nodes[2]!.acquireRequests()).toHaveLength(5);
    expect(acquireTokens(nodes)).toHaveLength(5);
  });

  it('waits retryDelayMs ± retryJitterMs between attempts, on the clock', async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), grantingNode(clock)];
    const redlock = redlockOver(nodes, clock, { retryCount: 30, retryDelayMs: 200, retryJitterMs: 100 });
    await acquireError(clock, redlock.acquire('r', 1000));
    const sentAt = nodes[0]!.acquireRequests().map((call) => call.sentAtMs);
    const pauses = sentAt.slice(1).map((at, index) => at - sentAt[index]!);
    expect(pauses).toHaveLength(30);
    for (const pause of pauses) {
      expect(pause).toBeGreaterThanOrEqual(100);
      expect(pause).toBeLessThanOrEqual(300);
    }
  });

  it('reaches both ends of the jitter range', async () => {
    const clock = new FakeClock();
    const draws = [0, 0.999_999];
    jest.spyOn(Math, 'random').mockImplementation(() => draws.shift() ?? 0.5);
    const nodes = [refusingNode(clock), refusingNode(clock), grantingNode(clock)];
    const redlock = redlockOver(nodes, clock, { retryCount: 2, retryDelayMs: 200, retryJitterMs: 100 });
    await acquireError(clock, redlock.acquire('r', 1000));
    expect(nodes[0]!.acquireRequests().map((call) => call.sentAtMs)).toEqual([0, 100, 400]);
  });

  it("lets per-call retry options override the Redlock's", async () => {
    const clock = new FakeClock();
    const nodes = [refusingNode(clock), refusingNode(clock), grantingNode(clock)];
    const redlock = redlockOver(nodes, clock, { retryCount: 10, retryDelayMs: 1000, retryJitterMs: 500 });
    await acquireError(clock, redlock.acquire('r', 1000, { retryCount: 2, retryDelayMs: 50, retryJitterMs: 0 }));
    expect(nodes[0]!.acquireRequests().map((call) => call.sentAtMs)).toEqual([0, 50, 100]);
  });

  it('succeeds on a later attempt once the other owner is gone, and counts the attempts', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    for (const node of nodes) node.keyspace.set('r', 'someone', 250);
    const redlock = redlockOver(nodes, clock, { retryCount: 5, retryDelayMs: 100, retryJitterMs: 0 });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    expect(lock.attempts).toBe(4);
    expect(clock.now()).toBe(300);
    expect(lock.token).toBe(acquireTokens(nodes)[3]);
  });

  it('collects node errors of every attempt in order', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), failingNode(clock), failingNode(clock)];
    const error = await acquireError(clock, redlockOver(nodes, clock, { retryCount: 1, retryJitterMs: 0 }).acquire('r', 1000));
    expect(error.nodeErrors.map((nodeError) => nodeError.nodeIndex)).toEqual([1, 2, 1, 2]);
  });
});

describe('script cache', () => {
  it('sends each script by EVAL at first contact, behind the probe, and by EVALSHA from then on', async () => {
    const clock = new FakeClock();
    const nodes = [noScriptOnceNode(clock), noScriptOnceNode(clock), noScriptOnceNode(clock)];
    const redlock = redlockOver(nodes, clock);
    // Two resources: a lock on one is taken by a plain SET, not by the script.
    const first = await clock.runUntilSettled(redlock.acquire(['r', 's'], 1000));
    await clock.runUntilSettled(first.release());
    const second = await clock.runUntilSettled(redlock.acquire(['r', 's'], 1000));
    expect(second.state).toBe('held');
    for (const node of nodes) {
      expect(node.calls.map((call) => `${call.method} ${call.script}`)).toEqual(['eval probe', 'eval acquire', 'eval release', 'evalsha acquire']);
    }
  });

  it('recovers when a node forgets its scripts (SCRIPT FLUSH or restart)', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = redlockOver(nodes, clock);
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    await clock.runUntilSettled(lock.extend(1000));
    for (const node of nodes) node.keyspace.flushScripts();
    await clock.runUntilSettled(lock.extend(1000));
    expect(nodes[0]!.callsTo('extend').map((call) => call.method)).toEqual(['eval', 'evalsha', 'eval']);
  });

  it('does not fail an operation for a lost script cache on a far node: the EVAL after NOSCRIPT gets a fresh timeout', async () => {
    const clock = new FakeClock();
    // 30 ms each way a round trip; NOSCRIPT then EVAL takes 60 ms, past the 50 ms node timeout.
    const nodes = grantingNodes(clock, 3);
    const redlock = redlockOver(nodes, clock, { retryCount: 0 });
    const warm = await clock.runUntilSettled(redlock.acquire('warm', 10_000));
    await clock.runUntilSettled(warm.extend(10_000));
    for (const node of nodes) {
      node.requestLatencyMs = 15;
      node.latencyMs = 15;
      node.keyspace.flushScripts();
    }
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    expect(lock.attempts).toBe(1);
    for (const node of nodes) node.keyspace.flushScripts();
    await clock.runUntilSettled(lock.extend(10_000));
    expect(lock.state).toBe('held');
  });

  it('does not time out a node that refused the SET: the script that tells why gets a fresh timeout', async () => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const redlock = redlockOver(nodes, clock);
    // Two resources take the script: every node has it cached from here on, so no NOSCRIPT renews anything below.
    await clock.runUntilSettled((await clock.runUntilSettled(redlock.acquire(['w', 'x'], 10_000))).release());
    // 30 ms a round trip: the refused SET and then the script take 60 ms, past the 50 ms node timeout.
    for (const node of nodes) {
      node.requestLatencyMs = 15;
      node.latencyMs = 15;
      node.keyspace.set('r', 'someone', 10_000);
    }
    // With a retry, each attempt waits for every node (a single try would end at the refusals that settle it).
    const error = await acquireError(clock, redlock.acquire('r', 10_000, { retryCount: 1, retryDelayMs: 100, retryJitterMs: 0 }));
    expect(error.reason).toBe('held-by-another-owner');
    expect(error.attempts.map((attempt) => attempt.nodes.map((node) => node.status))).toEqual([
      ['held', 'held', 'held'],
      ['held', 'held', 'held'],
    ]);
    expect(redlock.nodeHealth().map((node) => node.timeoutsInARow)).toEqual([0, 0, 0]);
    // The round trip taken is the script's, not the two commands'.
    for (const node of redlock.nodeHealth()) expect(node.rttMs).toBeLessThan(35);
  });
});

describe('node timeouts', () => {
  /** Two nodes grant, two refuse, so the vote waits for the last node: a hung one. */
  function splitWithHungLast(clock: FakeClock, last: FakeNode | { adapter: FakeNode; timeoutMs: number }) {
    return [grantingNode(clock), grantingNode(clock), refusingNode(clock), refusingNode(clock), last];
  }

  it.each([
    [400, 50],
    [1000, 100],
    [10_000, 1000],
    [100_000, 1000],
  ])('gives a node never heard from the longest node timeout for a TTL of %i ms: %i ms', async (ttlMs, timeoutMs) => {
    const clock = new FakeClock();
    const error = await acquireError(clock, new Redlock(splitWithHungLast(clock, hangingNode(clock)), { clock, retryCount: 0 }).acquire('r', ttlMs));
    expect(error.attempts[0]?.elapsedMs).toBe(timeoutMs);
    expect(error.nodeErrors[0]?.message).toBe(`Node 4 did not answer within ${timeoutMs} ms`);
  });

  it.each([
    [1000, 50],
    [10_000, 50],
    [100_000, 500],
    [1_000_000, 1000],
  ])('gives a node that answered at once the shortest node timeout for a TTL of %i ms: %i ms', async (ttlMs, timeoutMs) => {
    const clock = new FakeClock();
    const last = grantingNode(clock);
    const redlock = new Redlock(splitWithHungLast(clock, last), { clock, retryCount: 0 });
    // It grants, so the lock is acquired on 3 of 5 nodes; then it stops answering.
    await clock.runUntilSettled((await clock.runUntilSettled(redlock.acquire('r', ttlMs))).release());
    last.hang();
    const error = await acquireError(clock, redlock.acquire('r', ttlMs));
    expect(error.attempts[0]?.elapsedMs).toBe(timeoutMs);
    expect(error.nodeErrors[0]?.message).toBe(`Node 4 did not answer within ${timeoutMs} ms`);
  });

  it("uses the Redlock's nodeTimeoutMs over the derived one", async () => {
    const clock = new FakeClock();
    const redlock = new Redlock(splitWithHungLast(clock, hangingNode(clock)), { clock, retryCount: 0, nodeTimeoutMs: 120 });
    const error = await acquireError(clock, redlock.acquire('r', 1000));
    expect(error.attempts[0]?.elapsedMs).toBe(120);
  });

  it("uses a node's own timeoutMs for that node only", async () => {
    const clock = new FakeClock();
    const far = hangingNode(clock);
    const nodes = [grantingNode(clock), grantingNode(clock), refusingNode(clock), hangingNode(clock), { adapter: far, timeoutMs: 300 }];
    const redlock = new Redlock(nodes, { clock, retryCount: 0, nodeTimeoutMs: 40 });
    const error = await acquireError(clock, redlock.acquire('r', 1000));
    expect(error.nodeErrors.map((nodeError) => nodeError.message)).toEqual([
      'Node 3 did not answer within 40 ms',
      'Node 4 did not answer within 300 ms',
    ]);
    expect(error.attempts[0]?.elapsedMs).toBe(300);
    // The far node's cleanup is sent, not waited for: it timed out, so it would likely time out again.
    expect(clock.now()).toBe(300);
    expect(far.callsTo('release')).toHaveLength(1);
  });
});

describe('faulty adapters', () => {
  it('treats a garbage reply as an error of that node and tolerates it as a minority', async () => {
    const warnings: unknown[][] = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((...args: unknown[]) => void warnings.push(args));
    const clock = new FakeClock();
    const garbage = grantingNode(clock);
    garbage.garbageReply = { value: 'OK' };
    const redlock = redlockOver([...grantingNodes(clock, 3), garbage, refusingNode(clock)], clock);
    // A first contact takes a lock by the script (see misconfigured-nodes.test.ts): met first, the node gets a SET.
    await clock.runUntilSettled(redlock.inspect('first-contact'));
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    expect(lock.state).toBe('held');
    // The garbage answers the identity probe too: the node is used unchecked, and the user is told once.
    expect(warnings).toEqual([
      [
        'Node 3 could not tell which server it is (Unexpected reply to the probe script: "OK"), so the Redlock cannot check that no other node is the same server',
        { type: 'RedlockWarning', code: 'REDLOCK_UNVERIFIED_NODE' },
      ],
    ]);
  });

  it('reports a garbage reply with a clear message', async () => {
    const clock = new FakeClock();
    const garbage = grantingNode(clock);
    garbage.garbageReply = { value: ['unexpected'] };
    const nodes = [grantingNode(clock), grantingNode(clock), refusingNode(clock), refusingNode(clock), garbage];
    const error = await acquireError(clock, redlockOver(nodes, clock).acquire('r', 1000));
    expect(error.attempts[0]?.nodes[4]?.status).toBe('error');
    expect(error.nodeErrors[0]?.message).toBe('Node 4 failed: Unexpected reply to the acquire script: ["unexpected"]');
    expect(error.nodeErrors[0]?.cause).toBeInstanceOf(TypeError);
  });

  it('treats an adapter that throws synchronously as an error of that node', async () => {
    const clock = new FakeClock();
    const broken = grantingNode(clock);
    broken.throwsSynchronously = true;
    const nodes = [...grantingNodes(clock, 3), broken, refusingNode(clock)];
    const redlock = redlockOver(nodes, clock);
    const lock = await clock.runUntilSettled(redlock.acquire('r', 1000));
    expect(lock.state).toBe('held');
    const failing = [grantingNode(clock), broken, refusingNode(clock)];
    const error = await acquireError(clock, redlockOver(failing, clock).acquire('r2', 1000));
    expect(error.nodeErrors[0]).toMatchObject({ nodeIndex: 1, message: 'Node 1 failed: Adapter bug: threw synchronously' });
  });

  it('treats a rejection with a non-Error value as an error of that node', async () => {
    const clock = new FakeClock();
    const odd = { evalsha: () => Promise.reject('a string'), eval: () => Promise.reject('a string') };
    const redlock = new Redlock([grantingNode(clock), odd, refusingNode(clock)], { clock, retryCount: 0 });
    const error = await acquireError(clock, redlock.acquire('r', 1000));
    expect(error.nodeErrors[0]).toMatchObject({ nodeIndex: 1, message: 'Node 1 failed: a string', cause: 'a string' });
  });
});
