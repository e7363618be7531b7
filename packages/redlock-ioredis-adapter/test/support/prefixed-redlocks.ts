import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach } from '@jest/globals';
import type { Redis } from 'ioredis';
import { Redlock, type RedlockOptions } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import type { RedisTestNodes } from './redis-servers.js';

/** What {@link usePrefixedRedlocks} gives a test file. */
export interface PrefixedRedlocks {
  /** Direct clients to the nodes, for looking at keys; never used for locks. */
  readonly admins: readonly Redis[];
  /** The current test's key prefix, new for each test. */
  readonly prefix: string;
  /** A `Redlock` with connections of its own, as another process would have, on the current test's prefix. */
  newRedlock(options?: RedlockOptions): Redlock;
}

/**
 * Registers the hooks of a file whose tests each make several `Redlock`s on `redis`: admin clients, a key
 * prefix per test (`<name>:<uuid>:`), and every `Redlock` closed after the file.
 */
export function usePrefixedRedlocks(redis: RedisTestNodes, name: string): PrefixedRedlocks {
  let admins: Redis[] = [];
  let prefix = '';
  const redlocks: Redlock[] = [];
  beforeAll(() => {
    admins = redis.urls.map((_, index) => redis.createClient(index, { maxRetriesPerRequest: 1 }));
  });
  beforeEach(() => {
    prefix = `${name}:${randomUUID()}:`;
  });
  afterAll(async () => {
    await Promise.all(redlocks.map((redlock) => redlock.close()));
  });
  return {
    get admins() {
      return admins;
    },
    get prefix() {
      return prefix;
    },
    newRedlock(options = {}) {
      const redlock = new Redlock(
        redis.urls.map((_, index) => new IoredisAdapter(redis.createClient(index))),
        { keyPrefix: prefix, ...options },
      );
      redlocks.push(redlock);
      return redlock;
    },
  };
}
