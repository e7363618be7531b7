import type { ContenderDefinition } from './contender.js';
import { floorLock } from './floor-lock.js';
import { connectGlideClients } from './glide-clients.js';

/**
 * The reference for contenders over Valkey GLIDE: the floor's commands ({@link floorLock}) as raw commands
 * (`customCommand`, as `redlock-glide-adapter` sends them). GLIDE's core batches what is sent to a node
 * while a write is in flight, by itself.
 */
export const floorGlide: ContenderDefinition = {
  name: 'floor/glide',
  kind: 'floor',
  client: 'glide',
  packageName: '@valkey/valkey-glide 2.5 SET NX PX + compare-and-delete (customCommand)',
  async create({ clients: ioredisClients }) {
    const clients = await connectGlideClients(ioredisClients);
    return floorLock(
      clients.map((client) => ({
        loadScript: async (source) => String(await client.customCommand(['SCRIPT', 'LOAD', source])),
        setIfAbsent: async (resource, token, ttlMs) => (await client.customCommand(['SET', resource, token, 'PX', String(ttlMs), 'NX'])) === 'OK',
        evalsha: (sha1, resource, token) => client.customCommand(['EVALSHA', sha1, '1', resource, token]),
      })),
    );
  },
};
