import type { Redis } from 'ioredis';
import type { ContenderDefinition } from './contender.js';
import { type FloorNode, floorLock } from './floor-lock.js';
import { TurnCoalescedWrites } from './turn-coalesced-writes.js';

/**
 * The floor's commands through ioredis ({@link floorLock}), each written to its socket as it is sent: one
 * system call per command, as ioredis does by default. Shown for comparison; the reference is
 * {@link floorCoalesced}.
 */
export const floor: ContenderDefinition = {
  name: 'floor',
  kind: 'baseline',
  client: 'ioredis6',
  packageName: 'ioredis SET NX PX + compare-and-delete, one write per command',
  create: ({ clients }) => floorLock(clients.map((client) => ioredisFloorNode(client, false))),
};

/**
 * The reference of every scenario on ioredis: the floor's commands with each socket's writes held until
 * the end of the event loop's turn and sent in one system call, as `redlock-ioredis-adapter` does at its
 * defaults. It corks the socket rather than turning on ioredis's `enableAutoPipelining`: corking adds no
 * work per command (no `Pipeline` object per batch, no extra promise per reply), so it is the least a
 * client that coalesces can do, and the same mechanism as the adapter's.
 */
export const floorCoalesced: ContenderDefinition = {
  name: 'floor-coalesced',
  kind: 'floor',
  client: 'ioredis6',
  packageName: 'ioredis SET NX PX + compare-and-delete, writes coalesced per socket per turn',
  create: ({ clients }) => floorLock(clients.map((client) => ioredisFloorNode(client, true))),
};

/** One node of the floor over an ioredis client; with `coalesce`, its writes wait for the end of the turn. */
function ioredisFloorNode(client: Redis, coalesce: boolean): FloorNode {
  const writes = coalesce ? new TurnCoalescedWrites(client) : undefined;
  return {
    loadScript: (source) => client.script('LOAD', source) as Promise<string>,
    setIfAbsent(resource, token, ttlMs) {
      writes?.hold();
      return client.set(resource, token, 'PX', ttlMs, 'NX').then((reply) => reply === 'OK');
    },
    evalsha(sha1, resource, token) {
      writes?.hold();
      return client.evalsha(sha1, 1, resource, token);
    },
  };
}
