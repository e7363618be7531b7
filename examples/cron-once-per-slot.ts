// Shows a job that several processes fire for the same slot (every machine's cron at 02:00) running once per
// slot: a lock named after the slot, kept until the slot ends once the job is done. Run: `pnpm --filter redlock-examples run cron-once-per-slot`.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Lock, LockAcquireError, Redlock } from 'redlock-core';
import { openExampleNodes } from './redis-nodes.js';

/** One slot of a daily schedule, in UTC: the resource that names it, and when it ends (ms since the epoch). */
export interface ScheduleSlot {
  readonly resource: string;
  readonly endsAt: number;
}

/**
 * How long the lock of a finished job outlives its slot, in milliseconds: a machine whose clock is behind,
 * or whose cron started late, still names the slot it was scheduled for, and must still find it done.
 */
const SLOT_GRACE_MS = 60 * 60_000;

/**
 * The slot of the nightly job `job` that was scheduled at `scheduledAt`. Named after the time the job was
 * scheduled for, not the time the process got to run it, so a late start still names the right slot.
 */
export function dailySlotOf(job: string, scheduledAt: Date): ScheduleSlot {
  const day = scheduledAt.toISOString().slice(0, 10); // 2026-11-23
  const dayStart = Date.parse(`${day}T00:00:00.000Z`);
  return { resource: `${job}:${day}`, endsAt: dayStart + 24 * 60 * 60_000 };
}

/**
 * Runs `job` for `slot` unless another process ran it or runs it: resolves with `'ran'` or `'skipped'`.
 *
 * - While the job runs, the lock's TTL is `jobTtlMs`, the longest the job may take: the job gets the lock's
 *   signal, which aborts when that time is up, and a process that crashes mid-job frees the slot after it.
 * - When the job succeeds, the lock is extended to the end of the slot and never released: its key, on a
 *   quorum of nodes, is the slot's done marker, so a process that fires late for the same slot skips it.
 * - When the job fails, the lock is released, so a later firing of the same slot may run it again.
 *
 * Rejects with the job's error, or a `LockAcquireError` when too few nodes answered to know.
 */
export async function runOncePerSlot(
  redlock: Redlock,
  slot: ScheduleSlot,
  jobTtlMs: number,
  job: (signal: AbortSignal) => Promise<void>,
): Promise<'ran' | 'skipped'> {
  let lock: Lock;
  try {
    // Processes that fire at the same moment can split the nodes' votes so that no attempt wins; the
    // retries of acquire() (about 2 s by default) settle that, where tryAcquire() would skip in every
    // process. Waiting cannot run the job twice, since a finished job's lock is never released.
    lock = await redlock.acquire(slot.resource, jobTtlMs);
  } catch (error) {
    if (error instanceof LockAcquireError && error.reason === 'held-by-another-owner') return 'skipped';
    throw error;
  }
  try {
    await job(lock.signal);
    lock.assertValid(); // throws a LockLostError if the job outran `jobTtlMs`: then it is not marked done
  } catch (error) {
    await lock.release().catch((releaseError: unknown) => console.warn(`could not release ${slot.resource}; its keys expire after ${jobTtlMs} ms:`, releaseError));
    throw error;
  }
  // Done: keep the key until the slot (and its grace) ends. Never shorter than the job's TTL, which
  // covers a job that finished after its slot. A LockExtendError here means the job ran but is not marked.
  await lock.extend(Math.max(slot.endsAt + SLOT_GRACE_MS - Date.now(), jobTtlMs));
  return 'ran';
}

/** The nightly job of this example: it takes `JOB_MS`, and throws when `FAIL` is set. */
async function buildNightlyReport(slot: ScheduleSlot, signal: AbortSignal): Promise<void> {
  console.log(`building the report for ${slot.resource} in process ${process.pid}`);
  await new Promise((resolve) => setTimeout(resolve, Number(process.env['JOB_MS'] ?? 300)));
  signal.throwIfAborted();
  if (process.env['FAIL'] === 'yes') throw new Error(`the report for ${slot.resource} failed`);
}

/**
 * One cron firing, in a process of its own: `node cron-once-per-slot.js fire <scheduled-at ISO time>`, with
 * `REDIS_URLS` naming the nodes. Prints the outcome as the last line, `ran`, `skipped` or `failed: …`.
 */
async function fire(scheduledAt: Date): Promise<void> {
  const nodes = await openExampleNodes();
  const redlock = new Redlock(nodes.adapters, { keyPrefix: 'lock:' });
  try {
    const slot = dailySlotOf('nightly-report', scheduledAt);
    const outcome = await runOncePerSlot(redlock, slot, 60_000, (signal) => buildNightlyReport(slot, signal));
    console.log(outcome);
  } catch (error) {
    console.log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  } finally {
    await redlock.close();
    await nodes.close();
  }
}

/** Runs `fire` in a child process after `delayMs`, and resolves with the lines it printed. */
async function fireInChild(scheduledAt: Date, urls: readonly string[], delayMs: number, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'fire', scheduledAt.toISOString()], {
    env: { ...process.env, ...env, REDIS_URLS: urls.join(',') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  for await (const line of createInterface({ input: child.stdout })) lines.push(line);
  return lines;
}

/** Fires one slot from three processes, at slightly different times, and prints what each did. */
async function fireThree(title: string, scheduledAt: Date, urls: readonly string[], firstEnv: NodeJS.ProcessEnv = {}): Promise<void> {
  console.log(`\n${title}`);
  // The second fires while the first runs the job; the third after the first has finished.
  const firings = [fireInChild(scheduledAt, urls, 0, firstEnv), fireInChild(scheduledAt, urls, 100, {})];
  await firings[0];
  firings.push(fireInChild(scheduledAt, urls, 0, {}));
  for (const [index, lines] of (await Promise.all(firings)).entries()) {
    console.log(`  process ${index + 1}: ${lines.at(-1)}`);
  }
}

async function demo(): Promise<void> {
  const nodes = await openExampleNodes();
  try {
    const day = 24 * 60 * 60_000;
    const tonight = new Date();
    tonight.setUTCHours(2, 0, 0, 0);
    const nights = [tonight, new Date(tonight.getTime() + day), new Date(tonight.getTime() + 2 * day)];
    if (nodes.local === undefined) {
      // Nodes this demo did not start (REDIS_URLS, docker) may hold the slots of an earlier run: forget them.
      const keys = nights.map((night) => `lock:${dailySlotOf('nightly-report', night).resource}`);
      await Promise.all(nodes.clients.map((client) => client.del(...keys)));
    }
    const [first, second, third] = nights as [Date, Date, Date];
    await fireThree('Three processes fire the 02:00 job of one night: one runs it, whenever the others fire.', first, nodes.urls);
    await fireThree('The next night is another slot: it runs once again.', second, nodes.urls);
    await fireThree('A night whose first run fails: the slot is freed, and a later firing runs the job.', third, nodes.urls, {
      FAIL: 'yes',
    });
  } finally {
    await nodes.close();
  }
}

if (process.argv[2] === 'fire') await fire(new Date(process.argv[3] ?? Date.now()));
else await demo();
