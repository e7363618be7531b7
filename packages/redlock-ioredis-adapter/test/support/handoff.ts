import { expect } from '@jest/globals';
import type { Cluster, Redis } from 'ioredis';
import { type RedisAdapter, Redlock } from 'redlock-core';
// Test-only deep import: the wait queue's name is internal to the core's scripts, and read here as they write it.
import { QUEUE_OF_LUA, WAKE_CHANNEL_PREFIX } from '../../../redlock-core/src/scripts/wake-queue.js';
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
  /** How many connections listen for the waiter's wakes, e.g. {@link wakeListenerCountOf} of the key. */
  readonly subscriberCount: () => Promise<number>;
}

/**
 * Holds `resource` through `holder`, starts a waiter through `waiter`, releases once the waiter listens on
 * the channel the release will wake it on, and expects the waiter to hold the lock within
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

/**
 * Lua: each member of the wait queue of KEYS[1] (named as the core's scripts name it), followed by how many
 * connections are subscribed to its wake channel.
 */
export const WAKE_LISTENERS_LUA = `${QUEUE_OF_LUA}
local queue = queueOf(KEYS[1])
local reply = {}
if queue ~= nil then
  for _, member in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
    reply[#reply + 1] = member
    reply[#reply + 1] = redis.call('PUBSUB', 'NUMSUB', '${WAKE_CHANNEL_PREFIX}' .. member)[2]
  end
end
return reply`;

/**
 * The processes queued for a wake at the release of `key` on the node `admin` reaches, each by its queue
 * member, with how many connections of that node listen on its wake channel, in queue order. `admin`
 * prefixes `key` with its own ioredis `keyPrefix`, if it has one; a `Cluster` asks the node of its slot.
 */
export async function wakeListenersOf(admin: Redis | Cluster, key: string): Promise<Map<string, number>> {
  const reply = (await admin.eval(WAKE_LISTENERS_LUA, 1, key)) as (string | number)[];
  const listeners = new Map<string, number>();
  for (let index = 0; index < reply.length; index += 2) listeners.set(String(reply[index]), Number(reply[index + 1]));
  return listeners;
}

/** How many connections listen for the wakes of the processes queued for `key` on the node `admin` reaches. */
export async function wakeListenerCountOf(admin: Redis | Cluster, key: string): Promise<number> {
  let count = 0;
  for (const listening of (await wakeListenersOf(admin, key)).values()) count += listening;
  return count;
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
