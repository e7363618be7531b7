import { setTimeout as delay } from 'node:timers/promises';
import { expect } from '@jest/globals';
import type { TestNodes } from 'redlock-adapter-test-kit';
import { type RedisAdapter, Redlock } from 'redlock-core';
// Test-only deep import: the wait queue's name is internal to the core's scripts, and read here as they write it.
import { QUEUE_OF_LUA, WAKE_CHANNEL_PREFIX } from '../../../redlock-core/src/scripts/wake-queue.js';

/** A retry delay far beyond {@link WAKE_LIMIT_MS}: only a release notification can wake a waiter in time. */
export const HAND_OFF_RETRY_DELAY_MS = 15_000;
/** How soon after the release a notified waiter must hold the lock, in milliseconds; generous for a loaded machine. */
export const WAKE_LIMIT_MS = 5_000;

/**
 * Lua: how many connections are subscribed to the wake channels of the members of the wait queue of
 * KEYS[1] (named as the core's scripts name it).
 */
export const WAKE_LISTENERS_LUA = `${QUEUE_OF_LUA}
local queue = queueOf(KEYS[1])
local count = 0
if queue ~= nil then
  for _, member in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
    count = count + redis.call('PUBSUB', 'NUMSUB', '${WAKE_CHANNEL_PREFIX}' .. member)[2]
  end
end
return count`;

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

/** How many connections of node `index` listen for the wakes of the processes queued for `key` there. */
export async function wakeListenerCountOf(nodes: TestNodes, index: number, key: string): Promise<number> {
  return Number(await nodes.command(index, ['EVAL', WAKE_LISTENERS_LUA, '1', key]));
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
 * {@link HAND_OFF_RETRY_DELAY_MS}, releases once the waiter is queued on node 0 and listens for its wake there,
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
    expect(await eventually(() => wakeListenerCountOf(nodes, 0, resource), (count) => count >= 1, 10_000)).toBeGreaterThanOrEqual(1);
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
