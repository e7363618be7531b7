/**
 * The parts of node-redis that the adapter uses, typed structurally so that clients of every supported
 * version fit without this package importing node-redis: `redis` 4, 5 and 6 (`@redis/client` 1, 5 and 6),
 * whatever their modules, scripts, RESP version and type mapping.
 */

/** A single client, from `createClient()`: raw commands through `sendCommand`. */
export interface NodeRedisClient {
  /** Sends one raw command, e.g. `['EVALSHA', sha1, '1', key, token]`, and resolves with its reply. */
  sendCommand(args: string[]): Promise<unknown>;
}

/** A cluster client, from `createCluster()`: raw commands routed by the slot of their first key. */
export interface NodeRedisCluster {
  /** Sends one raw command to the master of `firstKey`'s slot and resolves with its reply. */
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  /** Only checked for, to tell a cluster from a single client at run time. */
  getSlotMaster(slot: number): unknown;
}

/**
 * A listener the adapter adds: it reads neither the message nor the channel (a release notification is
 * the message itself), so it fits every node-redis listener type, strings or Buffers alike.
 */
export type NodeRedisMessageListener = () => void;

/**
 * A client for pub/sub: a single client (e.g. `client.duplicate()`, connected) or a cluster. node-redis
 * counts listeners per channel on the connection itself: SUBSCRIBE for the first, UNSUBSCRIBE after the
 * last one is removed.
 */
export interface NodeRedisSubscriber {
  /** Subscribes `listener` to `channel`; resolves once the node confirmed. */
  subscribe(channel: string, listener: NodeRedisMessageListener): Promise<unknown>;
  /** Removes `listener` from `channel` (node-redis unsubscribes after the last). */
  unsubscribe(channel: string, listener: NodeRedisMessageListener): Promise<unknown>;
}

/** Whether `client` is a cluster client: only `createCluster()` clients have `getSlotMaster`. */
export function isNodeRedisCluster(client: NodeRedisClient | NodeRedisCluster): client is NodeRedisCluster {
  return typeof (client as Partial<NodeRedisCluster>).getSlotMaster === 'function';
}
