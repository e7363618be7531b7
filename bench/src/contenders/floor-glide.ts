import type { ContenderDefinition } from './contender.js';
import { floorLock, rawCommandFloorNode } from './floor-lock.js';
import { connectGlideClients } from './glide-clients.js';

/**
 * The reference for contenders over Valkey GLIDE: the floor's commands ({@link floorLock}) through
 * `customCommand`, as `redlock-glide-adapter` sends them. GLIDE's core batches what is sent to a node while
 * a write is in flight, by itself.
 */
export const floorGlide: ContenderDefinition = {
  name: 'floor/glide',
  kind: 'floor',
  client: 'glide',
  packageName: '@valkey/valkey-glide 2.5 SET NX PX + compare-and-delete (customCommand)',
  create: async ({ clients }) => floorLock((await connectGlideClients(clients)).map((client) => rawCommandFloorNode((args) => client.customCommand(args)))),
};
