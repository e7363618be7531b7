import type { RedisAdapter } from './base/adapter.js';
import type { Lock } from './lock/lock.js';
import { type Clock, SYSTEM_CLOCK, validityMs } from './base/clock.js';
import type { NodeLatency } from './nodes/node-latency.js';
import { FENCE_KEY_SUFFIX } from './scripts/fence.js';

/** A node with settings of its own, for deployments where some nodes are farther away than others. */
export interface RedlockNode {
  /** The node's adapter. */
  readonly adapter: RedisAdapter;
  /**
   * How long a call to this node may take, in milliseconds, overriding the `Redlock`'s `nodeTimeoutMs` and
   * the adaptive default (which already follows each node's measured round trip).
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
   * none of them acquired the lock instead (see `acquire()`). `Infinity` retries until the lock is
   * acquired, `signal` aborts or `waitMs` runs out.
   *
   * `-1`, which node-redlock reads as "for ever", is refused with a `RangeError` that says to write
   * `Infinity`: a count that went negative is more often a bug (say `maxTries - 1` with `maxTries` 0)
   * than a wish to wait for ever, and turning that bug into a wait without end is the worst outcome;
   * `Infinity` says what it means, in the same type.
   * @defaultValue `10`
   */
  readonly retryCount?: number;
  /**
   * The longest time `acquire()` and `using()` wait for the lock, in milliseconds from the call: once it
   * runs out, the call stops (an attempt under way is cut off and its keys are removed, which takes one
   * round trip, at most two node timeouts when nodes hang) and rejects with a `LockAcquireError` whose
   * `waitMs` is set, with the `reason` of its last attempt (of the latest one that ran to its vote, when
   * the answers the cut-off one had decide nothing). It bounds the wait in the local queue too.
   * Whichever ends first, `waitMs` or the retries, ends the call; with `retryCount: Infinity`, `waitMs`
   * alone does. A positive integer up to 2³¹−1, or `Infinity` for no time limit (to override a
   * `Redlock`'s default in one call). For a single try without waiting, use `tryAcquire()`.
   * @defaultValue `Infinity` (the wait is bounded by `retryCount` only)
   */
  readonly waitMs?: number;
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
   * @defaultValue adaptive, per node: the node's smoothed round trip + max(10 ms, 4 × its deviation), as TCP
   *   sets its retransmission timeout, doubled after each timeout until the node answers again; never below
   *   `ttlMs / 200` within [50, 1000] (50 ms for a 10 s TTL) and never above `ttlMs / 10`, at most 1000 (1 s
   *   for a 10 s TTL), which is also what a node gets before its first answer; plus 25 µs for each key after
   *   the first a call carries (250 ms more for a lock of 10,001 resources). `redlock.nodeHealth()` shows
   *   each node's round trip.
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
  /**
   * Gives up waiting: `acquire()` rejects with `signal.reason` and leaves no key behind. Many concurrent
   * calls may share one signal: the `Redlock` listens to it once, not once per call, so Node prints no
   * `MaxListenersExceededWarning`, and it stops listening when the calls are done.
   */
  readonly signal?: AbortSignal;
  /** See {@link RedlockOptions.retryCount}. */
  readonly retryCount?: number;
  /** See {@link RedlockOptions.retryDelayMs}. */
  readonly retryDelayMs?: number;
  /** See {@link RedlockOptions.retryJitterMs}. */
  readonly retryJitterMs?: number;
  /** See {@link RedlockOptions.waitMs}. */
  readonly waitMs?: number;
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

/**
 * Per-call settings of `tryAcquire()`: those of `acquire()` that do not wait. Retry options and `waitMs`
 * are refused with a `TypeError`, since it makes exactly one attempt.
 */
export type TryAcquireOptions = Pick<AcquireOptions, 'signal' | 'fencing' | 'reentrant' | 'autoExtend' | 'maxExtensions' | 'maxHoldMs'>;

/** Where an option may be given: the `Redlock` constructor, or the options of one method. */
export type OptionScope = 'Redlock' | 'acquire' | 'tryAcquire' | 'using';

const PER_CALL = ['acquire', 'tryAcquire', 'using'] as const;
const WAITING = ['Redlock', 'acquire', 'using'] as const;

/**
 * Every option name, with where it may be given. **A new option is registered here**, in one line: the
 * option objects are checked against this table, so an unknown name is refused before any network call,
 * and the type assertion below makes the build fail until the table and the option interfaces agree.
 */
const OPTION_SCOPES = {
  driftFactor: ['Redlock'],
  retryCount: WAITING,
  retryDelayMs: WAITING,
  retryJitterMs: WAITING,
  waitMs: WAITING,
  nodeTimeoutMs: ['Redlock'],
  restartGraceMs: ['Redlock'],
  refuseEvictingNodes: ['Redlock'],
  keyPrefix: ['Redlock'],
  clock: ['Redlock'],
  signal: PER_CALL,
  fencing: PER_CALL,
  reentrant: PER_CALL,
  autoExtend: ['acquire', 'tryAcquire'],
  maxExtensions: PER_CALL,
  maxHoldMs: PER_CALL,
} as const satisfies Record<string, readonly OptionScope[]>;

type OptionName = keyof typeof OPTION_SCOPES;
type NamesIn<S extends OptionScope> = { [K in OptionName]: S extends (typeof OPTION_SCOPES)[K][number] ? K : never }[OptionName];
type IsSame<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/**
 * Fails to compile (`true` is not assignable to `false`) when {@link OPTION_SCOPES} and the option
 * interfaces disagree: an option added to an interface must be added to the table, and the other way round.
 */
const OPTION_SCOPES_MATCH_TYPES: [
  IsSame<NamesIn<'Redlock'>, keyof RedlockOptions>,
  IsSame<NamesIn<'acquire'>, keyof AcquireOptions>,
  IsSame<NamesIn<'tryAcquire'>, keyof TryAcquireOptions>,
  IsSame<NamesIn<'using'>, keyof UsingOptions>,
] = [true, true, true, true];
void OPTION_SCOPES_MATCH_TYPES;

/** The option names each scope accepts, made once: the check runs on every call with options. */
const NAMES_BY_SCOPE = new Map<OptionScope, ReadonlySet<string>>(
  (['Redlock', 'acquire', 'tryAcquire', 'using'] as const).map((scope) => [
    scope,
    new Set(Object.entries(OPTION_SCOPES).flatMap(([name, scopes]) => ((scopes as readonly OptionScope[]).includes(scope) ? [name] : []))),
  ]),
);

const SCOPE_LABELS: Record<OptionScope, string> = {
  Redlock: 'the `Redlock` constructor',
  acquire: '`acquire()`',
  tryAcquire: '`tryAcquire()`',
  using: '`using()`',
};

/**
 * Names other Redis lock libraries use, with what to write here: a caller moving from node-redlock or
 * redis-semaphore gets the intended name instead of an option silently ignored. Names that differ only
 * in case from one of ours are caught without an entry.
 */
/** What replaces another library's extension setting: there is no interval to tune, only whether to extend. */
const AUTO_EXTEND_HINT = 'use `autoExtend: true` in the options of `acquire()` or `tryAcquire()`, or `using()`, which extend the lock when half its TTL of validity is left';

const OPTION_ALIASES: Readonly<Record<string, { readonly use: string; readonly from: string }>> = {
  retryDelay: { use: 'write `retryDelayMs` (milliseconds)', from: 'node-redlock' },
  retryJitter: { use: 'write `retryJitterMs` (milliseconds)', from: 'node-redlock' },
  automaticExtensionThreshold: { use: AUTO_EXTEND_HINT, from: 'node-redlock' },
  retryInterval: { use: 'write `retryDelayMs` (milliseconds)', from: 'redis-semaphore' },
  acquireTimeout: { use: 'write `waitMs` (milliseconds)', from: 'redis-semaphore' },
  acquireAttemptsLimit: { use: 'write `retryCount`, the attempts after the first', from: 'redis-semaphore' },
  lockTimeout: { use: 'pass the TTL as the `ttlMs` argument (milliseconds)', from: 'redis-semaphore' },
  refreshInterval: { use: AUTO_EXTEND_HINT, from: 'redis-semaphore' },
  ttl: { use: 'pass the TTL as the `ttlMs` argument (milliseconds)', from: 'other lock libraries' },
  ttlMs: { use: 'pass the TTL as the `ttlMs` argument', from: 'other lock libraries' },
  timeout: {
    use: 'write `waitMs` for how long to wait for the lock, or `nodeTimeoutMs` on the `Redlock` for one call to one node',
    from: 'other lock libraries',
  },
  retries: { use: 'write `retryCount`', from: 'other lock libraries' },
  prefix: { use: 'write `keyPrefix` on the `Redlock`', from: 'other lock libraries' },
};

/**
 * Throws a `TypeError` naming the first option of `given` that `scope` does not take, with the intended
 * name when it is known: another scope's option, one of {@link OPTION_ALIASES}, or ours in another case.
 */
function checkOptionNames(given: object, scope: OptionScope): void {
  const allowed = NAMES_BY_SCOPE.get(scope) as ReadonlySet<string>;
  for (const name of Object.keys(given)) {
    if (allowed.has(name)) continue;
    const where = `Unknown option \`${name}\` in the options of ${SCOPE_LABELS[scope]}`;
    const scopes: readonly OptionScope[] | undefined = Object.hasOwn(OPTION_SCOPES, name) ? OPTION_SCOPES[name as OptionName] : undefined;
    if (scope === 'tryAcquire' && scopes?.includes('acquire') === true) {
      throw new TypeError(`${where}: it makes exactly one attempt, without retrying or waiting; use \`acquire()\` to wait for the lock`);
    }
    if (scopes !== undefined) {
      throw new TypeError(`${where}: \`${name}\` is an option of ${scopes.map((other) => SCOPE_LABELS[other]).join(', ')}`);
    }
    const alias = Object.hasOwn(OPTION_ALIASES, name) ? OPTION_ALIASES[name] : undefined;
    if (alias !== undefined) throw new TypeError(`${where}: ${alias.use}; \`${name}\` is the name in ${alias.from}`);
    const sameButCase = [...allowed].find((known) => known.toLowerCase() === name.toLowerCase());
    if (sameButCase !== undefined) throw new TypeError(`${where}: did you mean \`${sameButCase}\`?`);
    throw new TypeError(`${where}: it takes ${[...allowed].map((known) => `\`${known}\``).join(', ')}`);
  }
}

/** The defaults of {@link RedlockOptions}; `nodeTimeoutMs` is derived from each call's TTL instead. */
export const DEFAULT_OPTIONS = {
  driftFactor: 0.01,
  retryCount: 10,
  retryDelayMs: 200,
  retryJitterMs: 100,
  waitMs: Infinity,
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
 * Redlock's, else the one its measured latency calls for (see {@link NodeLatency}).
 */
export function nodeTimeoutMsFor(
  node: { readonly timeoutMs: number | undefined; readonly latency: NodeLatency },
  options: ResolvedOptions,
  ttlMs: number,
  keyCount = 1,
): number {
  return node.timeoutMs ?? options.nodeTimeoutMs ?? node.latency.timeoutMs(ttlMs, keyCount);
}

/** The options of a `Redlock` after validation, with defaults filled in. */
export interface ResolvedOptions {
  readonly driftFactor: number;
  readonly retryCount: number;
  readonly retryDelayMs: number;
  readonly retryJitterMs: number;
  readonly waitMs: number;
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
  const given = checkOptionsObject('options', options, 'Redlock') as RedlockOptions;
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
  /** A non-negative integer, or `Infinity`. */
  readonly retryCount: number;
  readonly retryDelayMs: number;
  readonly retryJitterMs: number;
}

/** The retry settings and time limit of one call: its own where given, else the `Redlock`'s. */
export interface WaitSettings extends RetrySettings {
  /** A positive integer, or `Infinity` for no time limit. */
  readonly waitMs: number;
}

/** The per-call settings of `acquire()` and `using()` after validation; `reentrant` is checked by the caller. */
export interface AcquireSettings extends WaitSettings {
  readonly signal: AbortSignal | undefined;
  readonly fencing: boolean;
  readonly reentrant: unknown;
  readonly autoExtend: boolean;
}

/** Validates per-call options of `acquire()`, `tryAcquire()` (which the name check keeps to its own) and `using()`. */
export function resolveAcquireOptions(
  options: unknown,
  defaults: RetrySettings & { readonly waitMs?: number },
  scope: 'acquire' | 'tryAcquire' | 'using' = 'acquire',
): AcquireSettings {
  const given = checkOptionsObject('options', options, scope) as AcquireOptions;
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
  const { retryCount, retryDelayMs, retryJitterMs, waitMs } = resolveRetries(given, defaults);
  return { retryCount, retryDelayMs, retryJitterMs, waitMs, signal, fencing: fencing ?? false, reentrant, autoExtend: autoExtend ?? false };
}

/** Validates the limits of automatic extension (`using()`, or `acquire()` with `autoExtend`). */
export function resolveExtensionLimits(options: unknown): {
  readonly maxExtensions: number | undefined;
  readonly maxHoldMs: number | undefined;
} {
  // The names were checked with the other options of the call.
  const { maxExtensions, maxHoldMs } = checkOptionsObject('options', options, undefined) as AcquireOptions;
  if (maxExtensions !== undefined) checkInteger('maxExtensions', maxExtensions, 0, Number.MAX_SAFE_INTEGER);
  if (maxHoldMs !== undefined) checkDurationMs('maxHoldMs', maxHoldMs, 1);
  return { maxExtensions, maxHoldMs };
}

/** Validates the retry settings given and fills in the others from `defaults`, which are valid already. */
function resolveRetries(given: Partial<WaitSettings>, defaults: RetrySettings & { readonly waitMs?: number }): WaitSettings {
  const { retryCount, retryDelayMs, retryJitterMs, waitMs } = given;
  if (retryCount !== undefined) checkRetryCount(retryCount);
  if (retryDelayMs !== undefined) checkDurationMs('retryDelayMs', retryDelayMs, 0);
  if (retryJitterMs !== undefined) checkDurationMs('retryJitterMs', retryJitterMs, 0);
  if (waitMs !== undefined) checkWaitMs(waitMs);
  return {
    retryCount: retryCount === undefined ? defaults.retryCount : retryCount,
    retryDelayMs: retryDelayMs === undefined ? defaults.retryDelayMs : retryDelayMs,
    retryJitterMs: retryJitterMs === undefined ? defaults.retryJitterMs : retryJitterMs,
    waitMs: waitMs === undefined ? (defaults.waitMs ?? Infinity) : waitMs,
  };
}

/** A non-negative integer or `Infinity`; `-1` gets a message of its own (see {@link RedlockOptions.retryCount}). */
function checkRetryCount(value: unknown): asserts value is number {
  if (value === Infinity) return;
  if (value === -1) {
    throw new RangeError(
      'Expected `retryCount` to be a non-negative integer or `Infinity`, got `-1`: to retry until the lock is acquired, `signal` aborts or `waitMs` runs out, write `Infinity`',
    );
  }
  if (typeof value !== 'number') throw new TypeError(`Expected \`retryCount\` to be a number, got ${formatValue(value)}`);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Expected \`retryCount\` to be a non-negative integer or \`Infinity\`, got ${formatValue(value)}`);
  }
}

/** A positive integer up to {@link MAX_TTL_MS}, or `Infinity`. */
function checkWaitMs(value: unknown): asserts value is number {
  if (value === Infinity) return;
  if (typeof value !== 'number') throw new TypeError(`Expected \`waitMs\` to be a number, got ${formatValue(value)}`);
  if (!Number.isInteger(value) || value < 1 || value > MAX_TTL_MS) {
    const advice = value === 0 ? ': for a single attempt without waiting, use `tryAcquire()`' : '';
    throw new RangeError(`Expected \`waitMs\` to be a positive integer up to ${MAX_TTL_MS} or \`Infinity\`, got ${formatValue(value)}${advice}`);
  }
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

/**
 * Validates the TTL of an acquisition: a positive integer up to {@link MAX_TTL_MS} that leaves more
 * validity (after the drift allowance) than the time an attempt may take to hear from a quorum, the
 * `quorum`-th shortest node timeout for a call over `keyCount` keys (for adaptive timeouts, their lower
 * bound). A lock with less could be granted
 * with no validity left by nodes that answer within their timeout, so it could never be relied on; with
 * the default timeouts (at least 50 ms) that is a TTL under 53 ms, which is almost always seconds
 * written as milliseconds, and the message says so.
 *
 * @throws `TypeError` for a TTL that is not a number; `RangeError` for one out of range or too short.
 */
export function checkAcquireTtl(
  ttlMs: unknown,
  nodes: readonly ResolvedNode[],
  options: ResolvedOptions,
  quorum: number,
  keyCount: number,
): number {
  checkDurationMs('ttlMs', ttlMs, 1);
  const validity = validityMs({ ttlMs, elapsedMs: 0, driftFactor: options.driftFactor });
  const isDefaultTimeout = options.nodeTimeoutMs === undefined && nodes.every((node) => node.timeoutMs === undefined);
  // Usually every node has the same timeout: no list to sort on the path of every call.
  const decisionMs = isDefaultTimeout
    ? defaultNodeTimeoutMs(ttlMs, keyCount)
    : (nodes
        // An adaptive timeout is never below the default: the shortest an attempt may take to hear a quorum.
        .map((node) => node.timeoutMs ?? options.nodeTimeoutMs ?? defaultNodeTimeoutMs(ttlMs, keyCount))
        .sort((a, b) => a - b)[quorum - 1] as number);
  if (validity >= decisionMs) return ttlMs;
  const inSeconds = ttlMs * 1000;
  const advice =
    isDefaultTimeout && inSeconds <= MAX_TTL_MS
      ? `the unit is milliseconds: did you mean ${inSeconds.toLocaleString('en-US').replaceAll(',', '_')} (${ttlMs} s)?`
      : 'the unit is milliseconds: use a longer TTL, or shorter node timeouts';
  throw new RangeError(
    `Expected \`ttlMs\` to leave more validity than one node timeout (${decisionMs} ms), got \`${ttlMs}\` ms, which leaves ${Math.max(0, validity)} ms after the clock drift allowance: ${advice}`,
  );
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
function checkOptionsObject(name: string, value: unknown, scope: OptionScope | undefined): object {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`${name}\` to be an object, got ${formatValue(value)}`);
  }
  const copy = { ...value };
  if (scope !== undefined) checkOptionNames(copy, scope);
  return copy;
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
