import type { RedisAdapter } from './adapter.js';
import type { Lock } from './lock.js';
import { type Clock, SYSTEM_CLOCK, validityMs } from './clock.js';
import { FENCE_KEY_SUFFIX } from './scripts/fence.js';

/** A node with settings of its own, for deployments where some nodes are farther away than others. */
export interface RedlockNode {
  /** The node's adapter. */
  readonly adapter: RedisAdapter;
  /**
   * How long a call to this node may take, in milliseconds, overriding the `Redlock`'s `nodeTimeoutMs`;
   * e.g. a node in another datacenter needs its round trip on top.
   */
  readonly timeoutMs?: number;
}

/** Settings of a `Redlock`; every one is optional. */
export interface RedlockOptions {
  /**
   * The share of the TTL allowed for clock drift between nodes: validity = TTL − elapsed − drift, where
   * drift = round(TTL × driftFactor) + 2 ms. A number in [0, 1).
   * @defaultValue `0.01`
   */
  readonly driftFactor?: number;
  /**
   * How many more attempts `acquire()` makes after the first fails; `0` makes a single, non-blocking try,
   * which never queues. A call queued behind others of the same `Redlock` counts its retry pauses in which
   * none of them acquired the lock instead (see `acquire()`).
   * @defaultValue `10`
   */
  readonly retryCount?: number;
  /**
   * The pause between attempts, in milliseconds, before jitter.
   * @defaultValue `200`
   */
  readonly retryDelayMs?: number;
  /**
   * The largest random change to `retryDelayMs`, in milliseconds: each pause is uniform in
   * `[retryDelayMs − retryJitterMs, retryDelayMs + retryJitterMs]`, never below 0.
   * @defaultValue `100`
   */
  readonly retryJitterMs?: number;
  /**
   * How long one call to one node may take, in milliseconds, before that node counts as failed for the
   * attempt, so a hung node cannot stall an attempt. A node's own `timeoutMs` overrides it.
   * @defaultValue derived from the TTL: `ttlMs / 200`, at least 50 and at most 1000 (50 ms for a 10 s TTL),
   *   plus 25 µs for each key after the first a call carries (250 ms more for a lock of 10,001 resources)
   */
  readonly nodeTimeoutMs?: number;
  /**
   * How long after its start a node grants no lock, in milliseconds: the spec's delayed restart, enforced
   * by each node from its own uptime (read with INFO by the acquire script, only when about to grant).
   * A node that restarts without persistence forgets the keys of locks that are still valid; set this to
   * the longest TTL used on these nodes so it grants none of them again before they would have expired.
   * `0` turns it off, for nodes that persist every write (`appendonly yes`, `appendfsync always`).
   * @defaultValue `0`
   */
  readonly restartGraceMs?: number;
  /**
   * Whether to refuse nodes whose `maxmemory-policy` may evict keys with a TTL (`volatile-*`,
   * `allkeys-*`): their calls then fail with a {@link NodeConfigurationError} as the cause, so they never
   * count towards a quorum. When off, such a node gets one warning (`process.emitWarning`, code
   * `REDLOCK_EVICTING_NODE`). Lock keys carry a TTL, so `volatile-*` policies evict them first, and an
   * evicted key lets a second owner in while the first still holds the lock.
   * @defaultValue `false`
   */
  readonly refuseEvictingNodes?: boolean;
  /**
   * A string put before every resource name to make its key, e.g. `'lock:'`. Lock keys need a namespace
   * that no other data uses: a key found there that is not a lock (another type, or a string without a
   * TTL) is never overwritten, and acquisitions fail on it with reason `'foreign-key'`.
   * @defaultValue `''`
   */
  readonly keyPrefix?: string;
  /**
   * The time source. Replace it only in tests and simulations.
   * @defaultValue {@link SYSTEM_CLOCK}
   */
  readonly clock?: Clock;
}

/** Per-call settings of `acquire()` and `using()`: retries override the `Redlock`'s for this call. */
export interface AcquireOptions {
  /** Gives up waiting: `acquire()` rejects with `signal.reason` and leaves no key behind. */
  readonly signal?: AbortSignal;
  /** See {@link RedlockOptions.retryCount}. */
  readonly retryCount?: number;
  /** See {@link RedlockOptions.retryDelayMs}. */
  readonly retryDelayMs?: number;
  /** See {@link RedlockOptions.retryJitterMs}. */
  readonly retryJitterMs?: number;
  /**
   * Hands out a fencing token with the lock (`lock.fencingToken`): an integer greater than the token of
   * every acquisition of these resources that completed before this one started, to pass to the storage
   * you protect so it can reject writes from an older holder. Costs one more round trip, and keeps one
   * counter key per resource (`<key>:fencing-counter`, no TTL) on every node; no resource's key may end
   * with `:fencing-counter`. The guarantee needs nodes that persist every write (`appendfsync always`):
   * a node that restarts empty loses its counters for good.
   * @defaultValue `false`
   */
  readonly fencing?: boolean;
  /**
   * Re-enters a lock its owner already holds: pass that lock (the explicit owner context) and get another
   * handle on it instead of waiting for it. The resources must be among the lock's. No node is called
   * unless `ttlMs` asks for more validity than is left, which extends the lock; the handles share the keys,
   * the validity and the extensions, and the keys are released with the last handle. Pass `undefined` to
   * acquire normally, so code can take an optional context.
   * @defaultValue `undefined`
   */
  readonly reentrant?: Lock;
  /**
   * Keeps the lock extended until it is released, as `using()` does while its routine runs, for locks
   * held across callbacks or requests: each extension (by `ttlMs` again) starts when half the TTL of
   * validity is left and is retried while validity remains. `maxExtensions` and `maxHoldMs` bound it.
   * When the lock can no longer be guaranteed, or a limit is reached, extension stops and `lock.signal`
   * aborts with the reason (a `LockLostError` or a `LockLimitError`). `release()` stops it, and so does
   * `redlock.close()` (`lock.signal` then aborts with a `RedlockClosedError`). Its timers are unref'd:
   * an extended lock does not keep the process alive. Re-entrant handles each extend the shared hold
   * while they are held.
   * @defaultValue `false`
   *
   * @example
   * ```ts
   * const lock = await redlock.acquire('jobs:import', 10_000, { autoExtend: true, maxHoldMs: 600_000 });
   * queue.on('done', () => void lock.release());
   * await importFeed({ signal: lock.signal }); // aborts with LockLostError if the lock is lost
   * ```
   */
  readonly autoExtend?: boolean;
  /**
   * The most automatic extensions, with `autoExtend` or in `using()`; `0` never extends, so the lock
   * lasts one TTL. When reached, extension stops and the signal aborts with a `LockLimitError`.
   * @defaultValue unlimited
   */
  readonly maxExtensions?: number;
  /**
   * The longest time the lock is kept extended, in milliseconds from its acquisition, with `autoExtend`
   * or in `using()`. When reached, extension stops and the signal aborts with a `LockLimitError`.
   * @defaultValue unlimited
   */
  readonly maxHoldMs?: number;
}

/**
 * Settings of `using()`: those of `acquire()` except `autoExtend` (`using()` always extends), with
 * `maxExtensions` and `maxHoldMs` bounding how long a routine keeps the lock, as the Redlock spec asks,
 * so a stuck routine cannot hold a resource for ever.
 */
export interface UsingOptions extends Omit<AcquireOptions, 'autoExtend'> {}

/** The defaults of {@link RedlockOptions}; `nodeTimeoutMs` is derived from each call's TTL instead. */
export const DEFAULT_OPTIONS = {
  driftFactor: 0.01,
  retryCount: 10,
  retryDelayMs: 200,
  retryJitterMs: 100,
  keyPrefix: '',
  restartGraceMs: 0,
  refuseEvictingNodes: false,
} as const;

/**
 * The longest TTL, in milliseconds (about 24.8 days): the largest delay a Node.js timer accepts, which
 * automatic extension needs.
 */
export const MAX_TTL_MS = 2 ** 31 - 1;

/**
 * How much longer the default node timeout gets per key a call carries, in milliseconds: a script runs
 * over every key of a lock, and the client encodes them all (about 7-11 µs a key on a local node, measured
 * with 1,000 to 50,000 keys), so a lock of 10,000 resources would outgrow a timeout made for one.
 */
export const NODE_TIMEOUT_MS_PER_KEY = 0.025;

/** The per-node timeout for a TTL and a call over `keyCount` keys when none is set: see {@link RedlockOptions.nodeTimeoutMs}. */
export function defaultNodeTimeoutMs(ttlMs: number, keyCount = 1): number {
  // The spec suggests 5-50 ms for a 10 s TTL. We take the top of that range and never go below 50 ms:
  // after the event loop stalls, Node runs due timers before reading sockets, so a shorter timeout would
  // fire on replies that already arrived.
  const forTtlMs = Math.min(1000, Math.max(50, Math.round(ttlMs / 200)));
  return forTtlMs + Math.ceil((keyCount - 1) * NODE_TIMEOUT_MS_PER_KEY);
}

/**
 * How long one call over `keyCount` keys to `node` may take for a TTL: the node's own timeout, else the
 * Redlock's, else the default.
 */
export function nodeTimeoutMsFor(node: ResolvedNode, options: ResolvedOptions, ttlMs: number, keyCount = 1): number {
  return node.timeoutMs ?? options.nodeTimeoutMs ?? defaultNodeTimeoutMs(ttlMs, keyCount);
}

/** The options of a `Redlock` after validation, with defaults filled in. */
export interface ResolvedOptions {
  readonly driftFactor: number;
  readonly retryCount: number;
  readonly retryDelayMs: number;
  readonly retryJitterMs: number;
  readonly nodeTimeoutMs: number | undefined;
  readonly keyPrefix: string;
  readonly restartGraceMs: number;
  readonly refuseEvictingNodes: boolean;
  readonly clock: Clock;
}

/** A node after validation: its adapter and its own timeout, if any. */
export interface ResolvedNode {
  readonly adapter: RedisAdapter;
  readonly timeoutMs: number | undefined;
}

/** Validates the constructor's arguments; throws `TypeError` or `RangeError` naming the bad one. */
export function resolveNodes(nodes: unknown): ResolvedNode[] {
  if (!Array.isArray(nodes)) {
    throw new TypeError(`Expected \`nodes\` to be an array of adapters, got ${formatValue(nodes)}`);
  }
  if (nodes.length === 0) throw new RangeError('Expected `nodes` to hold at least one node, got an empty array');
  /** By node index: the client each adapter wraps, if it says. */
  const clients: (object | undefined)[] = [];
  const resolved = nodes.map((node: unknown, index): ResolvedNode => {
    checkNotRedisClient(`nodes[${index}]`, node);
    if (isAdapter(node)) {
      clients.push(checkOptionalMembers(`nodes[${index}]`, node));
      return { adapter: node, timeoutMs: undefined };
    }
    // Read each property once: a getter must not answer one value to the check and another to the use.
    const { adapter, timeoutMs } = typeof node === 'object' && node !== null ? (node as Partial<RedlockNode>) : {};
    checkNotRedisClient(`nodes[${index}].adapter`, adapter);
    if (isAdapter(adapter)) {
      clients.push(checkOptionalMembers(`nodes[${index}].adapter`, adapter));
      if (timeoutMs !== undefined) checkDurationMs(`nodes[${index}].timeoutMs`, timeoutMs, 1);
      return { adapter, timeoutMs };
    }
    throw new TypeError(
      `Expected \`nodes[${index}]\` to be an adapter with \`evalsha\` and \`eval\` methods, or \`{ adapter }\`, got ${formatValue(node)}`,
    );
  });
  // The same adapter twice would count one node's vote twice and fake a quorum.
  resolved.forEach(({ adapter }, index) => {
    const first = resolved.findIndex((node) => node.adapter === adapter);
    if (first !== index) {
      throw new RangeError(`Expected every node to be a distinct adapter, got the same one at \`nodes[${first}]\` and \`nodes[${index}]\``);
    }
  });
  // So would two adapters over one client: one server, two votes.
  clients.forEach((client, index) => {
    const first = client === undefined ? index : clients.indexOf(client);
    if (first !== index) {
      throw new TypeError(
        `Expected every node to wrap a client of its own, got the same client at \`nodes[${first}]\` and \`nodes[${index}]\`, which would count one server twice`,
      );
    }
  });
  return resolved;
}

/**
 * Throws a `TypeError` if `value` looks like a Redis client instead of an adapter: raw clients often have
 * `evalsha` and `eval` methods of their own, with other signatures, so every call would fail on a node
 * that is in fact reachable. The signs are members an adapter has no use for: ioredis `Redis` and
 * `Cluster` and node-redis clients (`createClient`, `createCluster`, and v3) send any command with
 * `sendCommand` (v3: `send_command`) and open another connection with `duplicate`; Valkey GLIDE clients
 * have `customCommand` and `invokeScript`.
 */
function checkNotRedisClient(name: string, value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const hasMethod = (method: string): boolean => typeof Reflect.get(value, method) === 'function';
  const isClient =
    ((hasMethod('sendCommand') || hasMethod('send_command')) && hasMethod('duplicate')) ||
    (hasMethod('customCommand') && hasMethod('invokeScript'));
  if (!isClient) return;
  // ioredis alone has `defineCommand`; the core knows no other adapter package to name.
  if (hasMethod('defineCommand')) {
    throw new TypeError(
      `Expected \`${name}\` to be an adapter, got what looks like an ioredis client: wrap it in one, e.g. \`new IoredisAdapter(client)\` from redlock-ioredis-adapter`,
    );
  }
  throw new TypeError(
    `Expected \`${name}\` to be an adapter, got what looks like a Redis client: wrap it in an object with \`evalsha\` and \`eval\` methods (see "Writing an adapter" in the redlock-core README)`,
  );
}

/**
 * Checks an adapter's optional members and returns the client it wraps, if it says: `subscribe` and
 * `close` must be methods, and `client` an object (a function there is a method named `client`, which says nothing).
 */
function checkOptionalMembers(name: string, adapter: RedisAdapter): object | undefined {
  const subscribe: unknown = Reflect.get(adapter, 'subscribe');
  if (subscribe !== undefined && typeof subscribe !== 'function') {
    throw new TypeError(`Expected \`${name}.subscribe\` to be a method or absent, got ${formatValue(subscribe)}`);
  }
  const close: unknown = Reflect.get(adapter, 'close');
  if (close !== undefined && typeof close !== 'function') {
    throw new TypeError(`Expected \`${name}.close\` to be a method or absent, got ${formatValue(close)}`);
  }
  const client: unknown = Reflect.get(adapter, 'client');
  if (client === undefined || typeof client === 'function') return undefined;
  if (typeof client !== 'object' || client === null) {
    throw new TypeError(`Expected \`${name}.client\` to be the client object the adapter wraps, or absent, got ${formatValue(client)}`);
  }
  return client;
}

/** Validates a `Redlock`'s options and fills in the defaults. */
export function resolveOptions(options: unknown): ResolvedOptions {
  const given = checkOptionsObject('options', options) as RedlockOptions;
  const driftFactor = given.driftFactor === undefined ? DEFAULT_OPTIONS.driftFactor : given.driftFactor;
  if (typeof driftFactor !== 'number') {
    throw new TypeError(`Expected \`driftFactor\` to be a number, got ${formatValue(driftFactor)}`);
  }
  if (!(driftFactor >= 0 && driftFactor < 1)) {
    throw new RangeError(`Expected \`driftFactor\` to be a number in [0, 1), got ${formatValue(driftFactor)}`);
  }
  const keyPrefix = given.keyPrefix === undefined ? DEFAULT_OPTIONS.keyPrefix : given.keyPrefix;
  if (typeof keyPrefix !== 'string') {
    throw new TypeError(`Expected \`keyPrefix\` to be a string, got ${formatValue(keyPrefix)}`);
  }
  const clock = given.clock === undefined ? SYSTEM_CLOCK : given.clock;
  if (!['now', 'wallNow', 'setTimeout', 'clearTimeout'].every((method) => typeof Reflect.get(Object(clock), method) === 'function')) {
    throw new TypeError(`Expected \`clock\` to implement now, wallNow, setTimeout and clearTimeout, got ${formatValue(clock)}`);
  }
  if (given.nodeTimeoutMs !== undefined) checkDurationMs('nodeTimeoutMs', given.nodeTimeoutMs, 1);
  const restartGraceMs = given.restartGraceMs === undefined ? DEFAULT_OPTIONS.restartGraceMs : given.restartGraceMs;
  checkDurationMs('restartGraceMs', restartGraceMs, 0);
  const { refuseEvictingNodes = DEFAULT_OPTIONS.refuseEvictingNodes } = given;
  if (typeof refuseEvictingNodes !== 'boolean') {
    throw new TypeError(`Expected \`refuseEvictingNodes\` to be a boolean, got ${formatValue(refuseEvictingNodes)}`);
  }
  return {
    restartGraceMs,
    refuseEvictingNodes,
    ...resolveRetries(given, DEFAULT_OPTIONS),
    driftFactor,
    keyPrefix,
    clock,
    nodeTimeoutMs: given.nodeTimeoutMs,
  };
}

/** The retry settings of one call: its own where given, else the `Redlock`'s. */
export interface RetrySettings {
  readonly retryCount: number;
  readonly retryDelayMs: number;
  readonly retryJitterMs: number;
}

/** The per-call settings of `acquire()` and `using()` after validation; `reentrant` is checked by the caller. */
export interface AcquireSettings extends RetrySettings {
  readonly signal: AbortSignal | undefined;
  readonly fencing: boolean;
  readonly reentrant: unknown;
  readonly autoExtend: boolean;
}

/** Validates per-call options of `acquire()` and `using()`. */
export function resolveAcquireOptions(options: unknown, defaults: RetrySettings): AcquireSettings {
  const given = checkOptionsObject('options', options) as AcquireOptions;
  const { signal, fencing, reentrant, autoExtend } = given;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${formatValue(signal)}`);
  }
  if (fencing !== undefined && typeof fencing !== 'boolean') {
    throw new TypeError(`Expected \`fencing\` to be a boolean, got ${formatValue(fencing)}`);
  }
  if (autoExtend !== undefined && typeof autoExtend !== 'boolean') {
    throw new TypeError(`Expected \`autoExtend\` to be a boolean, got ${formatValue(autoExtend)}`);
  }
  const { retryCount, retryDelayMs, retryJitterMs } = resolveRetries(given, defaults);
  return { retryCount, retryDelayMs, retryJitterMs, signal, fencing: fencing ?? false, reentrant, autoExtend: autoExtend ?? false };
}

/** Validates the limits of automatic extension (`using()`, or `acquire()` with `autoExtend`). */
export function resolveExtensionLimits(options: unknown): {
  readonly maxExtensions: number | undefined;
  readonly maxHoldMs: number | undefined;
} {
  const { maxExtensions, maxHoldMs } = checkOptionsObject('options', options) as AcquireOptions;
  if (maxExtensions !== undefined) checkInteger('maxExtensions', maxExtensions, 0, Number.MAX_SAFE_INTEGER);
  if (maxHoldMs !== undefined) checkDurationMs('maxHoldMs', maxHoldMs, 1);
  return { maxExtensions, maxHoldMs };
}

/** Validates the retry settings given and fills in the others from `defaults`, which are valid already. */
function resolveRetries(given: Partial<RetrySettings>, defaults: RetrySettings): RetrySettings {
  const { retryCount, retryDelayMs, retryJitterMs } = given;
  if (retryCount !== undefined) checkInteger('retryCount', retryCount, 0, Number.MAX_SAFE_INTEGER);
  if (retryDelayMs !== undefined) checkDurationMs('retryDelayMs', retryDelayMs, 0);
  if (retryJitterMs !== undefined) checkDurationMs('retryJitterMs', retryJitterMs, 0);
  return {
    retryCount: retryCount === undefined ? defaults.retryCount : retryCount,
    retryDelayMs: retryDelayMs === undefined ? defaults.retryDelayMs : retryDelayMs,
    retryJitterMs: retryJitterMs === undefined ? defaults.retryJitterMs : retryJitterMs,
  };
}

/**
 * Validates the resources of one call and makes their keys. A key that would end with
 * {@link FENCE_KEY_SUFFIX} is refused: it lies in the namespace of fencing counters, where a fenced
 * acquisition of another resource would overwrite it.
 */
export function resolveResources(
  resources: unknown,
  keyPrefix: string,
): { readonly resources: readonly string[]; readonly keys: readonly string[] } {
  // The usual call locks one resource, given as a string: no copy, and nothing to compare it with.
  if (typeof resources === 'string') {
    checkResource(resources);
    const key = keyPrefix + resources;
    checkKey(key, resources);
    return { resources: [resources], keys: [key] };
  }
  const list: unknown[] | undefined = Array.isArray(resources) ? [...resources] : undefined;
  if (list === undefined) {
    throw new TypeError(`Expected \`resources\` to be a string or an array of strings, got ${formatValue(resources)}`);
  }
  if (list.length === 0) throw new RangeError('Expected `resources` to name at least one resource, got an empty array');
  const seen = new Set<string>();
  for (const resource of list) {
    checkResource(resource);
    if (seen.has(resource)) throw new RangeError(`Expected resources to be distinct, got ${formatValue(resource)} twice`);
    seen.add(resource);
  }
  const names = list as string[];
  const keys = names.map((resource) => keyPrefix + resource);
  keys.forEach((key, index) => checkKey(key, names[index] as string));
  return { resources: names, keys };
}

function checkResource(resource: unknown): asserts resource is string {
  if (typeof resource !== 'string') {
    throw new TypeError(`Expected every resource to be a string, got ${formatValue(resource)}`);
  }
  if (resource === '') throw new RangeError('Expected every resource to be a non-empty string, got `""`');
  // A lone surrogate has no UTF-8 encoding: clients send U+FFFD instead, so distinct names would share a key.
  if (LONE_SURROGATE.test(resource)) {
    throw new RangeError(`Expected every resource to be well-formed Unicode, got ${formatValue(resource)} with a lone surrogate`);
  }
}

function checkKey(key: string, resource: string): void {
  if (!key.endsWith(FENCE_KEY_SUFFIX)) return;
  // The key is shown only when the prefix made it end so: it may be long, and formatValue cuts the end.
  const madeKey = resource.endsWith(FENCE_KEY_SUFFIX) ? '' : ` (key ${formatValue(key)})`;
  throw new RangeError(
    `Expected every resource to make a key that does not end with "${FENCE_KEY_SUFFIX}", which is reserved for fencing counters, got ${formatValue(resource)}${madeKey}`,
  );
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Validates a TTL: a positive integer up to {@link MAX_TTL_MS} that leaves validity after drift. */
export function checkTtl(ttlMs: unknown, driftFactor: number): number {
  checkDurationMs('ttlMs', ttlMs, 1);
  if (validityMs({ ttlMs, elapsedMs: 0, driftFactor }) <= 0) {
    throw new RangeError(
      `Expected \`ttlMs\` to be longer than its clock drift allowance (driftFactor ${driftFactor} + 2 ms), got \`${ttlMs}\``,
    );
  }
  return ttlMs;
}

/** Checks a duration in milliseconds: an integer from `min` up to the largest delay a timer accepts. */
function checkDurationMs(name: string, value: unknown, min: 0 | 1): asserts value is number {
  checkInteger(name, value, min, MAX_TTL_MS);
}

function checkInteger(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`Expected \`${name}\` to be a number, got ${formatValue(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    const kind = min === 0 ? 'a non-negative integer' : 'a positive integer';
    const bound = max === Number.MAX_SAFE_INTEGER ? '' : ` up to ${max}`;
    throw new RangeError(`Expected \`${name}\` to be ${kind}${bound}, got ${formatValue(value)}`);
  }
}

/**
 * Checks that options are an object and copies them: every option is read once, here, so that a getter or
 * a Proxy cannot answer one value to the validation and another to the use.
 */
function checkOptionsObject(name: string, value: unknown): object {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`${name}\` to be an object, got ${formatValue(value)}`);
  }
  return { ...value };
}

function isAdapter(value: unknown): value is RedisAdapter {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof Reflect.get(value, 'evalsha') === 'function' &&
    typeof Reflect.get(value, 'eval') === 'function'
  );
}

/** Shows a bad value in a message, in backticks, cut to 60 characters. */
function formatValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'function') text = `function ${value.name}`.trim();
  else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    text = value.constructor?.name && value.constructor !== Object ? `${value.constructor.name} {…}` : safeJson(value);
  } else text = typeof value === 'bigint' ? `${value}n` : Array.isArray(value) ? safeJson(value) : String(value);
  return `\`${text.length > 60 ? `${text.slice(0, 57)}...` : text}\``;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
