import { onIoredis5, withAutoPipelining } from './client-variants.js';
import { type ContenderDefinition, MATRIX_SCENARIOS } from './contender.js';
import { floor, floorCoalesced } from './floor.js';
import { floorGlide } from './floor-glide.js';
import { floorNodeRedis } from './floor-node-redis.js';
import { nodeRedlock4 } from './node-redlock-4.js';
import { nodeRedlock5 } from './node-redlock-5.js';
import { redisSemaphore } from './redis-semaphore.js';
import { redlockCompat } from './redlock-compat.js';
import { redlockCore } from './redlock-core.js';
import { redlockCoreFair } from './redlock-core-fair.js';
import { redlockCoreGlide } from './redlock-core-glide.js';
import { redlockCoreNodeRedis } from './redlock-core-node-redis.js';
import { redlockCoreObserved } from './redlock-core-observed.js';
import { redlockUniversal, redlockUniversalGlide, redlockUniversalNodeRedis } from './redlock-universal.js';
import { sesamecareRedlock } from './sesamecare-redlock.js';

/** The peers over ioredis, each also with `enableAutoPipelining`. */
const IOREDIS_PEERS = [nodeRedlock5, nodeRedlock4, sesamecareRedlock, redlockUniversal, redisSemaphore].flatMap((peer) => [peer, withAutoPipelining(peer)]);

/** In S1-S4 only (see {@link MATRIX_SCENARIOS}). */
const inMatrix = (definition: ContenderDefinition): ContenderDefinition => ({ ...definition, scenarios: MATRIX_SCENARIOS });

/**
 * Every contender, in table order, client by client. ioredis 6: the floor (coalesced by corking, then one
 * write per command, then coalesced by ioredis's `enableAutoPipelining`), this library (plain, with no-op diagnostics subscribers, fair in S3, and
 * through its node-redlock 5 compatibility package), the peers at their defaults and
 * autopipelined. node-redis and GLIDE: the floor, this library, redlock-universal. ioredis 5: the same as on
 * ioredis 6 but the diagnostics variant.
 */
export const ALL_CONTENDERS: readonly ContenderDefinition[] = [
  floorCoalesced,
  floor,
  withAutoPipelining(floor),
  redlockCore,
  redlockCoreObserved,
  redlockCoreFair,
  redlockCompat,
  ...IOREDIS_PEERS,
  inMatrix(floorNodeRedis),
  redlockCoreNodeRedis,
  inMatrix(redlockUniversalNodeRedis),
  inMatrix(floorGlide),
  redlockCoreGlide,
  inMatrix(redlockUniversalGlide),
  ...[floorCoalesced, floor, withAutoPipelining(floor), redlockCore, redlockCompat, ...IOREDIS_PEERS].map(onIoredis5),
];
