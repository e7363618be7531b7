import { createHash } from 'node:crypto';
import type { RedisAdapter } from '../adapter.js';

/** A Lua script with its SHA1, hashed once when its module loads. */
export interface LuaScript {
  /** A short name for messages, e.g. `'acquire'`. */
  readonly name: string;
  /** The Lua source, sent with EVAL when a node has not cached it. */
  readonly source: string;
  /** The hex SHA1 of `source`, the name EVALSHA runs it by; equals what `SCRIPT LOAD` returns. */
  readonly sha1: string;
}

/** Defines a script and computes its SHA1 once. */
export function defineScript(name: string, source: string): LuaScript {
  return { name, source, sha1: createHash('sha1').update(source).digest('hex') };
}

/**
 * Runs `script` on `node`: EVALSHA first, so the source crosses the network only once per node; on
 * `NOSCRIPT` (a new or restarted node, or after SCRIPT FLUSH) it falls back to EVAL. Throws synchronously
 * only if the adapter's `evalsha` does, breaking its contract; `callNode` turns that into a failed call.
 */
export function runScript(
  node: RedisAdapter,
  script: LuaScript,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  // A rejection handler rather than an async function with try/await: no frame to suspend and resume on
  // every node call.
  return node.evalsha(script.sha1, keys, args).then(undefined, (error: unknown) => {
    if (!isNoScriptError(error)) throw error;
    // EVAL also caches the script on that node, so the next EVALSHA there succeeds.
    return node.eval(script.source, keys, args);
  });
}

function isNoScriptError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** The error for a reply no script can produce: a broken adapter or something that is not Redis. */
export function unexpectedReply(script: string, reply: unknown): TypeError {
  return new TypeError(`Unexpected reply to the ${script} script: ${formatReply(reply)}`);
}

function formatReply(reply: unknown): string {
  try {
    return JSON.stringify(reply)?.slice(0, 100) ?? String(reply);
  } catch {
    return String(reply);
  }
}
