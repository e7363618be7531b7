import { expect } from '@jest/globals';
import type { Redis } from 'ioredis';
import { type RedisAdapter, Redlock } from 'redlock-core';
import { eventually } from './eventually.js';

/** A retry delay far beyond {@link WAKE_LIMIT_MS}: only a release notification can wake a waiter in time. */
export const HAND_OFF_RETRY_DELAY_MS = 15_000;
/** How soon after the release a notified waiter must hold the lock, in milliseconds; generous for a loaded machine. */
export const WAKE_LIMIT_MS = 5_000;

/** What {@link handOff} needs: two adapters to the same node, and a way to see the waiter subscribed. */
export interface HandOffOptions {
  /** Takes the lock first; its adapter's notifications do not matter. */
  readonly holder: RedisAdapter;
  /** Waits for the lock with a retry delay of {@link HAND_OFF_RETRY_DELAY_MS}. */
  readonly waiter: RedisAdapter;
  readonly resource: string;
  /** How many connections listen on the channel the release will be published on. */
  readonly subscriberCount: () => Promise<number>;
}

/**
 * Holds `resource` through `holder`, starts a waiter through `waiter`, releases once the waiter listens on
 * the channel the release is published on, and expects the waiter to hold the lock within
 * {@link WAKE_LIMIT_MS}, long before its retry timer. Resolves with how long that took after the release,
 * in milliseconds.
 */
export async function handOff({ holder, waiter, resource, subscriberCount }: HandOffOptions): Promise<number> {
  const holding = new Redlock([holder]);
  const waiting = new Redlock([waiter], { retryDelayMs: HAND_OFF_RETRY_DELAY_MS, retryJitterMs: 0 });
  const lock = await holding.acquire(resource, 30_000);
  const next = waiting.acquire(resource, 30_000);
  try {
    expect(await eventually(subscriberCount, (count) => count >= 1, 10_000)).toBeGreaterThanOrEqual(1);
  } finally {
    await lock.release();
  }
  const releasedAt = performance.now();
  const taken = await within(WAKE_LIMIT_MS, next, `The waiter was not woken by the release notification within ${WAKE_LIMIT_MS} ms`);
  const wokenAfterMs = performance.now() - releasedAt;
  expect(taken.state).toBe('held');
  await taken.release();
  return wokenAfterMs;
}

/** The names of the connections a node lists in `CLIENT LIST`, read through `admin`. */
export async function connectionNamesOn(admin: Redis): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list
    .split('\n')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name !== '');
}

/** How many connections of the node `admin` reaches are subscribed to `channel`. */
export async function subscriberCountOf(admin: Redis, channel: string): Promise<number> {
  const reply = (await admin.pubsub('NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

/** Waits until `count` connections are subscribed to `channel` (at most `limitMs`), and resolves with the last count read. */
export function subscribersOf(admin: Redis, channel: string, count: number, limitMs = 10_000): Promise<number> {
  return eventually(() => subscriberCountOf(admin, channel), (read) => read === count, limitMs);
}

/** Resolves like `promise`, or rejects with `message` if it takes longer than `timeoutMs`. */
export async function within<T>(timeoutMs: number, promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
