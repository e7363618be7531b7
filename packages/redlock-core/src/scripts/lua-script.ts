import type { RedisAdapter } from '../base/adapter.js';
// Types only: this module loads nothing of the core's at run time, so that it has run (and its list of
// scripts exists) before any script module that imports it defines a script, whatever loads first.
import type { RenewableCall, ReplyReader } from './reply-reader.js';

/** A Lua script with its SHA1. */
export interface LuaScript {
  /** A short name for messages, e.g. `'acquire'`. */
  readonly name: string;
  /** The Lua source, sent with EVAL when a node has not cached it. */
  readonly source: string;
  /** The hex SHA1 of `source`, the name EVALSHA runs it by; equals what `SCRIPT LOAD` returns. */
  readonly sha1: string;
  /**
   * The adapters whose node is known to have cached the script: it ran there by EVAL or EVALSHA since the
   * node's last `NOSCRIPT`. One lookup per node call, where a map of adapters to their scripts took two.
   */
  readonly cachedOn: WeakSet<RedisAdapter>;
}

/**
 * Lua: whether this node started less than `graceMs` (a Lua expression, 0 for no grace) ago, for the scripts
 * that admit a holder: an expression, not a function, which every run would make anew (see `ticketLua` in
 * wake-queue.ts). Uptime has 1 s precision, rounded down, so the grace errs long; a node whose INFO shows none
 * counts as inside it.
 */
export const isInsideRestartGraceLua = (graceMs: string): string =>
  `(${graceMs} > 0 and (tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)')) or -1) * 1000 < ${graceMs})`;

/** `lua`, `levels` times two spaces further in: a block or function placed inside another. */
export const indentedLua = (lua: string, levels = 1): string => lua.replace(/^(?=.)/gm, '  '.repeat(levels));

/**
 * Lua: whether `reply`, read by `redis.pcall`, is an error that must fail the script: any but `WRONGTYPE` (see
 * {@link readKeyLua}).
 */
export const isFailureLua = (reply: string): string => `type(${reply}) == 'table' and ${reply}.err ~= nil and string.sub(${reply}.err, 1, 9) ~= 'WRONGTYPE'`;

/**
 * Lua: `local <name> = redis.pcall(<command>, <key>)`, a read where a key of another type (`WRONGTYPE`) reads as
 * the error reply, for the script to take as not ours, while any other error (a command the user's ACL denies,
 * which Redis 7 words "The user executing the script can't run this command") fails the script: read as a key
 * that is not ours, it would let a release resolve and leave our keys, or an extension call the lock lost.
 * Inline, not a function, which every run would make anew (see `ticketLua` in wake-queue.ts).
 */
export const readKeyLua = (name: string, command: 'GET' | 'STRLEN', key: string): string => `local ${name} = redis.pcall('${command}', ${key})
if ${isFailureLua(name)} then
  error(${name})
end`;

/** Every script defined so far, in the order their modules loaded: a node's `NOSCRIPT` forgets them all there. */
export const definedScripts: LuaScript[] = [];

/**
 * Defines a script by its source and the hex SHA1 of that source, written beside it: hashing at load
 * loaded node:crypto, some 3 ms of every process. lua-script.test.ts checks each, and prints the new one.
 * A comment in a script's Lua is written as `${/* … *\/ ''}` before the line it speaks of, not as `-- …`:
 * the bundle keeps no JavaScript comment, where Lua comments in its strings were 3.5 kB of the package (its
 * budget is 600 kB) and went to a node with every EVAL.
 */
export function defineScript(name: string, source: string, sha1: string): LuaScript {
  const script = { name, source, sha1, cachedOn: new WeakSet<RedisAdapter>() };
  definedScripts.push(script);
  return script;
}

/**
 * Runs `script` on `node` in one round trip whenever it can: EVALSHA once the node is known to have
 * cached the script, else EVAL (which caches it). A node that lost its cache unseen (restart, failover,
 * SCRIPT FLUSH) answers `NOSCRIPT`: the script goes again by EVAL, after `onNoScript` (which renews the
 * call's timeout: the node did answer), and the node counts as having lost every script. Resolves with
 * the reply passed through `parse`, when given. Throws synchronously only if the adapter does.
 */
export function runScript<T = unknown>(
  node: RedisAdapter,
  script: LuaScript,
  keys: readonly string[],
  args: readonly string[],
  onNoScript?: () => void,
  parse?: (reply: unknown) => T,
): Promise<T> {
  const command = { script, keys, args };
  if (!script.cachedOn.has(node)) return evalScript(node, command, parse);
  // A rejection handler rather than try/await: no frame to suspend and resume on every node call.
  return node.evalsha(script.sha1, keys, args).then(parse, (error: unknown) => evalAfterNoScript(error, node, command, onNoScript, parse)) as Promise<T>;
}

/** What EVAL sends: a script, with its keys and arguments. */
type ScriptCommand = Pick<ScriptReader<string>, 'script' | 'keys' | 'args'>;

/**
 * {@link runScript} for the node calls of a fan-out, made once for all of them: the same commands, but the
 * reply goes back unread, for the call to read with this reader from its own handlers on the adapter's
 * promise (one promise per node call instead of two).
 */
export class ScriptReader<S extends string> implements ReplyReader<S> {
  constructor(
    readonly script: LuaScript,
    readonly keys: readonly string[],
    readonly args: readonly string[],
    /** Reads a reply of node `nodeIndex`: one reader serves every node of a fan-out. */
    readonly parse: (reply: unknown, nodeIndex: number) => S,
  ) {}

  /**
   * Sends the script to `node`: by EVALSHA once the node is known to have cached it, else by EVAL, whose
   * rejection comes back as an {@link EvalRejection}: only an EVALSHA's `NOSCRIPT` is followed by an EVAL.
   */
  send(node: RedisAdapter): Promise<unknown> {
    const script = this.script;
    if (script.cachedOn.has(node)) return node.evalsha(script.sha1, this.keys, this.args);
    return evalScript(node, this, undefined, throwEvalRejection);
  }

  read(reply: unknown, _node: RedisAdapter, _call: RenewableCall, nodeIndex: number): S {
    return this.parse(reply, nodeIndex);
  }

  recover(error: unknown, node: RedisAdapter, call: RenewableCall, nodeIndex: number): Promise<S> {
    if (error instanceof EvalRejection) throw error.cause;
    return evalAfterNoScript(error, node, this, onNoScriptOf(call, nodeIndex), (reply) => this.parse(reply, nodeIndex));
  }
}

/** What a {@link ScriptReader}'s EVAL rejected with, told apart from an EVALSHA's rejection: never sent again. */
class EvalRejection {
  constructor(readonly cause: unknown) {}
}

function throwEvalRejection(error: unknown): never {
  throw new EvalRejection(error);
}

/** The `onNoScript` of {@link runScript} for the call to node `nodeIndex`: renews its timeout. Made only where a script may need it. */
export function onNoScriptOf(call: RenewableCall, nodeIndex: number): () => void {
  return () => call.renewTimeout(nodeIndex);
}

/** What follows a rejected EVALSHA: after `NOSCRIPT`, the same script by EVAL; any other rejection is thrown again. */
function evalAfterNoScript<T>(
  error: unknown,
  node: RedisAdapter,
  command: ScriptCommand,
  onNoScript: (() => void) | undefined,
  parse: ((reply: unknown) => T) | undefined,
): Promise<T> {
  if (!isNoScriptError(error)) throw error;
  for (const defined of definedScripts) defined.cachedOn.delete(node);
  onNoScript?.();
  return evalScript(node, command, parse);
}

/**
 * Runs the script by EVAL, which also caches it on that node, so the next call there can use EVALSHA. A
 * rejection goes to `onRejected` when given, in the same step: the reply comes no later for it.
 */
function evalScript<T>(node: RedisAdapter, command: ScriptCommand, parse?: (reply: unknown) => T, onRejected?: (error: unknown) => never): Promise<T> {
  const { script } = command;
  return node.eval(script.source, command.keys, command.args).then((reply) => {
    script.cachedOn.add(node);
    return parse === undefined ? (reply as T) : parse(reply);
  }, onRejected);
}

/**
 * The error code `NOSCRIPT` as a word of its own, where clients put it: at the start (`NOSCRIPT No matching
 * script…`, node-redis and ioredis), after a prefix (`ReplyError: NOSCRIPT …`), or as redis-rs' error kind,
 * which Valkey GLIDE reports (`An error was signalled by the server: - NoScriptError: No matching script…`).
 */
const NO_SCRIPT_PATTERN = /(?:^|[^A-Za-z0-9_])(?:NOSCRIPT|NoScriptError)(?![A-Za-z0-9_])/;

/**
 * Whether `error` is a node's reply that it has not cached the script, however the client wrapped it:
 * an `Error` (or an object with a string `message`, as some clients reject with) whose message holds the
 * code as a word. A false positive costs one EVAL; the scripts are safe to run again.
 */
export function isNoScriptError(error: unknown): boolean {
  return NO_SCRIPT_PATTERN.test(errorMessageOf(error));
}

/**
 * The error code `NOPERM` as a word of its own, where clients put it (see {@link NO_SCRIPT_PATTERN}): the
 * connection's user may not run the command, or touch its key or channel (the node's ACL).
 */
export const NO_PERMISSION_PATTERN = /(?:^|[^A-Za-z0-9_])NOPERM(?![A-Za-z0-9_])/;

/** Whether `error` is a node's `NOPERM` reply, however the client wrapped it (see {@link isNoScriptError}). */
export function isNoPermissionError(error: unknown): boolean {
  return NO_PERMISSION_PATTERN.test(errorMessageOf(error));
}

/**
 * The message of whatever an adapter rejected with: an `Error`'s, or any object's string `message` (as some
 * clients reject with); `''` for anything else. What the core reads a reply's error code from.
 */
export function errorMessageOf(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const message: unknown = Reflect.get(error, 'message');
  return typeof message === 'string' ? message : '';
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
