import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis, RedisOptions } from 'ioredis';
import { type Election, type Leader, LockAcquireError, LockExtendError, LockInspectError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { eventually } from '../support/eventually.js';
import { itWithFaults, useRedisNodes } from '../support/redis-servers.js';

// Leader election end to end on three real nodes: a crashed leader's process, a resignation, and what an
// observer sees. The timing bounds are the mechanism's (a TTL, a retry pause), with room for a busy machine;
// the figures themselves are measured by bench/scripts/election.mjs.
const ADAPTER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TTL_MS = 1_000;
/** The retry pause of the waiting campaigner: after a crash, it takes over at its first retry past the TTL. */
const RETRY_DELAY_MS = 200;
/** Room for a busy machine on top of each bound. */
const SLACK_MS = 2_000;

const redis = useRedisNodes(3);
let redlocks: Redlock[] = [];

/** A `Redlock` of its own (a process of its own, as far as the nodes can tell) over the three nodes. */
function redlockWith(retryDelayMs: number): Redlock {
  const redlock = new Redlock([0, 1, 2].map((index) => new IoredisAdapter(redis.createClient(index))), { retryDelayMs, retryJitterMs: 0 });
  redlocks.push(redlock);
  return redlock;
}

beforeAll(() => {
  redlocks = [];
});
afterAll(async () => {
  await Promise.all(redlocks.map((redlock) => redlock.close()));
});

/** Leads `NAME` in a process of its own, prints its term, and then does nothing until it is killed. */
const LEAD_UNTIL_KILLED = `
import { Redis } from 'ioredis';
import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
const clients = process.env.REDIS_URLS.split(',').map((url) => new Redis(url));
const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)));
const leadership = await redlock.election(process.env.NAME, { ttlMs: ${TTL_MS} }).campaign('child');
console.log(String(leadership.term));
`;

describe('an election on three real nodes', () => {
  it('keeps a live leader leading, and hands over once its killed process\'s lease runs out, with a greater term', async () => {
    const name = `election-test:${randomUUID()}`;
    const child = spawn(process.execPath, ['--input-type=module', '--eval', LEAD_UNTIL_KILLED], {
      cwd: ADAPTER_DIR,
      env: { ...process.env, REDIS_URLS: redis.urls.join(','), NAME: name },
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 30_000,
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
      const childTerm = Number(line);
      const election = redlockWith(RETRY_DELAY_MS).election(name, { ttlMs: TTL_MS });
      expect(await election.leader()).toEqual({ value: 'child', term: childTerm });
      let isLeading = false;
      const campaigning = election.campaign('parent').then((leadership) => {
        isLeading = true;
        return leadership;
      });
      // Alive, the child keeps its leadership extended past its TTL.
      await new Promise((resolve) => setTimeout(resolve, TTL_MS + RETRY_DELAY_MS));
      expect(isLeading).toBe(false);
      child.kill('SIGKILL');
      const killedAt = performance.now();
      await exited;
      const leadership = await campaigning;
      const takeOverMs = performance.now() - killedAt;
      expect(leadership.term).toBeGreaterThan(childTerm);
      // The child extended its lease at most TTL_MS before the kill: a take-over comes after the lease ends
      // (at most TTL_MS after the kill), at the next retry.
      expect(takeOverMs).toBeLessThan(TTL_MS + RETRY_DELAY_MS + SLACK_MS);
      expect(await election.leader()).toEqual({ value: 'parent', term: leadership.term });
      await leadership.resign();
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);

  it('hands over at a resignation and tells an observer at once, well before any retry or poll', async () => {
    const name = `election-test:${randomUUID()}`;
    // Only the release notification and the label announcement can explain a hand-over or an observation
    // sooner than these.
    const [first, second] = [redlockWith(60_000).election(name), redlockWith(60_000).election(name)];
    const observer = redlockWith(60_000).election(name, { pollMs: 60_000 });
    const controller = new AbortController();
    const seen: { leader: Leader | undefined; atMs: number }[] = [];
    const observing = (async () => {
      for await (const leader of observer.observe({ signal: controller.signal })) seen.push({ leader, atMs: performance.now() });
    })().catch(() => undefined);
    const leading = await first.campaign('first');
    const campaigning = second.campaign('second');
    // Before the resignation: the second campaign queued on a node and listening for release notifications
    // on every node, the observer listening for label changes on every node. Waited for, not slept on: on a
    // busy machine they take longer, and a resignation before them is only seen at a retry or a poll.
    const admins = redis.urls.map((_, index) => redis.createClient(index));
    const numsub = async (admin: (typeof admins)[number], channel: string): Promise<number> => Number(((await admin.pubsub('NUMSUB', channel)) as unknown[])[1]);
    const readiness = async (): Promise<{ queued: string[]; wakeListeners: number[]; labelListeners: number[] }> => {
      const queued = [...new Set((await Promise.all(admins.map((admin) => admin.zrange(`{${name}}:w`, '0', '-1')))).flat())];
      const wakeListeners = await Promise.all(admins.map(async (admin) => (queued.length === 1 ? numsub(admin, `redlock:wake:${queued[0]}`) : 0)));
      const labelListeners = await Promise.all(admins.map((admin) => numsub(admin, `redlock:label:${name}`)));
      return { queued, wakeListeners, labelListeners };
    };
    const isReady = ({ queued, wakeListeners, labelListeners }: Awaited<ReturnType<typeof readiness>>): boolean =>
      queued.length === 1 && wakeListeners.every((count) => count > 0) && labelListeners.every((count) => count > 0);
    const ready = await eventually(readiness, isReady, 10_000);
    expect({ ...ready, isReady: isReady(ready) }).toMatchObject({ isReady: true });
    const resignedAt = performance.now();
    await leading.resign();
    const next = await campaigning;
    const handOverMs = performance.now() - resignedAt;
    while (seen.at(-1)?.leader?.value !== 'second') await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await observing;
    expect(handOverMs).toBeLessThan(SLACK_MS);
    expect(seen.at(-1)!.atMs - resignedAt).toBeLessThan(SLACK_MS);
    // Nobody may be seen between the two (the label cleared, the next not yet written), never another leader.
    expect(seen.flatMap(({ leader }) => (leader === undefined ? [] : [leader]))).toEqual([
      { value: 'first', term: leading.term },
      { value: 'second', term: next.term },
    ]);
    expect(next.term).toBeGreaterThan(leading.term);
    await next.resign();
  }, 30_000);
});

/** An observation of `election` running in the background: what it yielded, and how it ended. */
function observing(election: Election): { readonly seen: (Leader | undefined)[]; readonly ended: Promise<unknown>; until(isDone: (seen: readonly (Leader | undefined)[]) => boolean, what: string): Promise<void>; stop(): Promise<unknown> } {
  const seen: (Leader | undefined)[] = [];
  const controller = new AbortController();
  const ended = (async () => {
    for await (const leader of election.observe({ signal: controller.signal })) seen.push(leader);
  })().then(
    () => 'returned',
    (error: unknown) => error,
  );
  return {
    seen,
    ended,
    async until(isDone, what) {
      await eventually(() => seen, isDone, 10_000);
      if (!isDone(seen)) throw new Error(`The observer never saw ${what}: it saw ${JSON.stringify(seen)}`);
    },
    stop() {
      controller.abort(new Error('stopped'));
      return ended;
    },
  };
}

describe('an observer of an election on three real nodes', () => {
  it('reports a lock of the election that no campaign labelled as nobody, whatever term its label claims, and follows the next leader', async () => {
    const name = `election-test:${randomUUID()}`;
    const campaigner = redlockWith(RETRY_DELAY_MS).election(name);
    const observer = observing(redlockWith(60_000).election(name, { pollMs: 100 }));
    try {
      const first = await campaigner.campaign('first');
      await observer.until((seen) => seen.at(-1)?.value === 'first', 'the first leader');
      await first.resign();
      // A plain lock and a fenced one, taken by hand, each labelled as a leader of a later term.
      const plain = await redlockWith(RETRY_DELAY_MS).acquire(name, 5_000);
      await plain.setLabel(JSON.stringify({ term: 999, value: 'impostor' }));
      await delay(300);
      await plain.release();
      const fenced = await redlockWith(RETRY_DELAY_MS).acquire(name, 5_000, { fencing: true });
      await fenced.setLabel(JSON.stringify({ term: fenced.fencingToken! + 1, value: 'impostor' }));
      await delay(300);
      await fenced.release();
      const next = await campaigner.campaign('next');
      await observer.until((seen) => seen.at(-1)?.value === 'next', 'the next leader');
      expect(observer.seen.filter((leader) => leader !== undefined)).toEqual([
        { value: 'first', term: first.term },
        { value: 'next', term: next.term },
      ]);
      await next.resign();
    } finally {
      await observer.stop();
    }
  }, 30_000);

  it('follows the leader a quorum reports after FLUSHALL started the terms again from 1', async () => {
    const name = `election-test:${randomUUID()}`;
    const campaigner = redlockWith(RETRY_DELAY_MS).election(name);
    const observer = observing(redlockWith(60_000).election(name, { pollMs: 100 }));
    try {
      for (const value of ['a1', 'a2', 'a3']) {
        const leadership = await campaigner.campaign(value);
        await observer.until((seen) => seen.at(-1)?.value === value, value);
        await leadership.resign();
      }
      // Every fencing counter is gone: a new epoch, which the README tells observers about.
      await redis.flushAll();
      const next = await campaigner.campaign('b1');
      expect(next.term).toBe(1);
      await observer.until((seen) => seen.at(-1)?.value === 'b1', 'the leader of the new epoch');
      expect(observer.seen.at(-1)).toEqual({ value: 'b1', term: 1 });
      await next.resign();
    } finally {
      await observer.stop();
    }
  }, 30_000);

  it('reads at most a few more times per poll interval while its label channel is flooded with announcements', async () => {
    const name = `election-test:${randomUUID()}`;
    const admins = redis.urls.map((_, index) => redis.createClient(index));
    const leadership = await redlockWith(RETRY_DELAY_MS).election(name, { ttlMs: 30_000 }).campaign('leader');
    const observer = observing(redlockWith(60_000).election(name, { pollMs: 1_000 }));
    try {
      await observer.until((seen) => seen.at(-1)?.value === 'leader', 'the leader');
      await Promise.all(admins.map((admin) => admin.config('RESETSTAT')));
      const floodMs = 2_000;
      const floodUntil = performance.now() + floodMs;
      let published = 0;
      // Every node announces, as fast as a client can publish there.
      await Promise.all(
        admins.map(async (admin) => {
          while (performance.now() < floodUntil) {
            await admin.publish(`redlock:label:${name}`, '1');
            published += 1;
          }
        }),
      );
      const scriptCalls = (await Promise.all(admins.map((admin) => admin.info('commandstats')))).map(scriptCallsIn);
      // A read calls every node once: in 2 s, at most 3 polls and 4 announced reads per started second,
      // 2 s of them plus one window started before. Before the limit: a read per announcement heard.
      const reads = Math.max(...scriptCalls);
      expect(published).toBeGreaterThan(300);
      expect(reads).toBeLessThanOrEqual(3 + 4 * 3);
      expect(observer.seen.filter((leader) => leader !== undefined)).toEqual([{ value: 'leader', term: leadership.term }]);
    } finally {
      await observer.stop();
      await leadership.resign();
    }
  }, 30_000);

  itWithFaults('ends with a LockInspectError once reads keep failing past the moment the leader it read could have lost its lock', async () => {
    const name = `election-test:${randomUUID()}`;
    const leaderRedlock = redlockWith(RETRY_DELAY_MS);
    const leadership = await leaderRedlock.election(name, { ttlMs: TTL_MS }).campaign('leader');
    const observer = observing(redlockWith(60_000).election(name, { pollMs: 200 }));
    try {
      await observer.until((seen) => seen.at(-1)?.value === 'leader', 'the leader');
      const lost = new Promise<number>((resolve) => leadership.signal.addEventListener('abort', () => resolve(performance.now()), { once: true }));
      redis.nodes[1]!.pause();
      redis.nodes[2]!.pause();
      const lostAt = await lost;
      // The observer must not keep naming the leader while it cannot read: it ends about when the leader's
      // lock could have expired, as the leader's own signal told. Bounded, with room for a busy machine.
      // The bound's timer is cancelled once the observer ended: left pending, it kept the process 15 s longer.
      const bound = new AbortController();
      const endedAt = await Promise.race([observer.ended.then(() => performance.now()), delay(15_000, Infinity, { signal: bound.signal }).catch(() => Infinity)]);
      bound.abort();
      expect(endedAt - lostAt).toBeLessThan(SLACK_MS + TTL_MS);
      expect(await observer.ended).toBeInstanceOf(LockInspectError);
      expect(observer.seen.filter((leader) => leader !== undefined)).toEqual([{ value: 'leader', term: leadership.term }]);
    } finally {
      redis.nodes[1]!.resume();
      redis.nodes[2]!.resume();
      await observer.stop();
      await leadership.resign().catch(() => undefined);
    }
  }, 40_000);
});

describe('a leadership on three real nodes', () => {
  it.each(['maxExtensions', 'redlock.close()'] as const)('no longer says it leads from the moment its signal aborts at %s', async (cause) => {
    const redlock = redlockWith(RETRY_DELAY_MS);
    const leadership = await redlock.election(`election-test:${randomUUID()}`, { ttlMs: TTL_MS }).campaign('leader', cause === 'maxExtensions' ? { maxExtensions: 1 } : {});
    const atAbort: [string, boolean][] = [];
    const aborted = new Promise((resolve) =>
      leadership.signal.addEventListener(
        'abort',
        () => {
          atAbort.push([leadership.state, leadership.isLeading]);
          resolve(undefined);
        },
        { once: true },
      ),
    );
    if (cause === 'redlock.close()') await redlock.close();
    await aborted;
    expect(atAbort).toEqual([['lost', false]]);
    expect(leadership.remainingValidityMs).toBeGreaterThan(0);
    await leadership.resign();
  });

  itWithFaults('keeps writing the value it leads with after a proclaim() that a quorum did not take', async () => {
    const name = `election-test:${randomUUID()}`;
    const election = redlockWith(RETRY_DELAY_MS).election(name, { ttlMs: 3_000 });
    const leadership = await election.campaign('v1');
    const admins = redis.urls.map((_, index) => redis.createClient(index));
    const labelKey = `{${name}}:label`;
    redis.nodes[1]!.pause();
    redis.nodes[2]!.pause();
    try {
      await expect(leadership.proclaim('v2')).rejects.toThrow(LockExtendError);
    } finally {
      redis.nodes[1]!.resume();
      redis.nodes[2]!.resume();
    }
    expect(leadership.value).toBe('v1');
    // Node 0 took v2. The next automatic extension (half the TTL on) writes v1 there again.
    expect(await admins[0]!.get(labelKey)).toContain('"value":"v2"');
    const labels = await eventually(() => Promise.all(admins.map((admin) => admin.get(labelKey))), (values) => values.every((value) => value?.includes('"value":"v1"')), 5_000);
    expect(labels.map((value) => value?.includes('"value":"v1"'))).toEqual([true, true, true]);
    expect(leadership.isLeading).toBe(true);
    expect(await election.leader()).toEqual({ value: 'v1', term: leadership.term });
    await leadership.resign();
  }, 30_000);
});

describe('campaign() with a wait, on three real nodes', () => {
  it('rejects with a LockAcquireError held-by-another-owner once its wait ran out while another leads', async () => {
    const name = `election-test:${randomUUID()}`;
    const leadership = await redlockWith(RETRY_DELAY_MS).election(name).campaign('leader');
    try {
      const error = await redlockWith(RETRY_DELAY_MS).election(name).campaign('standby', { waitMs: 500 }).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(LockAcquireError);
      expect(error).toMatchObject({ reason: 'held-by-another-owner', waitMs: 500 });
    } finally {
      await leadership.resign();
    }
  });

  itWithFaults('rejects with a LockAcquireError naming each node once its wait ran out with no quorum reachable', async () => {
    const name = `election-test:${randomUUID()}`;
    const redlock = new Redlock([0, 1, 2].map((index) => new IoredisAdapter(redis.createClient(index))), { retryDelayMs: RETRY_DELAY_MS, nodeTimeoutMs: 200 });
    redlocks.push(redlock);
    await redlock.inspect(name);
    redis.nodes[1]!.pause();
    redis.nodes[2]!.pause();
    try {
      const error = await redlock.election(name).campaign('standby', { waitMs: 1_500 }).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(LockAcquireError);
      const { reason, waitMs, attempts, nodeErrors } = error as LockAcquireError;
      expect({ reason, waitMs }).toEqual({ reason: 'nodes-unreachable', waitMs: 1_500 });
      // Each paused node timed out, or, once known silent, failed at once.
      const [first, ...paused] = attempts.at(-1)?.nodes.map((node) => node.status) ?? [];
      expect(first).toBe('acquired');
      expect(paused.map((status) => status === 'timeout' || status === 'error')).toEqual([true, true]);
      expect(new Set(nodeErrors.map((nodeError) => nodeError.nodeIndex))).toEqual(new Set([1, 2]));
    } finally {
      redis.nodes[1]!.resume();
      redis.nodes[2]!.resume();
    }
  });
});

/** The EVALSHA and EVAL calls in a node's `INFO commandstats`. */
function scriptCallsIn(info: string): number {
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(match[1]);
  return calls;
}

/** Client options as the adapter README recommends: fail at once while disconnected, reconnect soon. */
const RESTART_CLIENT_OPTIONS: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50, connectTimeout: 1_000 };

/** Milliseconds each node has been up, as INFO reports it (whole seconds), by node index. */
async function uptimesMs(admins: readonly Redis[]): Promise<number[]> {
  const infos = await Promise.all(admins.map((admin) => admin.info('server')));
  return infos.map((info) => Number(/uptime_in_seconds:(\d+)/.exec(info)?.[1] ?? 0) * 1000);
}

describe('an election through a rolling restart of nodes without persistence, with restartGraceMs set', () => {
  itWithFaults('keeps its leader, and gives the next leader a greater term: the extensions set the fencing counters again', async () => {
    const admins = redis.urls.map((_, index) => redis.createClient(index));
    const clients = redis.urls.map((_, index) => redis.createClient(index, RESTART_CLIENT_OPTIONS));
    const redlock = new Redlock(
      clients.map((client) => new IoredisAdapter(client)),
      { retryDelayMs: RETRY_DELAY_MS, restartGraceMs: TTL_MS },
    );
    redlocks.push(redlock);
    await eventually(() => uptimesMs(admins), (uptimes) => uptimes.every((uptimeMs) => uptimeMs >= TTL_MS), 10_000);
    const election = redlock.election(`election-test:${randomUUID()}`, { ttlMs: TTL_MS });
    // A term above 1, so that a counter lost everywhere shows.
    await (await election.campaign('warm-up')).resign();
    const leadership = await election.campaign('leader');
    expect(leadership.term).toBeGreaterThan(1);
    for (const node of redis.nodes) {
      // Two TTLs: the leader extends (and re-seeds the node restarted before) at least twice meanwhile.
      await delay(2 * TTL_MS);
      await node.kill();
      await node.start();
    }
    await delay(2 * TTL_MS);
    expect(leadership.state).toBe('leading');
    await leadership.resign();
    const next = await election.campaign('next');
    expect(next.term).toBeGreaterThan(leadership.term);
    await next.resign();
  }, 40_000);
});
