import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { useRedisNodes } from '../../packages/redlock-ioredis-adapter/test/support/redis-servers.js';

// Runs the built example the way cron would: each firing is a Node process of its own, with its own
// clients and Redlock, against real redis-server nodes.
const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cron-once-per-slot.js');
/** How long one firing may run, in milliseconds, before it is killed (and its outcome is missing). */
const FIRING_TIMEOUT_MS = 30_000;
const DAY_MS = 24 * 60 * 60_000;

const redis = useRedisNodes(3);

beforeAll(async () => {
  if (!existsSync(EXAMPLE)) throw new Error('the examples are not built: run `pnpm build` first');
  // External nodes (REDLOCK_TEST_NODES) may keep the slots of an earlier run.
  const keys = [0, 1, 2, 3].map((night) => `lock:nightly-report:${nightAt(night).toISOString().slice(0, 10)}`);
  await Promise.all(redis.urls.map((_, index) => redis.createClient(index).del(...keys)));
});

/** 02:00 UTC, `offsetDays` after today. */
function nightAt(offsetDays: number): Date {
  const night = new Date(Date.now() + offsetDays * DAY_MS);
  night.setUTCHours(2, 0, 0, 0);
  return night;
}

/** What one firing printed: whether it ran the job, and its outcome (its last line). */
interface Firing {
  readonly ranJob: boolean;
  readonly outcome: string | undefined;
}

/** Fires the job scheduled at `scheduledAt` in a process of its own, after `delayMs`. */
async function fire(scheduledAt: Date, { delayMs = 0, env = {} }: { delayMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Firing> {
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  const child = spawn(process.execPath, [EXAMPLE, 'fire', scheduledAt.toISOString()], {
    env: { ...process.env, REDIS_URLS: redis.urls.join(','), JOB_MS: '400', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: FIRING_TIMEOUT_MS,
  });
  const lines: string[] = [];
  for await (const line of createInterface({ input: child.stdout })) lines.push(line);
  return { ranJob: lines.some((line) => line.startsWith('building the report')), outcome: lines.at(-1) };
}

/** Each node's remaining TTL of a slot's lock key, in milliseconds (-2 when it has none). */
async function slotTtlsMs(scheduledAt: Date): Promise<number[]> {
  const key = `lock:nightly-report:${scheduledAt.toISOString().slice(0, 10)}`;
  return Promise.all(redis.urls.map((_, index) => redis.createClient(index).pttl(key)));
}

describe('examples/cron-once-per-slot', () => {
  it('runs a slot once when three processes fire it at the same time', async () => {
    const firings = await Promise.all([fire(nightAt(0)), fire(nightAt(0)), fire(nightAt(0))]);

    expect(firings.filter((firing) => firing.ranJob)).toHaveLength(1);
    expect(firings.map((firing) => firing.outcome).sort()).toEqual(['ran', 'skipped', 'skipped']);
  }, 60_000);

  it('runs a slot once when the processes fire at different times, one after the job finished', async () => {
    const early = await Promise.all([fire(nightAt(1)), fire(nightAt(1), { delayMs: 150 })]);
    const late = await fire(nightAt(1));

    expect([...early, late].filter((firing) => firing.ranJob)).toHaveLength(1);
    expect(late.outcome).toBe('skipped');
    // The finished slot stays marked until its end (at least a day away), not for the job's 60 s TTL.
    for (const ttlMs of await slotTtlsMs(nightAt(1))) expect(ttlMs).toBeGreaterThan(DAY_MS);
  }, 60_000);

  it('runs the next slot once again, while the finished one stays done', async () => {
    const firings = await Promise.all([fire(nightAt(2)), fire(nightAt(2), { delayMs: 100 }), fire(nightAt(1))]);

    expect(firings.map((firing) => firing.outcome)).toEqual([expect.stringMatching(/^(ran|skipped)$/), expect.stringMatching(/^(ran|skipped)$/), 'skipped']);
    expect(firings.slice(0, 2).filter((firing) => firing.ranJob)).toHaveLength(1);
    expect(firings[2]?.ranJob).toBe(false);
  }, 60_000);

  it('frees the slot when the job fails, so a later firing runs it', async () => {
    const failed = await fire(nightAt(3), { env: { FAIL: 'yes' } });
    const retried = await fire(nightAt(3));

    expect(failed).toEqual({ ranJob: true, outcome: 'failed: the report for nightly-report:' + nightAt(3).toISOString().slice(0, 10) + ' failed' });
    expect(retried).toEqual({ ranJob: true, outcome: 'ran' });
  }, 60_000);
});
