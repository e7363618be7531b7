import type { RedisAdapter } from './adapter.js';
import type { Lock } from './lock.js';
import { type Clock, SYSTEM_CLOCK, validityMs } from './clock.js';

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
   * @defaultValue derived from the TTL: `ttlMs / 200`, at least 50 and at most 1000 (50 ms for a 10 s TTL)
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
   * A string put before every resource name to make its key, e.g. `'lock:'`.
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
   * counter key per resource (`<key>:fence`, no TTL) on every node. The guarantee needs nodes that persist
   * every write (`appendfsync always`): a node that restarts empty loses its counters for good.
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
}

/**
 * Settings of `using()`: those of `acquire()`, plus limits that bound how long a routine keeps the lock,
 * as the Redlock spec asks, so a stuck routine cannot hold a resource for ever. When a limit is reached,
 * extension stops and the routine's signal aborts with a `LockLimitError`.
 */
export interface UsingOptions extends AcquireOptions {
  /**
   * The most automatic extensions; `0` never extends, so the routine has one TTL.
   * @defaultValue unlimited
   */
  readonly maxExtensions?: number;
  /**
   * The longest time the routine may keep the lock, in milliseconds from its acquisition.
   * @defaultValue unlimited
   */
  readonly maxHoldMs?: number;
}

/** The defaults of {@link RedlockOptions}; `nodeTimeoutMs` is derived from each call's TTL instead. */
export const DEFAULT_OPTIONS = {
  driftFactor: 0.01,
  retryCount: 10,
  retryDelayMs: 200,
  retryJitterMs: 100,
  keyPrefix: '',
  restartGraceMs: 0,
} as const;

/**
 * The longest TTL, in milliseconds (about 24.8 days): the largest delay a Node.js timer accepts, which
 * automatic extension needs.
 */
export const MAX_TTL_MS = 2 ** 31 - 1;

/** The per-node timeout for a TTL when none is set: see {@link RedlockOptions.nodeTimeoutMs}. */
export function defaultNodeTimeoutMs(ttlMs: number): number {
  // The spec suggests 5-50 ms for a 10 s TTL. We take the top of that range and never go below 50 ms:
  // after the event loop stalls, Node runs due timers before reading sockets, so a shorter timeout would
  // fire on replies that already arrived.
  return Math.min(1000, Math.max(50, Math.round(ttlMs / 200)));
}

/** How long one call to `node` may take for a TTL: the node's own timeout, else the Redlock's, else the default. */
export function nodeTimeoutMsFor(node: ResolvedNode, options: ResolvedOptions, ttlMs: number): number {
  return node.timeoutMs ?? options.nodeTimeoutMs ?? defaultNodeTimeoutMs(ttlMs);
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
  const resolved = nodes.map((node: unknown, index): ResolvedNode => {
    if (isAdapter(node)) return { adapter: node, timeoutMs: undefined };
    // Read each property once: a getter must not answer one value to the check and another to the use.
    const { adapter, timeoutMs } = typeof node === 'object' && node !== null ? (node as Partial<RedlockNode>) : {};
    if (isAdapter(adapter)) {
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
  return resolved;
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
  return {
    restartGraceMs,
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
}

/** Validates per-call options of `acquire()` and `using()`. */
export function resolveAcquireOptions(options: unknown, defaults: RetrySettings): AcquireSettings {
  const given = checkOptionsObject('options', options) as AcquireOptions;
  const { signal, fencing, reentrant } = given;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${formatValue(signal)}`);
  }
  if (fencing !== undefined && typeof fencing !== 'boolean') {
    throw new TypeError(`Expected \`fencing\` to be a boolean, got ${formatValue(fencing)}`);
  }
  const { retryCount, retryDelayMs, retryJitterMs } = resolveRetries(given, defaults);
  return { retryCount, retryDelayMs, retryJitterMs, signal, fencing: fencing ?? false, reentrant };
}

/** Validates the limits of `using()`. */
export function resolveUsingLimits(options: unknown): {
  readonly maxExtensions: number | undefined;
  readonly maxHoldMs: number | undefined;
} {
  const { maxExtensions, maxHoldMs } = checkOptionsObject('options', options) as UsingOptions;
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

/** Validates the resources of one call and makes their keys. */
export function resolveResources(
  resources: unknown,
  keyPrefix: string,
): { readonly resources: readonly string[]; readonly keys: readonly string[] } {
  // The usual call locks one resource, given as a string: no copy, and nothing to compare it with.
  if (typeof resources === 'string') {
    checkResource(resources);
    return { resources: [resources], keys: [keyPrefix + resources] };
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
  return { resources: names, keys: names.map((resource) => keyPrefix + resource) };
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
