// The public option types of `Redlock` and its methods. The checks and defaults are in settings/.
import type { RedisAdapter } from './base/adapter.js';
import type { Clock } from './base/clock.js';
import type { Lock } from './lock/lock.js';
import type { NamesIn } from './settings/option-names.js';

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
   * acquired, `signal` aborts or `waitMs` runs out. When no `retryCount` is given (here or on the call),
   * a call that says how long to wait (its own `waitMs`, `Infinity` included, or a time limit of the
   * `Redlock`'s) retries until then, whatever failed (a held lock, or nodes that cannot be reached): the
   * default applies only to calls that say nothing of how long to wait.
   *
   * `-1`, which node-redlock reads as "for ever", is refused with a `RangeError` that says to write
   * `Infinity`: a count that went negative is more often a bug (say `maxTries - 1` with `maxTries` 0)
   * than a wish to wait for ever, and turning that bug into a wait without end is the worst outcome;
   * `Infinity` says what it means, in the same type.
   * @defaultValue `10`, or `Infinity` for a call given `waitMs` (see above)
   */
  readonly retryCount?: number;
  /**
   * The longest time `acquire()` and `using()` wait for the lock, in milliseconds from the call: once it
   * runs out, the call stops (an attempt under way is cut off and its keys are removed, which takes one
   * round trip, at most two node timeouts when nodes hang) and rejects with a `LockAcquireError` whose
   * `waitMs` is set, with the `reason` of its last attempt (of the latest one that ran to its vote, when
   * the answers the cut-off one had decide nothing). It bounds the wait in the local queue too.
   * Whichever ends first, `waitMs` or a `retryCount` given here or on the call, ends the call; without a
   * `retryCount`, or with `retryCount: Infinity`, `waitMs` alone does. A positive integer up to 2³¹−1, or
   * `Infinity` for no time limit (to override a `Redlock`'s default in one call: without a `retryCount`,
   * that call then retries until it acquires). For a single try without waiting, use `tryAcquire()`.
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
   * @defaultValue adaptive, per node: 1.25 × the slower of the node's latest round trip and the second-slowest
   *   of its last 16, + 10 ms (one slow outlier is forgotten at the next answer); never below
   *   `ttlMs / 200` within [50, 1000] (50 ms for a 10 s TTL) and never above `ttlMs / 10`, at most 1000 (1 s
   *   for a 10 s TTL), which is also what a node gets before its first answer and after a timeout until it
   *   answers again (its probes), except that a node's measured pace may take it up to `ttlMs / 2`, at most
   *   1000 (a node 120 ms away under a 1 s TTL); plus 25 µs for each key after the first a call carries (250 ms more for a lock of
   *   10,001 resources). `redlock.nodeHealth()` shows each node's round trip.
   */
  readonly nodeTimeoutMs?: number;
  /**
   * How long after its start a node grants this `Redlock` no lock, in milliseconds: the spec's delayed
   * restart, checked against each node's uptime (read with INFO by the acquire script, only when about to
   * grant). The grace is sent by this client with each acquisition; the node keeps none, so it still
   * grants to a client that does not set it. A node that restarts without persistence forgets the keys of
   * locks that are still valid; set this to the longest TTL used on these nodes, in every client of them
   * (every process, every `Redlock`), so a restarted node grants none of them again before they would have
   * expired.
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
   * The TTL under which a TTL reads as seconds written as milliseconds, in milliseconds (`using('job', 60,
   * …)` meant a minute, and got a 60 ms lock extended 37 times a second). Under it, a TTL kept extended
   * (`using()`, `autoExtend`, an election's `ttlMs`) is a `RangeError` before any node is called: each
   * extension starts when half the TTL of validity is left, so a sub-second TTL sends every node an
   * extension more than twice a second, and a stall of half the TTL loses the lock. Any other TTL under it
   * is taken (a lock of 100-500 ms around a short write is legitimate), with a process warning (code
   * `REDLOCK_SHORT_TTL`) once per process. Lower it where sub-second TTLs are meant (a lock that must free
   * within 300 ms of a crash); `0` turns the check off. A positive integer up to 2³¹−1, or `0`.
   * @defaultValue `1_000`
   */
  readonly shortTtlMs?: number;
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
   * Takes the lock in turn: while anyone waits for it, it goes only to the waiter first in the nodes' wait
   * queue, on a quorum of nodes, and a newcomer queues behind, whatever its clock, its speed or its
   * distance to the nodes. Without it (the default), a waiter woken by a release races every other call, and
   * a process that releases and takes the lock back at once keeps it most of the time: more locks a second,
   * and no order. A fair call asks every node by the script, not by a plain `SET`, and stores its place on a
   * quorum before it counts as queued. A waiter that gives up leaves the queue at once; one whose process
   * exits (its connections close) is skipped at the next release; one that makes no attempt for its lease,
   * twice its longest retry pause and a node timeout, at least 1 s, is skipped until it asks again (a paused
   * process), and a waiter that cannot subscribe to wakes keeps its place and takes the lock at its next timed
   * retry. Default calls on the same resource may still take a free lock ahead of fair waiters (they never
   * wait behind them), and fair calls wait behind every waiter queued before them, default ones included.
   * A `tryAcquire()` with it takes the lock only if nobody waits. Re-entering a held lock never queues.
   * @defaultValue `false`
   */
  readonly fair?: boolean;
  /**
   * Re-enters a lock its owner already holds: pass that lock (the explicit owner context) and get another
   * handle on it instead of waiting for it. The resources must be among the lock's. No node is called
   * unless `ttlMs` asks for more validity than is left, which extends the lock; the handles share the keys,
   * the validity and the extensions, and the keys are released with the last handle. Pass `undefined` to
   * acquire normally, so code can take an optional context. A re-entry that cannot be granted rejects
   * with a `LockExtendError`, not a `LockAcquireError`: the lock is no longer held (expired, lost,
   * released; `isLost` tells), or the extension it needed failed.
   * @defaultValue `undefined`
   */
  readonly reentrant?: Lock;
  /**
   * Keeps the lock extended until it is released, as `using()` does while its routine runs, for locks held across
   * callbacks or requests: each extension (by `ttlMs` again) starts when half the TTL of validity is left and is
   * retried while validity remains. `maxExtensions` and `maxHoldMs` bound it. When the lock can no longer be
   * guaranteed, or a limit is reached, extension stops and `lock.signal` aborts with the reason (a `LockLostError` or a
   * `LockLimitError`). `release()` stops it, and so does `redlock.close()` (`lock.signal` then aborts with a
   * `RedlockClosedError`). Its timers are unref'd: an extended lock does not keep the process alive. Re-entrant handles
   * each extend the shared hold while they are held. With it, `ttlMs` must be at least the `Redlock`'s `shortTtlMs`
   * (`1_000` by default): a shorter one is a `RangeError` before any node is called (see {@link RedlockOptions.shortTtlMs}).
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
export type TryAcquireOptions = Pick<AcquireOptions, 'signal' | 'fencing' | 'fair' | 'reentrant' | 'autoExtend' | 'maxExtensions' | 'maxHoldMs'>;

/** Settings of `redlock.semaphore()`. */
export interface SemaphoreOptions {
  /**
   * How many permits may be held at once across every holder: an integer from 1 to 1,000. Every client
   * of a resource must give the same limit: while permits are held, a call with another limit is refused
   * with a `PermitError` (`'limit-mismatch'`), never admitted beyond either limit.
   */
  readonly limit: number;
}

/** Per-call settings of a semaphore's `acquire()`: retries override the `Redlock`'s for this call. */
export interface PermitOptions {
  /**
   * How many permits to take at once, all or none: an integer from 1 to the semaphore's limit.
   * @defaultValue `1`
   */
  readonly permits?: number;
  /** Gives up waiting: `acquire()` rejects with `signal.reason` and leaves no permit behind. */
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
   * Keeps the permits extended until they are released, as {@link AcquireOptions.autoExtend} does for a
   * lock (`ttlMs` at least `shortTtlMs`, `1_000` by default); `permit.signal` tells when they can no longer
   * be relied on.
   * @defaultValue `false`
   */
  readonly autoExtend?: boolean;
  /** See {@link AcquireOptions.maxExtensions}. */
  readonly maxExtensions?: number;
  /** See {@link AcquireOptions.maxHoldMs}. */
  readonly maxHoldMs?: number;
}

/** Per-call settings of a semaphore's `tryAcquire()`: those of `acquire()` that do not wait. */
export type TryPermitOptions = Pick<PermitOptions, 'permits' | 'signal' | 'autoExtend' | 'maxExtensions' | 'maxHoldMs'>;

/**
 * Settings of a semaphore's `using()`: those of its `acquire()` but `autoExtend` (`using()` always
 * extends), with `maxExtensions` and `maxHoldMs` bounding how long a routine keeps its permits.
 */
export interface PermitUsingOptions extends Omit<PermitOptions, 'autoExtend'> {}

/**
 * Per-call settings of a read-write lock's `acquireRead()` and `acquireWrite()`: those of a semaphore's
 * `acquire()` but `permits`; retries override the `Redlock`'s for this call, and `autoExtend` keeps the
 * lock extended until it is released.
 */
export interface ReadWriteOptions extends Omit<PermitOptions, 'permits'> {}

/** Per-call settings of a read-write lock's `tryAcquireRead()` and `tryAcquireWrite()`: those that do not wait. */
export type TryReadWriteOptions = Pick<ReadWriteOptions, 'signal' | 'autoExtend' | 'maxExtensions' | 'maxHoldMs'>;

/** Settings of a read-write lock's `usingRead()` and `usingWrite()`: those of its acquisitions but `autoExtend`. */
export interface ReadWriteUsingOptions extends Omit<ReadWriteOptions, 'autoExtend'> {}

/** Settings of `redlock.election()`. */
export interface ElectionOptions {
  /**
   * How long leadership outlives a leader that stops extending it (a crash, a lost network), in
   * milliseconds: the TTL of the lock a leader holds. A crashed leader's successor takes over after at
   * most this and one retry pause. A leader keeps it extended, at half of it, so it is at least the
   * `Redlock`'s `shortTtlMs` (`1_000` by default): a shorter one is a `RangeError` at `redlock.election()`
   * (seconds written as milliseconds, as a rule: `60` is 60 ms, not a minute).
   * @defaultValue `10_000`
   */
  readonly ttlMs?: number;
  /**
   * How often `observe()` reads the leader when no node announced a change, in milliseconds: how late it
   * sees a leader that crashed with nobody campaigning, or a change a node could not announce.
   * @defaultValue `1_000`
   */
  readonly pollMs?: number;
}

/** Per-call settings of an election's `campaign()` and `lead()`. */
export interface CampaignOptions {
  /** Gives up campaigning: the call rejects with `signal.reason`, leading nowhere. Leadership won is not ended by it. */
  readonly signal?: AbortSignal;
  /**
   * The longest time to campaign, in milliseconds from the call: once it runs out, the call rejects with
   * the `LockAcquireError` of its last attempt (see {@link RedlockOptions.waitMs}), whose `reason` says why:
   * `'held-by-another-owner'` while another leads, `'nodes-unreachable'` when no quorum of nodes answered,
   * with each node's outcome in `attempts`.
   * @defaultValue `Infinity` (campaign until leading)
   */
  readonly waitMs?: number;
  /**
   * How many more attempts to make after the first before the call rejects with the `LockAcquireError` of
   * the last (see {@link RedlockOptions.retryCount}), whatever failed: a leader that leads on, or nodes
   * that cannot be reached. Whichever ends first, `waitMs` or `retryCount`, ends the call.
   * @defaultValue `Infinity` (retry until leading)
   */
  readonly retryCount?: number;
  /** Ends leadership after this many extensions (see {@link AcquireOptions.maxExtensions}): the leadership's signal aborts with a `LockLimitError`. */
  readonly maxExtensions?: number;
  /** Ends leadership once it was held this long, in milliseconds (see {@link AcquireOptions.maxHoldMs}). */
  readonly maxHoldMs?: number;
}

/** Per-call settings of an election's `observe()`. */
export interface ObserveOptions {
  /** Ends the observation: the iteration throws `signal.reason`. */
  readonly signal?: AbortSignal;
}

type IsSame<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/**
 * Fails to compile (`true` is not assignable to `false`) when `OPTION_SCOPES` (settings/option-names.ts) and the option
 * interfaces disagree: an option added to an interface must be added to the table, and the other way round.
 */
const OPTION_SCOPES_MATCH_TYPES: [
  IsSame<NamesIn<'Redlock'>, keyof RedlockOptions>,
  IsSame<NamesIn<'acquire'>, keyof AcquireOptions>,
  IsSame<NamesIn<'tryAcquire'>, keyof TryAcquireOptions>,
  IsSame<NamesIn<'using'>, keyof UsingOptions>,
  IsSame<NamesIn<'semaphore'>, keyof SemaphoreOptions>,
  IsSame<NamesIn<'acquirePermits'>, keyof PermitOptions>,
  IsSame<NamesIn<'tryAcquirePermits'>, keyof TryPermitOptions>,
  IsSame<NamesIn<'usingPermits'>, keyof PermitUsingOptions>,
  IsSame<NamesIn<'acquireReadWrite'>, keyof ReadWriteOptions>,
  IsSame<NamesIn<'tryAcquireReadWrite'>, keyof TryReadWriteOptions>,
  IsSame<NamesIn<'usingReadWrite'>, keyof ReadWriteUsingOptions>,
  IsSame<NamesIn<'election'>, keyof ElectionOptions>,
  IsSame<NamesIn<'campaign'>, keyof CampaignOptions>,
  IsSame<NamesIn<'observe'>, keyof ObserveOptions>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true, true];
void OPTION_SCOPES_MATCH_TYPES;
