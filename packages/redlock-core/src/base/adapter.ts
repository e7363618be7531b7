/** Ends a subscription made with {@link RedisAdapter.subscribe}. */
export type Unsubscribe = () => Promise<void>;

/**
 * One independent Redis node as the core sees it: the only way the core reaches Redis.
 *
 * Every lock operation is a Lua script, so two commands are enough (plus, optionally, a plain SET that
 * takes the usual lock at a fraction of a script's cost on the node). Implementations translate these
 * calls to their client and add nothing: no retries, no timeouts, no script caching, no reply parsing
 * (the core does all of that once, for every adapter). They reject, never throw synchronously, and
 * never close or reconfigure the client they wrap: it belongs to the user.
 *
 * Optional capabilities are optional members that the core detects at run time: an adapter without
 * them keeps working, and the core falls back (without `subscribe`, waiters retry on their timer only).
 *
 * @example
 * ```ts
 * const adapter: RedisAdapter = {
 *   evalsha: (sha1, keys, args) => client.sendCommand(['EVALSHA', sha1, String(keys.length), ...keys, ...args]),
 *   eval: (source, keys, args) => client.sendCommand(['EVAL', source, String(keys.length), ...keys, ...args]),
 *   trySet: (key, value, ttlMs) => client.sendCommand(['SET', key, value, 'NX', 'PX', String(ttlMs)]),
 *   client,
 * };
 * ```
 */
export interface RedisAdapter {
  /**
   * Sends `EVALSHA sha1 numkeys ...keys ...args` and resolves with the reply unchanged (integer as
   * `number`, bulk string as `string`, nil as `null`, arrays as arrays). If the node has not cached the
   * script, rejects with the server's `NOSCRIPT …` error, unchanged, so the core can fall back to `eval`.
   */
  evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** Sends `EVAL source numkeys ...keys ...args` and resolves with the reply unchanged. */
  eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /**
   * Optional: sends `SET key value NX PX ttlMs` and resolves with the reply unchanged: `'OK'` when the key
   * was missing (it now holds `value`, expiring in `ttlMs` milliseconds), `null` when the key exists, of
   * any type (left unchanged). Rejects with the server's error unchanged. With it, the core takes a lock on
   * one resource without fencing or restart grace by this one command instead of the acquire script, which
   * costs the node several times as much; on `null` it asks the script, which tells our own key (a
   * re-sent command), another owner's lock and a key that is not a lock apart without sending the value
   * back. Every Redis version since 2.6.12 runs it. Adapters should offer it: leaving it out only costs
   * speed. Preferred to {@link RedisAdapter.setIfAbsent} when both are there.
   */
  trySet?(key: string, value: string, ttlMs: number): Promise<unknown>;
  /**
   * Optional, superseded by {@link RedisAdapter.trySet}: the core uses it only on an adapter without
   * `trySet` (and a core before `trySet` uses only this one: adapters keep it for them). Sends
   * `SET key value NX PX ttlMs GET` and resolves with the reply unchanged: `null` when the
   * key was missing (it now holds `value`, expiring in `ttlMs` milliseconds), else the string the key
   * holds (left unchanged). Rejects with the server's error unchanged: `WRONGTYPE …` for a key that is not
   * a string, a syntax error from a server before Redis 7.0 (which cannot combine `NX` with `GET`).
   * With it, the core takes a lock on one resource without fencing or restart grace by this one command
   * instead of the acquire script; it falls back to the script on a node that holds another value (to tell
   * another owner's lock from a key that is not a lock) or that rejects it. A node holding another value
   * sends it back whole on every attempt, however large: implement `trySet`, which never does.
   */
  setIfAbsent?(key: string, value: string, ttlMs: number): Promise<unknown>;
  /**
   * Optional: subscribes to a pub/sub channel of this node (Redis `SUBSCRIBE`, on a connection of its own)
   * and calls `onMessage` for every message published there. Resolves once the subscription is active,
   * with the function that ends it. A `Redlock` subscribes at most once per channel at a time, but several
   * adapters (say one per `Redlock`) may share one subscriber connection, where one UNSUBSCRIBE ends the
   * channel for all of them: count listeners per connection and channel, and unsubscribe after the last.
   * Release notifications use it to wake waiters the moment a lock frees.
   */
  subscribe?(channel: string, onMessage: () => void): Promise<Unsubscribe>;
  /**
   * Optional: `true` when `subscribe` hears its channel through a pattern that covers every wake channel
   * (a GLIDE client's `redlock:wake:*`, fixed when the client is created), not a SUBSCRIBE to that channel.
   * A node counts a pattern subscriber as hearing every wake, so it cannot tell whether such a process still
   * waits: the `Redlock` says so in its queue members, and a release wakes each of them once and drops it
   * from the queue (it queues again where it is refused next), instead of keeping its place.
   */
  readonly subscribesByPattern?: boolean;
  /**
   * Optional: closes what the adapter itself opened, never the user's client. `redlock.close()` calls it
   * once on each distinct adapter, after its releases in flight finished and its release-notification
   * subscriptions ended, and waits for it up to `CLOSE_TIMEOUT_MS` (2 s). An adapter that opens a
   * connection of its own (say a subscriber for `subscribe`) closes it here, so that the process can exit
   * once the user has closed their own clients; an adapter that opened nothing leaves it out. It may be
   * called while another `Redlock` still uses the adapter only if the adapter is not shared: share an
   * adapter between `Redlock`s only when its `close()` counts its users, or has none. A rejection is
   * reported as a process warning (a `NodeError`), never thrown from `redlock.close()`.
   */
  close?(): Promise<void>;
  /**
   * Optional: the client object this adapter wraps, e.g. its ioredis `Redis`. The `Redlock` constructor
   * compares it by identity only (it never reads or calls it) and throws a `TypeError` when two nodes wrap
   * the same client: that would be one server counted as two nodes, so a quorum could be granted by a
   * minority of the servers. Set it whenever the adapter wraps one client object; leave it out otherwise.
   * A method named `client` is not taken for it.
   */
  readonly client?: object;
  /**
   * Optional: whether the client has no connection to the node now (it cannot connect, or lost the
   * connection), and why: `undefined` while it is connected; else the error to report, the client's
   * connection error (say `connect ECONNREFUSED 127.0.0.1:6379`), or, when the client keeps none, `error`
   * (what a call rejected with, when given) or an error of the adapter's own. Must not throw, and should
   * cost no more than reading a field. The core asks it after a call failed or timed out: a call that
   * failed without a connection is one the node did not answer, so the node counts as down
   * (`nodeHealth()`) and its calls are refused at once, the returned error as their `NodeError`'s
   * `cause`, instead of each waiting for the client to fail it. While the node is down for that reason,
   * the core asks again before each call, and sends the next one (a probe) once the client has connected
   * again. Without this member, a call that fails counts as the node's answer.
   */
  connectionError?(error?: unknown): unknown;
}
