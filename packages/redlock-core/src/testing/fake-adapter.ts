import { createHash } from 'node:crypto';
import type { RedisAdapter } from '../base/adapter.js';
import { type Clock, SYSTEM_CLOCK } from '../base/clock.js';
import { acquireScript } from '../scripts/acquire.js';
import { extendScript } from '../scripts/extend.js';
import { fenceScript } from '../scripts/fence.js';
import { handOffScript } from '../scripts/hand-off.js';
import { inspectScript } from '../scripts/inspect.js';
import { leaveQueueScript } from '../scripts/leave-queue.js';
import type { LuaScript } from '../scripts/lua-script.js';
import { permitAcquireScript } from '../scripts/permit-acquire.js';
import { permitExtendScript } from '../scripts/permit-extend.js';
import { permitInspectScript } from '../scripts/permit-inspect.js';
import { permitReleaseScript, quietPermitReleaseScript } from '../scripts/permit-release.js';
import { readWriteAcquireScript } from '../scripts/read-write-acquire.js';
import { readWriteInspectScript } from '../scripts/read-write-inspect.js';
import { probeScript } from '../scripts/probe.js';
import { quietReleaseScript, releaseScript } from '../scripts/release.js';
import { RESERVED_PREFIX, ticketPartsOf } from '../scripts/wake-queue.js';
import { FakeKeyspace, isInsideRestartGrace } from './fake-keyspace.js';
import { type PermitScriptName, runPermitScript } from './fake-permits.js';

/** The operation a script performs; the fake runs each script by these semantics, not by Lua. */
export type ScriptName = 'acquire' | 'extend' | 'release' | 'fence' | 'inspect' | 'probe' | 'leave-queue' | 'hand-off' | PermitScriptName;

/** The scripts the fake knows by name, and runs by their semantics: a lock's, a semaphore's, a read-write lock's. */
export const KNOWN_SCRIPTS: readonly LuaScript[] = [
  acquireScript, extendScript, releaseScript, quietReleaseScript, fenceScript, inspectScript, probeScript,
  permitAcquireScript, permitExtendScript, permitReleaseScript, quietPermitReleaseScript, permitInspectScript,
  readWriteAcquireScript, readWriteInspectScript, leaveQueueScript, handOffScript,
];

/** A refused connection, as a client reports a node that is down. */
export function connectionRefused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
}

/** One command a node received, whether or not it was answered. */
export interface NodeCallRecord {
  /**
   * The command: a script by SHA1 or by source, or a plain SET (`trySet` or `setIfAbsent`, recorded as the
   * acquire script, with its token and TTL as `args`).
   */
  readonly method: 'evalsha' | 'eval' | 'set';
  /** The script's name, or `undefined` for a script the fake does not know. */
  readonly script: ScriptName | undefined;
  /** Always `undefined`: the fake runs only the core's own scripts (kept for the `redlock-core/testing` API). */
  readonly extraScript?: string;
  readonly keys: readonly string[];
  readonly args: readonly string[];
  /** Virtual time at which the core sent it. */
  readonly sentAtMs: number;
}

/**
 * One in-memory Redis node implementing the core's {@link RedisAdapter}, with knobs for every fault.
 *
 * Timing model: a command reaches the node `requestLatencyMs` after it is sent and takes effect there
 * at once (atomically, like a script); the reply reaches the core `latencyMs` later. So a slow node has
 * already written its key when its late reply arrives, as a real slow link would. Commands that reach a
 * hanging node queue up and run in order when it resumes; a reply never overtakes an earlier one.
 *
 * Time comes from `clock`: `SYSTEM_CLOCK` (the default) for real time, or the same virtual clock given to
 * the `Redlock`'s `clock` option, so that TTLs, latencies and retries all run on it. It runs each script
 * by the semantics of its Lua source, not by Lua, and it knows only the core's own scripts.
 *
 * @example
 * ```ts
 * import { LockAcquireError, Redlock, SYSTEM_CLOCK } from 'redlock-core';
 * import { grantingNode, grantingNodes, keysOf, refusingNode } from 'redlock-core/testing';
 *
 * // Code under test that takes a lock, given three healthy in-memory nodes: no Redis needed.
 * const nodes = grantingNodes(SYSTEM_CLOCK, 3);
 * const redlock = new Redlock(nodes, { retryCount: 0 });
 * await chargeOrder(redlock, 42);
 * expect(nodes.flatMap(keysOf)).toEqual([]); // it released the lock
 *
 * // The unhappy path: two of three nodes held by another owner, so acquire() rejects.
 * const contended = new Redlock([grantingNode(), refusingNode(), refusingNode()], { retryCount: 0 });
 * await expect(chargeOrder(contended, 42)).rejects.toThrow(LockAcquireError);
 *
 * // A node that is down: its calls reject with ECONNREFUSED.
 * nodes[0].isDown = true;
 * ```
 */
export class FakeNode implements RedisAdapter {
  readonly keyspace: FakeKeyspace;
  /** Every command sent to this node, in order. */
  readonly calls: NodeCallRecord[] = [];
  /** Delay of each reply after the command took effect, in milliseconds. */
  latencyMs = 0;
  /** Delay before a command reaches the node and takes effect, in milliseconds. */
  requestLatencyMs = 0;
  /** Rejects every command at once with a refused connection, without it reaching the node. */
  isDown = false;
  /** Replies to every command with this error, without running it. */
  errorReply: Error | undefined;
  /** Replies to every command with this value, without running it: a reply no script can produce. */
  garbageReply: { readonly value: unknown } | undefined;
  /** Throws from `evalsha`/`eval`/`trySet`/`setIfAbsent` instead of returning a promise: a broken adapter. */
  throwsSynchronously = false;
  /**
   * Rejects `setIfAbsent` with a syntax error, as a server before Redis 7.0 does (it cannot combine `NX`
   * with `GET`); scripts and `trySet` still run.
   */
  isBeforeRedis7 = false;
  /**
   * Commands the connection's user may not run, as a node's ACL denies them (`-eval -evalsha` for a user
   * without scripts): each rejects with Redis 7's `NOPERM` reply, without reaching the keys.
   */
  deniedCommands: readonly NodeCallRecord['method'][] = [];

  readonly #clock: Clock;
  #isHanging = false;
  readonly #arrivedWhileHanging: (() => void)[] = [];
  readonly #failNext = new Map<ScriptName, Error[]>();

  constructor(clock: Clock = SYSTEM_CLOCK, keyspace: FakeKeyspace = new FakeKeyspace(clock)) {
    this.#clock = clock;
    this.keyspace = keyspace;
  }

  /** While {@link isDown}, the refused connection a call rejected with, or a new one (see `RedisAdapter.connectionError`). */
  connectionError(error?: unknown): unknown {
    return this.isDown ? (error ?? connectionRefused()) : undefined;
  }

  evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const script = KNOWN_SCRIPTS.find((candidate) => candidate.sha1 === sha1);
    return this.#send('evalsha', script, keys, args, () => {
      if (!this.keyspace.scripts.has(sha1)) throw new Error('NOSCRIPT No matching script. Please use EVAL.');
    });
  }

  eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const script = KNOWN_SCRIPTS.find((candidate) => candidate.source === source);
    return this.#send('eval', script, keys, args, () => {
      if (script !== undefined) this.keyspace.scripts.add(script.sha1);
    });
  }

  /**
   * `SET key value NX PX ttlMs GET`: sets a missing key and resolves with `null`, else resolves with its
   * value, unchanged; WRONGTYPE for a key of another type. Recorded as a call of the acquire script, so
   * that `failNext('acquire')` and `callsTo('acquire')` cover it.
   */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<unknown> {
    return this.#send('set', acquireScript, [key], [value, String(ttlMs)]);
  }

  /**
   * `SET key value NX PX ttlMs`: sets a missing key and resolves with `'OK'`, else resolves with `null`,
   * whatever the key holds. Recorded as a call of the acquire script, as {@link setIfAbsent} is.
   */
  trySet(key: string, value: string, ttlMs: number): Promise<unknown> {
    return this.#send('set', acquireScript, [key], [value, String(ttlMs)], undefined, true);
  }

  /** Commands reaching the node from now on wait, unanswered, until {@link resume}. */
  hang(): void {
    this.#isHanging = true;
  }

  /** Runs the commands that arrived while hanging, in order, and answers them. */
  resume(): void {
    this.#isHanging = false;
    for (const deliver of this.#arrivedWhileHanging.splice(0)) deliver();
  }

  /** Replies to the next command running `script` with `error` instead of running it. */
  failNext(script: ScriptName, error: Error = new Error('ERR injected failure')): void {
    this.#failNext.set(script, [...(this.#failNext.get(script) ?? []), error]);
  }

  /** The commands sent to this node for `script`. */
  callsTo(script: ScriptName): NodeCallRecord[] {
    return this.calls.filter((call) => call.script === script);
  }

  /**
   * The acquisitions asked of this node, one record each: a script call, or a plain SET (`trySet` or `setIfAbsent`)
   * without the script call that followed it with the same token to tell why the node refused. Count these
   * for how often a node was asked for the lock; {@link callsTo} counts commands.
   */
  acquireRequests(): NodeCallRecord[] {
    const tokensSet = new Set<string | undefined>();
    return this.callsTo('acquire').filter((call) => {
      if (call.method === 'set') tokensSet.add(call.args[0]);
      return call.method === 'set' || !tokensSet.has(call.args[0]);
    });
  }

  /** A second connection to the same server, with knobs of its own: another client's view of this node. */
  connectAnotherClient(): FakeNode {
    return new FakeNode(this.#clock, this.keyspace);
  }

  #send(
    method: NodeCallRecord['method'],
    script: LuaScript | undefined,
    keys: readonly string[],
    args: readonly string[],
    checkScriptCache?: () => void,
    isTrySet = false,
  ): Promise<unknown> {
    const name = script?.name as ScriptName | undefined;
    this.calls.push({ method, script: name, keys: [...keys], args: [...args], sentAtMs: this.#clock.now() });
    if (this.throwsSynchronously) throw new Error('Adapter bug: threw synchronously');
    if (this.isDown) return Promise.reject(connectionRefused());
    return new Promise((resolve, reject) => {
      const deliver = (): void => {
        let answer: () => void;
        try {
          // The server checks the ACL before anything else: a denied EVALSHA never reports NOSCRIPT.
          if (this.deniedCommands.includes(method)) throw new Error(`NOPERM this user has no permissions to run the '${method}' command`);
          checkScriptCache?.();
          if (name === undefined) throw new Error('ERR unknown script');
          // A SET is the acquire script's.
          const reply = this.#fault(name) ?? {
            value: method === 'set' ? this.#executeSet(keys[0] as string, args[0] as string, args[1], isTrySet) : this.ranScript(script as LuaScript, keys, args, () => this.#execute(name, keys, args)),
          };
          answer = () => resolve(reply.value);
        } catch (error) {
          answer = () => reject(error);
        }
        if (this.latencyMs > 0) this.#clock.setTimeout(answer, this.latencyMs);
        else answer();
      };
      const arrive = (): void => {
        if (this.#isHanging) this.#arrivedWhileHanging.push(deliver);
        else deliver();
      };
      if (this.requestLatencyMs > 0) this.#clock.setTimeout(arrive, this.requestLatencyMs);
      else arrive();
    });
  }

  /**
   * Runs a script (`run`), atomically with whatever a subclass adds around it, and returns its reply: the
   * test support's pub/sub node keeps the wait queues here, as the scripts do in the same atomic step.
   * @internal
   */
  protected ranScript(_script: LuaScript, _keys: readonly string[], _args: readonly string[], run: () => unknown): unknown {
    return run();
  }

  /** The fault knobs, before any command runs: throws `failNext`'s error for `script`, else `errorReply`; returns `garbageReply`. */
  #fault(script: ScriptName): { readonly value: unknown } | undefined {
    const injected = this.#failNext.get(script)?.shift();
    if (injected !== undefined) throw injected;
    if (this.errorReply !== undefined) throw this.errorReply;
    return this.garbageReply;
  }

  /** Runs `SET key value NX PX ttl`, with `GET` unless `isTrySet`. */
  #executeSet(key: string, value: string, ttlArg: string | undefined, isTrySet: boolean): unknown {
    if (this.isBeforeRedis7 && !isTrySet) throw new Error('ERR syntax error');
    const ttlMs = parseTtl(ttlArg);
    const { keyspace } = this;
    if (keyspace.typeOf(key) === 'none') {
      keyspace.set(key, value, ttlMs);
      return isTrySet ? 'OK' : null;
    }
    // GET's reply: WRONGTYPE for a key of another type.
    return isTrySet ? null : keyspace.get(key);
  }

  /** Runs one script atomically, with the semantics of its Lua source. */
  #execute(script: ScriptName, keys: readonly string[], args: readonly string[]): unknown {
    for (const arg of args) if (typeof arg !== 'string') throw new Error(`ERR argument is not a string: ${String(arg)}`);
    if (script === 'probe') return [this.keyspace.runId, this.keyspace.maxmemoryPolicy];
    // Its queues and leases are the test support's pub/sub node's, which keeps them around the script.
    if (script === 'leave-queue') return 1;
    if (script === 'hand-off') return '';
    if (script.startsWith('permit-') || script.startsWith('read-write-')) return runPermitScript(this.keyspace, script as PermitScriptName, keys, args);
    if (script === 'inspect') {
      // PTTL's -2 when absent; -1 for a key that is not a lock: no TTL, or not a string. With the label of its holder.
      const entry = this.keyspace.peek(keys[0] as string);
      if (entry === undefined) return [-2, '', ''];
      if (!Number.isFinite(entry.remainingMs) || entry.type !== 'string') return [-1, '', ''];
      const tagged = this.keyspace.peek(keys[1] as string)?.value ?? '';
      const tag = sha1Of(entry.value);
      // `<SHA1 of the token>[#<fencing token>]:<label>` (see scripts/label.ts).
      const stored = tagged.startsWith(tag) ? /^#?([0-9]*):(.*)$/s.exec(tagged.slice(tag.length)) : null;
      return [Math.ceil(entry.remainingMs), stored?.[2] ?? '', stored?.[1] ?? ''];
    }
    const [token, ttlArg] = args;
    if (token === undefined) throw new Error('ERR missing token');
    if (script === 'fence') {
      // All or nothing: -2 if any key holds something that is not a counter; else raises each counter to
      // at least the token, never lowers it.
      const counters = keys.map((key) => this.#counterAt(key));
      if (counters.includes('foreign')) return -2;
      keys.forEach((key, index) => {
        if ((counters[index] as number) < Number(token)) this.keyspace.set(key, token);
      });
      return 1;
    }
    const ttlMs = script === 'release' ? 0 : parseTtl(ttlArg);
    const { keyspace } = this;
    if (script === 'acquire') {
      // With fencing, the counter keys follow the resource keys.
      const isFencing = args[3] === '1';
      const resourceKeys = isFencing ? keys.slice(0, keys.length / 2) : keys;
      // In key order, the first key that is neither missing nor ours decides: another owner's lock or a
      // foreign key. Keys that already hold our token count as granted (the script ran before for this attempt).
      const missing: string[] = [];
      // A key a release reserved for the ticket's member (see scripts/wake-queue.ts) is free to it.
      const { member } = ticketPartsOf(args[4] ?? '');
      for (const key of resourceKeys) {
        const state = member !== '' && keyspace.peek(key)?.value === `${RESERVED_PREFIX}${member}` ? 'missing' : this.#lockKeyState(key, token);
        if (state === 'foreign') return -2;
        if (state === 'held') return 0;
        if (state === 'missing') missing.push(key);
      }
      if (missing.length > 0 && isInsideRestartGrace(keyspace, Number(args[2] ?? 0))) return -1;
      const counters = keys.slice(resourceKeys.length).map((key) => this.#counterAt(key));
      if (counters.includes('foreign')) return -2;
      for (const key of missing) keyspace.set(key, token, ttlMs);
      return isFencing ? [1, Math.max(0, ...(counters as number[]))] : 1;
    }
    if (script === 'extend') {
      // With a label, the label keys follow the resource keys; with a fencing token, the counter keys follow them.
      const fence = args[3] ?? '';
      const label = args[4];
      const resourceCount = keys.length / (1 + (label === undefined ? 0 : 1) + (fence === '' ? 0 : 1));
      const resourceKeys = keys.slice(0, resourceCount);
      // Any key neither missing nor ours, a lock or not, is not held (the script reads it with pcall).
      const states = resourceKeys.map((key) => this.#lockKeyState(key, token));
      if (states.includes('held') || states.includes('foreign')) return 0;
      const missing = states.filter((state) => state === 'missing').length;
      if (missing > 0 && args[2] !== '1') return 2;
      // A re-seed never shortens a key, as the script: it sets one that is missing, or has no TTL or less.
      for (const key of resourceKeys) {
        const leftMs = keyspace.pttl(key);
        if (args[2] !== '1' || leftMs === undefined || leftMs === Infinity || leftMs < ttlMs) keyspace.set(key, token, ttlMs);
      }
      const counterKeys = fence === '' ? [] : keys.slice(keys.length - resourceCount);
      // Raised to the fencing token where lower or lost, never lowered; a key that is not a counter is left alone.
      for (const counterKey of counterKeys) {
        const counter = this.#counterAt(counterKey);
        if (counter !== 'foreign' && counter < Number(fence)) keyspace.set(counterKey, fence);
      }
      const labelKeys = label === undefined ? [] : keys.slice(resourceCount, 2 * resourceCount);
      for (const labelKey of labelKeys) {
        if (label === '') keyspace.delete(labelKey);
        else keyspace.set(labelKey, `${sha1Of(token)}${fence === '' ? '' : `#${fence}`}:${label}`, ttlMs);
      }
      return missing > 0 ? 2 : 1;
    }
    // The release script. A key of another type is never ours, and is left alone (the script reads it with pcall).
    let deleted = 0;
    for (const key of keys) if (keyspace.peek(key)?.type === 'string' && keyspace.get(key) === token) deleted += keyspace.delete(key);
    // Asked which waiting process heard a wake (a fair lock's release): none here, without queues.
    return script === 'release' && args[2] === '1' ? [deleted, ''] : deleted;
  }

  /** What a resource key is to the owner of `token`: neither missing nor ours, it is another owner's lock only if a string with a TTL. */
  #lockKeyState(key: string, token: string): 'missing' | 'ours' | 'held' | 'foreign' {
    const type = this.keyspace.typeOf(key);
    if (type === 'none') return 'missing';
    if (type !== 'string') return 'foreign';
    if (this.keyspace.get(key) === token) return 'ours';
    return this.keyspace.pttl(key) === Infinity ? 'foreign' : 'held';
  }

  /** A fencing counter's value, 0 when absent, or `'foreign'` for anything the fence script did not write. */
  #counterAt(key: string): number | 'foreign' {
    const entry = this.keyspace.peek(key);
    if (entry === undefined) return 0;
    const isCounter = entry.type === 'string' && /^[1-9][0-9]*$/.test(entry.value) && entry.remainingMs === Infinity;
    return isCounter ? Number(entry.value) : 'foreign';
  }
}

/** The hex SHA1 of `value`, as Lua's `redis.sha1hex`: a label starts with its holder's token's (see scripts/label.ts). */
function sha1Of(value: string): string {
  return createHash('sha1').update(value).digest('hex');
}

/** Parses a TTL argument the way SET PX / PEXPIRE do: a positive integer in a string. */
function parseTtl(arg: string | undefined): number {
  if (arg === undefined || !/^[1-9][0-9]*$/.test(arg)) throw new Error(`ERR invalid expire time, got ${String(arg)}`);
  return Number(arg);
}
