/**
 * A connection that can SUBSCRIBE: an ioredis or iovalkey `Redis` (which then runs nothing else), or a
 * `Cluster` (which subscribes on a connection of its own, so it keeps running commands). Only the members
 * the adapter calls, so that ioredis 5, ioredis 6 and iovalkey clients all fit without importing any of them.
 */
export interface SubscriberClient {
  /** Sends SUBSCRIBE for the channels; resolves once the node confirmed. */
  subscribe(...channels: string[]): Promise<unknown>;
  /** Sends UNSUBSCRIBE for the channels. */
  unsubscribe(...channels: string[]): Promise<unknown>;
  /** Adds a listener for messages published on subscribed channels. */
  on(event: 'message', listener: (channel: string) => void): unknown;
  /** Removes a listener added with `on`. */
  off(event: 'message', listener: (channel: string) => void): unknown;
  /** The connection state (`'ready'` when connected), where the client tells it. */
  readonly status?: string;
}

/**
 * An ioredis (5 or 6) or iovalkey `Redis` or `Cluster`, as the adapter uses it: `evalsha` and `eval` for
 * the lock scripts, `set` for the usual lock, `options` to refuse `stringNumbers`, and what it needs to
 * subscribe (a `Cluster` directly; a `Redis` through a `duplicate()` of itself).
 */
export interface IoredisClient extends SubscriberClient {
  /** `true` for a `Cluster`, `false` for a `Redis`. */
  readonly isCluster: boolean;
  /** The connection state; `'end'` once the client was quit or gave up reconnecting. */
  readonly status: string;
  /**
   * The client's options: a client with `stringNumbers` is refused, and the subscriber connection the
   * adapter opens is named after `connectionName`.
   */
  readonly options: {
    /**
     * Put by ioredis before every key of a command, the lock scripts' included, so the scripts name each
     * wait queue after the prefixed key; never before a channel, and no wake channel holds a key. The
     * adapter does not read it.
     */
    readonly keyPrefix?: string | undefined;
  };
  /**
   * A `Redis`'s socket (`undefined` before it connects, and on a `Cluster`): corked for the rest of a turn
   * of the event loop when the adapter coalesces writes (see `coalesceWrites`); nothing else is done with it.
   */
  readonly stream?: unknown;
  /** Sends `EVALSHA sha1 numkeys ...keysAndArgs`. */
  evalsha(sha1: string, numkeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  /** Sends `EVAL source numkeys ...keysAndArgs`. */
  eval(source: string, numkeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  /** Sends `SET key value PX milliseconds NX`. */
  set(key: string, value: string, millisecondsToken: 'PX', milliseconds: number, nx: 'NX'): Promise<unknown>;
  /** Sends `SET key value PX milliseconds NX GET`. */
  set(key: string, value: string, millisecondsToken: 'PX', milliseconds: number, nx: 'NX', get: 'GET'): Promise<unknown>;
  /** Adds a listener for messages (a `Cluster` subscribes on itself). */
  on(event: 'message', listener: (channel: string) => void): unknown;
  /** Adds a listener for the end of the client: the adapter then closes what it opened. */
  on(event: 'end', listener: () => void): unknown;
  /** Removes a `'message'` listener. */
  off(event: 'message', listener: (channel: string) => void): unknown;
  /** Removes an `'end'` listener. */
  off(event: 'end', listener: () => void): unknown;
}

/** The options a subscriber connection needs on top of its client's own (see `ownedSubscriberOf`). */
export interface SubscriberOverrides {
  readonly maxRetriesPerRequest: null;
  readonly enableOfflineQueue: true;
  readonly autoResubscribe: true;
  readonly lazyConnect: false;
  readonly connectionName: string;
  readonly disconnectTimeout: number;
  /** The client's own retry strategy, unless the client has ended: the subscriber then stops reconnecting. */
  readonly retryStrategy: (times: number) => number | null | undefined;
}

/** A subscriber connection the adapter opened itself, with what it needs to close it and hear it fail. */
export interface OwnedConnection extends SubscriberClient {
  readonly status: string;
  disconnect(): void;
  on(event: 'message', listener: (channel: string) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

/** A `Redis` (not a `Cluster`): it can open a second connection to the same node with its own options. */
export interface DuplicableClient extends IoredisClient {
  duplicate(overrides: SubscriberOverrides): OwnedConnection;
}
