import { describe, expect, it } from '@jest/globals';
import { LockAcquireError, Redlock } from '../../src/index.js';
import { NodeLatency, RTT_SAMPLE_SPACING_MS } from '../../src/nodes/node-latency.js';
import { FakeClock } from '../support/fake-clock.js';
import { type FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNode, grantingNodes, keysOf, slowNode } from '../../src/testing/fake-nodes.js';

/** Five nodes whose replies take these round trips, in milliseconds. */
function topology(clock: FakeClock, rttsMs: readonly number[]): FakeNode[] {
  return rttsMs.map((rttMs) => slowNode(clock, rttMs));
}

async function cycle(clock: FakeClock, redlock: Redlock, resource = 'r', ttlMs = 10_000): Promise<number> {
  const start = clock.now();
  const lock = await clock.runUntilSettled(redlock.acquire(resource, ttlMs));
  const acquiredAfterMs = clock.now() - start;
  await clock.runUntilSettled(lock.release());
  return acquiredAfterMs;
}

describe('adaptive node timeouts', () => {
  it('acquires over nodes 0, 0, 70, 70 and 140 ms away at defaults, from the first call on, at the quorum-th round trip', async () => {
    const clock = new FakeClock();
    const nodes = topology(clock, [0, 0, 70, 70, 140]);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    for (let index = 0; index < 20; index += 1) expect(await cycle(clock, redlock, `r${index}`)).toBe(70);
    await clock.advance(1_000);
    expect(redlock.nodeHealth().map((node) => node.timeoutsInARow)).toEqual([0, 0, 0, 0, 0]);
    expect(redlock.nodeHealth().map((node) => Math.round(node.rttMs ?? -1))).toEqual([0, 0, 70, 70, 140]);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('extends and releases over far nodes with no tuning', async () => {
    const clock = new FakeClock();
    const nodes = topology(clock, [0, 0, 70, 70, 140]);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    for (let index = 0; index < 5; index += 1) await clock.runUntilSettled(lock.extend(10_000));
    const released = await clock.runUntilSettled(lock.release());
    expect((await clock.runUntilSettled(released.settled)).map((node) => node.status)).toEqual(['released', 'released', 'released', 'released', 'released']);
  });

  it('fails the first attempt over a far node when a fixed nodeTimeoutMs is shorter than its round trip', async () => {
    const clock = new FakeClock();
    const redlock = new Redlock(topology(clock, [0, 0, 70, 70, 140]), { clock, retryCount: 0, nodeTimeoutMs: 50 });
    const error = await clock.runUntilSettled(redlock.acquire('r', 10_000)).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    expect((error as LockAcquireError).reason).toBe('nodes-unreachable');
  });

  it('waits longer for a node that slowed down, after one timeout, instead of counting it as failed on every call', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), grantingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    for (let index = 0; index < 5; index += 1) await cycle(clock, redlock);
    // Measured near: the shortest timeout for a 10 s TTL, 50 ms. Now it is 120 ms away, and its vote is needed.
    nodes[2]!.latencyMs = 120;
    nodes[0]!.keyspace.isHeldByAnotherOwner = true;
    const error = await clock.runUntilSettled(redlock.acquire('r', 10_000)).catch((failure: unknown) => failure);
    expect((error as LockAcquireError).nodeErrors.map((nodeError) => nodeError.message)).toContain('Node 2 did not answer within 50 ms');
    await clock.advance(500);
    // Its late answers were measured, and the next timeouts allow for them.
    for (let index = 0; index < 5; index += 1) expect(await cycle(clock, redlock, `after-${index}`)).toBe(120);
    expect(redlock.nodeHealth()[2]).toMatchObject({ state: 'up', timeoutsInARow: 0 });
    expect(redlock.nodeHealth()[2]?.rttMs).toBeGreaterThan(60);
  });

  it('fails the tries of a node that steps from near to a 300 ms round trip until its probe comes back, which measures it', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), grantingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    for (let index = 0; index < 5; index += 1) await cycle(clock, redlock, `warm-${index}`);
    // Node 0 refuses, so every vote needs node 2, measured near (a 50 ms timeout) and now 300 ms away.
    nodes[0]!.keyspace.isHeldByAnotherOwner = true;
    nodes[2]!.latencyMs = 300;
    const failedAtMs: number[] = [];
    const startMs = clock.now();
    // A try every 50 ms or so for 2 s, each releasing in the background, as a busy worker does.
    while (clock.now() - startMs < 2_000) {
      const triedAtMs = clock.now();
      const lock = await clock.runUntilSettled(redlock.acquire(`step-${triedAtMs}`, 10_000)).catch(() => undefined);
      if (lock === undefined) failedAtMs.push(triedAtMs - startMs);
      else void lock.release();
      await clock.advance(50);
    }
    // The first try times out after 50 ms; the next one is the probe of the node gone silent: its vote waits
    // 50 ms (the node's pace until then) and fails, the probe itself up to 1 s. The tries while the probe is
    // out fail at once; its answer, 300 ms after it went, measures the node, and no try fails from then on.
    expect(failedAtMs.slice(0, 2)).toEqual([0, 100]);
    expect(Math.max(...failedAtMs)).toBeLessThan(100 + 300);
    expect(redlock.nodeHealth()[2]).toMatchObject({ state: 'up', timeoutsInARow: 0 });
    expect(redlock.nodeHealth()[2]?.rttMs).toBeGreaterThan(100);
  });

  /** Five nodes 4 ms away, warmed up; node 4 then stops answering (a paused server) and falls silent at its first timeout. */
  async function withNode4Paused(clock: FakeClock): Promise<{ nodes: FakeNode[]; redlock: Redlock }> {
    const nodes = topology(clock, [4, 4, 4, 4, 4]);
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    for (let index = 0; index < 5; index += 1) await cycle(clock, redlock, `warm-${index}`);
    nodes[4]!.hang();
    await clock.runUntilSettled(redlock.acquire('first', 10_000).then((lock) => lock.release()));
    await clock.advance(100);
    expect(redlock.nodeHealth()[4]).toMatchObject({ state: 'down', probeInMs: 0 });
    // Two nodes refuse, two grant: the next attempt's vote turns on node 4, whose call is the probe.
    nodes[2]!.keyspace.isHeldByAnotherOwner = true;
    nodes[3]!.keyspace.isHeldByAnotherOwner = true;
    return { nodes, redlock };
  }

  it("decides a split vote without a silent node's probe once it had as long again as the other nodes took, and frees its grants then", async () => {
    const clock = new FakeClock();
    const { nodes, redlock } = await withNode4Paused(clock);
    const startedAt = clock.now();
    const error = await clock.runUntilSettled(redlock.acquire('split', 10_000).catch((failure: unknown) => failure));
    expect(error).toBeInstanceOf(LockAcquireError);
    // The others settled by 8 ms (nodes 2 and 3 after a second call, which reads the holder): the vote gave
    // the probe 8 ms more, then the failure took the grants back, not the node's pace (50 ms) nor its ceiling (1 s).
    expect(clock.now() - startedAt).toBeGreaterThanOrEqual(16);
    expect(clock.now() - startedAt).toBeLessThan(50);
    // The grants were taken back at the failure: other processes may take the lock.
    expect(keysOf(nodes[0]!)).not.toContain('split');
    expect(keysOf(nodes[1]!)).not.toContain('split');
    // The probe still runs to its own end: the node stays down, its next probe due later.
    await clock.advance(1_000);
    expect(redlock.nodeHealth()[4]).toMatchObject({ state: 'down' });
    expect(redlock.nodeHealth()[4]?.probeInMs).toBeGreaterThan(0);
    // The node resumes and runs the probe's command after all: its late grant is taken back.
    nodes[4]!.resume();
    await clock.advance(100);
    const splitCalls = nodes[4]!.calls.filter((call) => call.keys.includes('split')).map((call) => call.script);
    expect(splitCalls[0]).toBe('acquire');
    expect(splitCalls.slice(1)).toContain('release');
    expect(keysOf(nodes[4]!)).not.toContain('split');
  });

  it("counts the probe of a node back from its pause in a split vote when it answers a little after the others", async () => {
    const clock = new FakeClock();
    const { nodes, redlock } = await withNode4Paused(clock);
    const startedAt = clock.now();
    const acquired = redlock.acquire('split', 10_000);
    // The node resumes 2 ms into the attempt and answers its probe 8 ms later, 2 ms after the others settled.
    await clock.advance(2);
    nodes[4]!.latencyMs = 8;
    nodes[4]!.resume();
    const lock = await clock.runUntilSettled(acquired);
    expect(clock.now() - startedAt).toBe(10);
    expect(lock.resources).toEqual(['split']);
    expect(redlock.nodeHealth()[4]).toMatchObject({ state: 'up' });
  });

  it('counts a node that stopped answering as down at its first timeout, and sends it nothing more but a probe', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), grantingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    for (let index = 0; index < 5; index += 1) await cycle(clock, redlock, `warm-${index}`);
    nodes[2]!.hang();
    // An acquire and its lock's release, with the near node's 50 ms timeout.
    await cycle(clock, redlock, 'a');
    await clock.advance(50);
    expect(redlock.nodeHealth()[2]).toMatchObject({ state: 'down', timeoutsInARow: 2 });
    const sent = nodes[2]!.calls.length;
    // The probe (an acquire, given the ceiling: 1 s for a 10 s TTL) and its lock's release; nothing after.
    for (let index = 0; index < 50; index += 1) {
      await cycle(clock, redlock, `b${index}`);
      await clock.advance(10);
    }
    expect(nodes[2]!.calls.length - sent).toBe(2);
  });

  it('takes the round trip of one of the calls that start together, and of a call that starts later', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), grantingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    const rttMs = (): number | undefined => redlock.nodeHealth()[0]?.rttMs;
    // A node answers a call after the latency it had when the call was sent.
    const setLatency = (ms: number): void => nodes.forEach((node) => (node.latencyMs = ms));
    setLatency(10);
    const first = redlock.acquire('a', 10_000);
    setLatency(40);
    const second = redlock.acquire('b', 10_000);
    const locks = await clock.runUntilSettled(Promise.all([first, second]));
    expect(rttMs()).toBe(10);
    await clock.runUntilSettled(Promise.all(locks.map((lock) => lock.release())));
    // Released at 40 ms (releases are not measured): the next call starts later, and is measured.
    await cycle(clock, redlock, 'c');
    expect(rttMs()).toBe(0.875 * 10 + 0.125 * 40);
  });

  it(`takes one round trip per ${RTT_SAMPLE_SPACING_MS} ms of call starts, the first one, and every one after a timeout`, () => {
    const latency = new NodeLatency();
    expect(latency.wantsRoundTripOf(100)).toBe(true);
    latency.recordAnswer(5, 100);
    // Calls that start within the spacing of the last measured one (either side: answers come in any order).
    for (const startMs of [100, 100 + RTT_SAMPLE_SPACING_MS - 0.5, 100 - RTT_SAMPLE_SPACING_MS + 0.5]) expect(latency.wantsRoundTripOf(startMs)).toBe(false);
    expect(latency.wantsRoundTripOf(100 + RTT_SAMPLE_SPACING_MS)).toBe(true);
    // After a timeout the node may have slowed down: every answer counts until one comes.
    latency.timeoutMs(10_000, 1);
    latency.recordTimeout();
    expect(latency.wantsRoundTripOf(100.5)).toBe(true);
    latency.recordAnswer(60, 100.5);
    expect(latency.wantsRoundTripOf(101)).toBe(false);
    expect(latency.smoothedRttMs).toBe(0.875 * 5 + 0.125 * 60);
  });

  it('waits no longer than TTL / 10 for a near node that stopped answering, and counts it as down at its first timeout', async () => {
    const clock = new FakeClock();
    const nodes = [grantingNode(clock), grantingNode(clock), grantingNode(clock), grantingNode(clock), grantingNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    await cycle(clock, redlock, 'r', 1000);
    nodes[4]!.hang();
    nodes[3]!.keyspace.isHeldByAnotherOwner = true;
    nodes[2]!.keyspace.isHeldByAnotherOwner = true;
    const elapsedMs: number[] = [];
    for (let index = 0; index < 20 && redlock.nodeHealth()[4]?.state !== 'down'; index += 1) {
      const start = clock.now();
      await clock.runUntilSettled(redlock.acquire(`x${index}`, 1000).catch(() => undefined));
      elapsedMs.push(clock.now() - start);
    }
    // The first attempt waits 50 ms for node 4's vote (it was measured near): then it is down.
    expect(elapsedMs).toEqual([50]);
    expect(redlock.nodeHealth()[4]?.state).toBe('down');
    // The next attempt carries its probe, given the ceiling (100 ms for a 1 s TTL), which its vote waits for
    // only as long again as the other nodes took (they answer at once here: 1 ms); the one after that does
    // not wait for it at all.
    const waitedMs: number[] = [];
    for (const resource of ['probe', 'after-probe']) {
      const start = clock.now();
      await clock.runUntilSettled(redlock.acquire(resource, 1000).catch(() => undefined));
      waitedMs.push(clock.now() - start);
    }
    expect(waitedMs).toEqual([1, 0]);
  });

  it('acquires, extends and releases over nodes 120 ms away under a 1 s TTL, from the second attempt on, with the validity left', async () => {
    const clock = new FakeClock();
    const nodes = topology(clock, [120, 120, 120]);
    const redlock = new Redlock(nodes, { clock });
    // Unmeasured, the nodes get a tenth of the TTL: the first attempt times out, and their late answers set their pace.
    const first = await clock.runUntilSettled(redlock.acquire('first', 1_000));
    expect(first.attempts).toBe(2);
    await clock.runUntilSettled(first.release());
    for (let index = 0; index < 3; index += 1) {
      const start = clock.now();
      const lock = await clock.runUntilSettled(redlock.acquire(`r${index}`, 1_000));
      expect(clock.now() - start).toBe(120);
      // 1,000 - 120 - the drift (1% of the TTL + 2 ms).
      expect(lock.remainingValidityMs).toBe(868);
      await clock.runUntilSettled(lock.extend(1_000));
      expect(lock.remainingValidityMs).toBe(868);
      await clock.runUntilSettled(lock.release());
    }
    await clock.advance(1_000);
    expect(redlock.nodeHealth().map((node) => node.timeoutsInARow)).toEqual([0, 0, 0]);
    expect(nodes.flatMap(keysOf)).toEqual([]);
  });

  it('gives a node its measured pace beyond TTL / 10, up to TTL / 2 and 1 s, and TTL / 10 after a timeout until it answers again', () => {
    const far = new NodeLatency();
    // Unmeasured: a tenth of a 1 s TTL.
    expect(far.timeoutMs(1_000, 1)).toBe(100);
    far.recordAnswer(120, 0);
    expect(far.timeoutMs(1_000, 1)).toBe(160);
    // It may have stopped answering: the tenth again, however often it times out, until an answer.
    far.recordTimeout();
    expect(far.timeoutMs(1_000, 1)).toBe(100);
    far.recordTimeout();
    expect(far.timeoutMs(1_000, 1)).toBe(100);
    far.recordAnswer(120, 5);
    expect(far.timeoutMs(1_000, 1)).toBe(160);
    // Slower than half the TTL: not waited for beyond it; 1 s at most, however long the TTL.
    far.recordAnswer(700, 10);
    far.recordAnswer(700, 20);
    far.recordAnswer(700, 25);
    expect(far.timeoutMs(1_000, 1)).toBe(500);
    far.recordAnswer(1_500, 30);
    far.recordAnswer(1_500, 40);
    expect(far.timeoutMs(60_000, 1)).toBe(1_000);
    // A near node's doubling stays within the tenth: 50, 100, 100 ms for a 1 s TTL.
    const near = new NodeLatency();
    near.recordAnswer(1, 0);
    const timeoutsMs = [near.timeoutMs(1_000, 1)];
    for (let index = 0; index < 2; index += 1) {
      near.recordTimeout();
      timeoutsMs.push(near.timeoutMs(1_000, 1));
    }
    expect(timeoutsMs).toEqual([50, 100, 100]);
  });

  it('lets a node of its own timeoutMs keep it, whatever its round trip', async () => {
    const clock = new FakeClock();
    const far = slowNode(clock, 70);
    const redlock = new Redlock([grantingNode(clock), grantingNode(clock), { adapter: far, timeoutMs: 60 }], { clock, retryCount: 0 });
    const lock = await clock.runUntilSettled(redlock.acquire('r', 10_000));
    await clock.runUntilSettled(lock.release());
    await clock.advance(500);
    // Its late answer counts as an answer and is measured, and it keeps its 60 ms.
    expect(redlock.nodeHealth()[2]).toMatchObject({ state: 'up', timeoutsInARow: 0, rttMs: 70 });
    const timeoutsBefore = redlock.stats().nodes[2]?.timeouts ?? 0;
    const next = await clock.runUntilSettled(redlock.acquire('next', 10_000));
    await clock.advance(60);
    expect(redlock.stats().nodes[2]?.timeouts).toBe(timeoutsBefore + 1);
    await clock.runUntilSettled(next.release());
  });
});

/** One call of {@link callInALoop}: when it started, the timeout it got, the node's round trip, whether it timed out. */
interface EvaluatedCall {
  readonly startMs: number;
  readonly timeoutMs: number;
  readonly rttMs: number;
  readonly timedOut: boolean;
}

/**
 * One caller on a virtual clock calling one node over and over, as a worker retrying does: each call gets
 * the node's timeout for a 10 s TTL (floor 50 ms, ceiling 1 s), settles at its answer or at its timeout,
 * and the next one starts `pauseMs` later. A late answer still reaches the latency when it comes (in
 * time order with the timeouts, as the fan-out hands them over), so later calls see it.
 */
function callInALoop(rttMsOf: (startMs: number) => number, options: { readonly pauseMs: number; readonly untilMs?: number; readonly callCount?: number }): EvaluatedCall[] {
  const latency = new NodeLatency();
  const pending: { readonly atMs: number; readonly rttMs?: number; readonly startMs: number }[] = [];
  let lastAnswerAtMs = -Infinity;
  const deliverUntil = (nowMs: number): void => {
    pending.sort((a, b) => a.atMs - b.atMs);
    while (pending.length > 0 && pending[0]!.atMs <= nowMs) {
      const event = pending.shift()!;
      // A timeout tells the node is silent only when nothing was answered since the call went out (see CircuitBreaker).
      if (event.rttMs === undefined) {
        if (lastAnswerAtMs <= event.startMs) latency.recordTimeout();
        continue;
      }
      lastAnswerAtMs = event.atMs;
      if (latency.wantsRoundTripOf(event.startMs)) latency.recordAnswer(event.rttMs, event.startMs);
    }
  };
  const calls: EvaluatedCall[] = [];
  const { untilMs = Infinity, callCount = Infinity } = options;
  for (let startMs = 0; startMs < untilMs && calls.length < callCount; ) {
    deliverUntil(startMs);
    const timeoutMs = latency.timeoutMs(10_000, 1);
    const rttMs = rttMsOf(startMs);
    const timedOut = rttMs > timeoutMs;
    // At one instant the answer goes first, as an answer due with the timeout beats it in the fan-out.
    pending.push({ atMs: startMs + rttMs, rttMs, startMs });
    if (timedOut) pending.push({ atMs: startMs + timeoutMs, startMs });
    calls.push({ startMs, timeoutMs, rttMs, timedOut });
    startMs += (timedOut ? timeoutMs : rttMs) + options.pauseMs;
  }
  return calls;
}

/** A fixed pseudo-random sequence in [0, 1) (a 32-bit linear congruential generator), the same on every run. */
function pseudoRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

function mostInARow(calls: readonly EvaluatedCall[]): number {
  let most = 0;
  let inARow = 0;
  for (const call of calls) {
    inARow = call.timedOut ? inARow + 1 : 0;
    most = Math.max(most, inARow);
  }
  return most;
}

const countTimeouts = (calls: readonly EvaluatedCall[]): number => calls.filter((call) => call.timedOut).length;

/**
 * What RFC 6298's rule (SRTT + max(10 ms, 4 × RTTVAR), the rule before the window, with the doubling applied
 * below the floor) gave in each scenario below, measured by this harness: the bar each figure must meet.
 */
const RFC_6298 = {
  outlier: { firstTimeoutMs: 1_000, answersUntilBack: 18 },
  stepUp: { timeouts: 2, mostInARow: 2, firstAfterLateAnswerTimedOut: false },
  jitter: { uniform: 10, exponentialTail: 649 },
  alternating: { pause100Ms: { failed: 20, calls: 326 }, pause20Ms: { failed: 135, calls: 1255 } },
};

/**
 * The timeout rule on synthetic round trips: one caller, a 10 s TTL, see {@link callInALoop}. Each scenario
 * states the figures the rule gives, so a change of rule shows what it changes, and holds them to
 * {@link RFC_6298}'s.
 */
describe('adaptive node timeouts on synthetic round trips', () => {
  it('(a) one 900 ms answer on a 1 ms link: answers until the timeout is back under 100 ms', () => {
    let outlierStartMs: number | undefined;
    const calls = callInALoop(
      (startMs) => {
        if (startMs < 2_000 || outlierStartMs !== undefined) return 1;
        outlierStartMs = startMs;
        return 900;
      },
      { pauseMs: 100, untilMs: 10_000 },
    );
    const afterOutlier = calls.filter((call) => call.startMs > outlierStartMs! + 900);
    const answersUntilBack = afterOutlier.findIndex((call) => call.timeoutMs <= 100);
    // The next call still waits for a node this slow (it may be the first of a step up); one fast answer later, no more.
    expect({ firstTimeoutMs: afterOutlier[0]?.timeoutMs, answersUntilBack }).toEqual({ firstTimeoutMs: 1_000, answersUntilBack: 1 });
    expect(answersUntilBack).toBeLessThanOrEqual(5);
    expect(RFC_6298.outlier.answersUntilBack).toBeGreaterThan(5);
  });

  it('(b) a step from 1 ms to 300 ms, retrying 200 ms after each call: timeouts, most in a row, and the first call after the first late answer', () => {
    const calls = callInALoop((startMs) => (startMs < 2_000 ? 1 : 300), { pauseMs: 200, untilMs: 10_000 });
    const firstLateAnswerAtMs = calls.find((call) => call.timedOut)!.startMs + 300;
    const afterIt = calls.find((call) => call.startMs >= firstLateAnswerAtMs)!;
    const figures = { timeouts: countTimeouts(calls), mostInARow: mostInARow(calls), firstAfterLateAnswerTimedOut: afterIt.timedOut };
    // The call after the timeout is the probe of a silent node, given the ceiling: it waits for 300 ms.
    expect(figures).toEqual({ timeouts: 1, mostInARow: 1, firstAfterLateAnswerTimedOut: false });
    expect(figures.timeouts).toBeLessThan(RFC_6298.stepUp.timeouts);
  });

  it('(c) a jittery 70 ms link: spurious timeouts in 20 000 calls, uniform 50-90 ms and with an exponential tail', () => {
    const uniform = pseudoRandom(7);
    const tail = pseudoRandom(7);
    const uniformCalls = callInALoop(() => 50 + 40 * uniform(), { pauseMs: 100, callCount: 20_000 });
    // 60 ms plus an exponential wait of mean 20 ms: mostly 60-100 ms, one answer in 50 above 140 ms.
    const tailCalls = callInALoop(() => 60 - 20 * Math.log(1 - tail()), { pauseMs: 100, callCount: 20_000 });
    const figures = { uniform: countTimeouts(uniformCalls), exponentialTail: countTimeouts(tailCalls) };
    expect(figures).toEqual({ uniform: 1, exponentialTail: 374 });
    expect(figures.uniform).toBeLessThanOrEqual(RFC_6298.jitter.uniform);
    expect(figures.exponentialTail).toBeLessThanOrEqual(RFC_6298.jitter.exponentialTail);
  });

  it('(d) a node alternating between 1 ms and 400 ms each second for 60 s: failed calls, retrying after 100 ms and after 20 ms', () => {
    const alternating = (startMs: number): number => (Math.floor(startMs / 1_000) % 2 === 1 ? 400 : 1);
    const every100Ms = callInALoop(alternating, { pauseMs: 100, untilMs: 60_000 });
    const every20Ms = callInALoop(alternating, { pauseMs: 20, untilMs: 60_000 });
    const figures = {
      pause100Ms: { failed: countTimeouts(every100Ms), calls: every100Ms.length },
      pause20Ms: { failed: countTimeouts(every20Ms), calls: every20Ms.length },
    };
    // After 100 ms, the window still holds the last slow second's answers when the next one starts; after
    // 20 ms it does not, and each step up fails one call: the next gets the ceiling.
    expect(figures).toEqual({ pause100Ms: { failed: 1, calls: 357 }, pause20Ms: { failed: 30, calls: 1093 } });
    expect(figures.pause100Ms.failed / figures.pause100Ms.calls).toBeLessThanOrEqual(RFC_6298.alternating.pause100Ms.failed / RFC_6298.alternating.pause100Ms.calls);
    expect(figures.pause20Ms.failed / figures.pause20Ms.calls).toBeLessThanOrEqual(RFC_6298.alternating.pause20Ms.failed / RFC_6298.alternating.pause20Ms.calls);
  });

  it('never sets a timeout above the ceiling (1 s for a 10 s TTL), whatever the round trips', () => {
    const random = pseudoRandom(3);
    const calls = callInALoop(() => (random() < 0.1 ? 5_000 * random() : 1 + 400 * random()), { pauseMs: 10, callCount: 5_000 });
    expect(Math.max(...calls.map((call) => call.timeoutMs))).toBe(1_000);
  });

  it('gives a node that timed out the ceiling until it answers again, however many of its calls time out', () => {
    const latency = new NodeLatency();
    latency.recordAnswer(1, 0);
    expect(latency.timeoutMs(10_000, 1)).toBe(50);
    latency.recordTimeout();
    expect(latency.timeoutMs(10_000, 1)).toBe(1_000);
    latency.recordTimeout();
    expect(latency.timeoutMs(10_000, 1)).toBe(1_000);
    latency.recordAnswer(1, 1_000);
    expect(latency.timeoutMs(10_000, 1)).toBe(50);
  });
});
