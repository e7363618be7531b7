import type { ContenderDefinition } from './contender.js';
import { floorLock, rawCommandFloorNode } from './floor-lock.js';
import { connectNodeRedisClients } from './node-redis-clients.js';

/**
 * The reference for contenders over node-redis 6: the floor's commands ({@link floorLock}) through
 * `sendCommand`, as `redlock-node-redis-adapter` sends them. node-redis writes the commands of one turn of
 * the event loop to each socket together by itself, so this floor coalesces as the adapter does.
 */
export const floorNodeRedis: ContenderDefinition = {
  name: 'floor/node-redis',
  kind: 'floor',
  client: 'node-redis',
  packageName: 'redis 6.3 SET NX PX + compare-and-delete (sendCommand)',
  create: async ({ clients }) => floorLock((await connectNodeRedisClients(clients)).map((client) => rawCommandFloorNode((args) => client.sendCommand(args)))),
};
