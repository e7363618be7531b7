import { setTimeout as delay } from 'node:timers/promises';
import { expect } from '@jest/globals';
import type { TestNodes } from 'redlock-adapter-test-kit';
import { type RedisAdapter, Redlock } from 'redlock-core';

/** A retry delay far beyond {@link WAKE_LIMIT_MS}: only a release notification can wake a waiter in time. */
export const HAND_OFF_RETRY_DELAY_MS = 15_000;
/** How soon after the release a notified waiter must hold the lock, in milliseconds; generous for a loaded machine. */
export const WAKE_LIMIT_MS = 5_000;
/** The start of every release channel (redlock-core's `releaseChannelOf`). */
export const RELEASE_CHANNEL_PREFIX = 'redlock:released:';

/**
 * Reads `read()` every 20 ms until `isDone` accepts its value or `limitMs` passed, and resolves with the
 * last value read, for the test to assert on.
 */
export async function eventually<T>(read: () => Promise<T> | T, isDone: (value: T) => boolean, limitMs: number): Promise<T> {
  const deadline = performance.now() + limitMs;
  let value = await read();
  while (!isDone(value) && performance.now() < deadline) {
    await delay(20);
    value = await read();
  }
  return value;
}

/** How many connections of node `index` are subscribed to `channel`, read with PUBSUB NUMSUB. */
export async function subscriberCountOf(nodes: TestNodes, index: number, channel: string): Promise<number> {
  const reply = (await nodes.command(index, ['PUBSUB', 'NUMSUB', channel])) as unknown[];
  return Number(reply[1]);
}

/** The names of the connections node `index` lists in `CLIENT LIST` (unnamed ones left out). */
export async function connectionNamesOn(nodes: TestNodes, index: number): Promise<string[]> {
  const list = String(await nodes.command(index, ['CLIENT', 'LIST']));
  return list
    .split('\n')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name !== '');
}

/**
 * Holds `resource` through `holder`, starts a waiter through `waiter` with a retry delay of
 * {@link HAND_OFF_RETRY_DELAY_MS}, releases once the waiter listens on the release channel of node 0,
 * and expects the waiter to hold the lock within {@link WAKE_LIMIT_MS}. Resolves with how long that took
 * after the release, in milliseconds.
 */
export async function handOff(nodes: TestNodes, holder: RedisAdapter, waiter: RedisAdapter, resource: string): Promise<number> {
  const holding = new Redlock([holder]);
  const waiting = new Redlock([waiter], { retryDelayMs: HAND_OFF_RETRY_DELAY_MS, retryJitterMs: 0 });
  const lock = await holding.acquire(resource, 30_000);
  const next = waiting.acquire(resource, 30_000);
  next.catch(() => undefined);
  try {
    expect(await eventually(() => subscriberCountOf(nodes, 0, RELEASE_CHANNEL_PREFIX + resource), (count) => count >= 1, 10_000)).toBeGreaterThanOrEqual(1);
  } finally {
    await lock.release();
  }
  const releasedAt = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const tooLate = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`The waiter was not woken by the release notification within ${WAKE_LIMIT_MS} ms`)), WAKE_LIMIT_MS);
  });
  try {
    const taken = await Promise.race([next, tooLate]);
    const wokenAfterMs = performance.now() - releasedAt;
    expect(taken.state).toBe('held');
    await taken.release();
    return wokenAfterMs;
  } finally {
    clearTimeout(timer);
  }
}
