/**
 * The parts of Valkey GLIDE (`@valkey/valkey-glide` 2) that the adapter uses, typed structurally so that
 * this package imports nothing from GLIDE: its `GlideClient` and `GlideClusterClient` fit as they are.
 */

/**
 * GLIDE's `Decoder.String`: replies as strings, whatever the client's `defaultDecoder`, since the core's
 * reply parsers read strings. A unit test compares it with GLIDE's enum.
 */
export const GLIDE_STRING_DECODER = 1;

/** GLIDE's `PubSubChannelModes.Pattern`, the same for standalone and cluster clients. */
export const GLIDE_PATTERN_MODE = 1;

/**
 * Subscriptions made after the client was created (GLIDE 2.3 and later): each resolves once the node
 * confirmed, or rejects after `timeoutMs`. GLIDE subscribes again after every reconnection.
 */
export interface GlideDynamicSubscriptions {
  /** Subscribes to `channels` (SUBSCRIBE). */
  subscribe?(channels: Iterable<string>, timeoutMs: number): Promise<void>;
  /** Unsubscribes from `channels` (UNSUBSCRIBE). */
  unsubscribe?(channels: Iterable<string> | null, timeoutMs: number): Promise<void>;
  /** Unsubscribes from `patterns` (PUNSUBSCRIBE): the adapter drops the configuration's pattern with it. */
  punsubscribe?(patterns: Iterable<string> | null, timeoutMs: number): Promise<void>;
}

/** Whether `client` can subscribe after it was created (GLIDE 2.3 and later). */
export function canSubscribeLater(client: GlideDynamicSubscriptions): client is Required<GlideDynamicSubscriptions> {
  return typeof client.subscribe === 'function' && typeof client.unsubscribe === 'function' && typeof client.punsubscribe === 'function';
}

/** A standalone client, from `GlideClient.createClient()`: raw commands through `customCommand`. */
export interface GlideStandalone extends GlideDynamicSubscriptions {
  /** Sends one raw command, e.g. `['EVALSHA', sha1, '1', key, token]`, and resolves with its reply. */
  customCommand(args: string[], options?: { decoder?: number }): Promise<unknown>;
  /** The client's desired and actual subscriptions (GLIDE 2.1 and later); read to check the pub/sub config. */
  getSubscriptions?(): Promise<unknown>;
  /** Closes the client; never called by the adapter, only checked for to tell a client from other objects. */
  close(errorMessage?: string): void;
}

/** A slot-key route of GLIDE's cluster client: the primary that serves `key`'s slot. */
export interface GlidePrimarySlotKeyRoute {
  /** Routes to the primary of the slot (never a replica: a lock is written). */
  readonly type: 'primarySlotKey';
  /** The key whose slot decides the node: the first key of the call. */
  readonly key: string;
}

/** A cluster client, from `GlideClusterClient.createClient()`: raw commands routed by the slot of a key. */
export interface GlideCluster extends GlideDynamicSubscriptions {
  /** Sends one raw command to the node of `route` and resolves with its reply. */
  customCommand(args: string[], options?: { route?: GlidePrimarySlotKeyRoute; decoder?: number }): Promise<unknown>;
  /** The client's desired and actual subscriptions (GLIDE 2.1 and later); read to check the pub/sub config. */
  getSubscriptions?(): Promise<unknown>;
  /** Closes the client; never called by the adapter. */
  close(errorMessage?: string): void;
  /** Only checked for, to tell a cluster client from a standalone one at run time. */
  pubsubShardChannels(): unknown;
}

/** Whether `client` is a cluster client: only `GlideClusterClient` has `pubsubShardChannels`. */
export function isGlideCluster(client: GlideStandalone | GlideCluster): client is GlideCluster {
  return typeof (client as Partial<GlideCluster>).pubsubShardChannels === 'function';
}
