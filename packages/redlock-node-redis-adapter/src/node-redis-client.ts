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
 * A listener the adapter adds: it reads neither the message nor the channel (a wake is the message
 * itself), so it fits every node-redis listener type, strings or Buffers alike.
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

/**
 * A single client that can open a second connection to the same node: every `createClient()` client.
 * The adapter checks for these members at run time and opens its own subscriber through them.
 */
export interface DuplicableNodeRedisClient extends NodeRedisClient {
  /** `false` once the client was closed (or before `connect()`); read before subscribing. */
  readonly isOpen?: boolean;
  /** The client's options; only `name` is read, to name the subscriber connection after it. */
  readonly options?: { readonly name?: string | undefined } | undefined;
  /** A new client with the same options, overridden by `overrides`, not connected yet. */
  duplicate(overrides: { readonly name: string }): OwnedNodeRedisConnection;
  /** Adds a listener for the end of the client: the adapter then closes what it opened. */
  on(event: 'end', listener: () => void): unknown;
  /** Removes a listener added with `on`. */
  off(event: 'end', listener: () => void): unknown;
}

/** The subscriber connection the adapter opened itself, with what it needs to connect, close and hear it fail. */
export interface OwnedNodeRedisConnection extends NodeRedisSubscriber {
  /** `false` once closed, or once its reconnect strategy gave up. */
  readonly isOpen?: boolean;
  connect(): Promise<unknown>;
  /** Closes at once, rejecting what is pending (deprecated for `destroy()` from v5, present in 4 to 6). */
  disconnect(): Promise<unknown>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  /** Each attempt to connect again after the connection was lost. */
  on(event: 'reconnecting', listener: () => void): unknown;
}

/** Whether `client` is a single client the adapter can duplicate for a subscriber connection of its own. */
export function isDuplicableNodeRedisClient(client: NodeRedisClient | NodeRedisCluster): client is DuplicableNodeRedisClient {
  const candidate = client as unknown as Record<string, unknown>;
  return !isNodeRedisCluster(client) && ['duplicate', 'on', 'off'].every((method) => typeof candidate[method] === 'function');
}
