import type { ContenderDefinition } from './contender.js';
import { floorLock } from './floor-lock.js';
import { connectNodeRedisClients } from './node-redis-clients.js';

/**
 * The reference for contenders over node-redis 6: the floor's commands ({@link floorLock}) as raw commands
 * (`sendCommand`, as `redlock-node-redis-adapter` sends them). node-redis writes the commands of one turn of
 * the event loop to each socket together by itself, so this floor coalesces as the adapter does.
 */
export const floorNodeRedis: ContenderDefinition = {
  name: 'floor/node-redis',
  kind: 'floor',
  client: 'node-redis',
  packageName: 'redis 6.3 SET NX PX + compare-and-delete (sendCommand)',
  async create({ clients: ioredisClients }) {
    const clients = await connectNodeRedisClients(ioredisClients);
    return floorLock(
      clients.map((client) => ({
        loadScript: (source) => client.sendCommand(['SCRIPT', 'LOAD', source]) as Promise<string>,
        setIfAbsent: async (resource, token, ttlMs) => String(await client.sendCommand(['SET', resource, token, 'PX', String(ttlMs), 'NX'])) === 'OK',
        evalsha: (sha1, resource, token) => client.sendCommand(['EVALSHA', sha1, '1', resource, token]),
      })),
    );
  },
};
