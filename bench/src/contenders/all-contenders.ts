import type { ContenderDefinition } from './contender.js';
import { floor } from './floor.js';
import { nodeRedlock4 } from './node-redlock-4.js';
import { nodeRedlock5 } from './node-redlock-5.js';
import { redisSemaphore } from './redis-semaphore.js';
import { redlockCore } from './redlock-core.js';
import { redlockCoreGlide } from './redlock-core-glide.js';
import { redlockCoreNodeRedis } from './redlock-core-node-redis.js';
import { redlockUniversal } from './redlock-universal.js';
import { sesamecareRedlock } from './sesamecare-redlock.js';

/** Every contender, in table order: the floor, this library (over ioredis, node-redis, GLIDE), then the peers. */
export const ALL_CONTENDERS: readonly ContenderDefinition[] = [
  floor,
  redlockCore,
  redlockCoreNodeRedis,
  redlockCoreGlide,
  nodeRedlock5,
  nodeRedlock4,
  sesamecareRedlock,
  redlockUniversal,
  redisSemaphore,
];
