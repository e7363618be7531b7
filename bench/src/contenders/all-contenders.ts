import type { ContenderDefinition } from './contender.js';
import { floor } from './floor.js';
import { nodeRedlock4 } from './node-redlock-4.js';
import { nodeRedlock5 } from './node-redlock-5.js';
import { redisSemaphore } from './redis-semaphore.js';
import { redlockCore } from './redlock-core.js';
import { redlockCoreGlide } from './redlock-core-glide.js';
import { redlockCoreNodeRedis } from './redlock-core-node-redis.js';
import { redlockCoreObserved } from './redlock-core-observed.js';
import { redlockUniversal } from './redlock-universal.js';
import { sesamecareRedlock } from './sesamecare-redlock.js';

/**
 * Every contender, in table order: the floor, this library (over ioredis, with no-op diagnostics
 * subscribers, over node-redis, over GLIDE), then the peers.
 */
export const ALL_CONTENDERS: readonly ContenderDefinition[] = [
  floor,
  redlockCore,
  redlockCoreObserved,
  redlockCoreNodeRedis,
  redlockCoreGlide,
  nodeRedlock5,
  nodeRedlock4,
  sesamecareRedlock,
  redlockUniversal,
  redisSemaphore,
];
