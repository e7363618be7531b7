/*
 * The seam's commands as raw argument arrays, for adapters over a client that sends a command as one array
 * of strings (node-redis `sendCommand`, GLIDE `customCommand`). Each builds one array per call, the one the
 * client sends: they are on the path of every lock.
 */
import type { RedisAdapter } from './adapter.js';

/**
 * The arguments of `EVALSHA sha1 numkeys ...keys ...args`, for {@link RedisAdapter.evalsha}.
 *
 * @example
 * ```ts
 * evalsha: (sha1, keys, args) => client.sendCommand(evalshaCommand(sha1, keys, args)),
 * ```
 */
export function evalshaCommand(sha1: string, keys: readonly string[], args: readonly string[]): string[] {
  return ['EVALSHA', sha1, String(keys.length), ...keys, ...args];
}

/** The arguments of `EVAL source numkeys ...keys ...args`, for {@link RedisAdapter.eval}. */
export function evalCommand(source: string, keys: readonly string[], args: readonly string[]): string[] {
  return ['EVAL', source, String(keys.length), ...keys, ...args];
}

/** The arguments of `SET key value NX PX ttlMs`, for {@link RedisAdapter.trySet}; `ttlMs` in milliseconds. */
export function trySetCommand(key: string, value: string, ttlMs: number): string[] {
  return ['SET', key, value, 'NX', 'PX', String(ttlMs)];
}

/** The arguments of `SET key value NX PX ttlMs GET`, for {@link RedisAdapter.setIfAbsent}; `ttlMs` in milliseconds. */
export function setIfAbsentCommand(key: string, value: string, ttlMs: number): string[] {
  return ['SET', key, value, 'NX', 'PX', String(ttlMs), 'GET'];
}
