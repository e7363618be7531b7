import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Leader, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { useRedisNodes } from '../support/redis-servers.js';

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
    // Queued on the nodes, and listening for their release notifications, before the resignation.
    await new Promise((resolve) => setTimeout(resolve, 300));
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
