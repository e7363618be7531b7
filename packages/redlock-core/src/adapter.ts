/**
 * One independent Redis node as the core sees it: the only way the core reaches Redis.
 *
 * Every lock operation is a Lua script, so two commands are enough. Implementations translate these
 * calls to their client and add nothing: no retries, no timeouts, no script caching, no reply parsing
 * (the core does all of that once, for every adapter). They reject, never throw synchronously, and
 * never close or reconfigure the client they wrap: it belongs to the user.
 *
 * Optional capabilities (release notifications over pub/sub are planned) will be added as optional
 * members that the core detects at run time, so an adapter written against this interface keeps working.
 *
 * @example
 * ```ts
 * const adapter: RedisAdapter = {
 *   evalsha: (sha1, keys, args) => client.sendCommand(['EVALSHA', sha1, String(keys.length), ...keys, ...args]),
 *   eval: (source, keys, args) => client.sendCommand(['EVAL', source, String(keys.length), ...keys, ...args]),
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
}
