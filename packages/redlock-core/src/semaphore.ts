import type { Acquisitions } from './acquire/acquisitions.js';
import type { SemaphoreInspection } from './base/outcomes.js';
import type { NodeSet } from './nodes/node-state.js';
import type { PermitOptions, PermitUsingOptions, TryPermitOptions } from './options.js';
import { type ClaimAcquisition, ClaimCalls, permitsOf } from './permits/acquire-permits.js';
import type { FailedPermitAttempt } from './permits/claim-attempt.js';
import { inspectPermits } from './permits/inspect-permits.js';
import type { Permit } from './permits/permit.js';
import type { SemaphoreSettings } from './settings/resolve-permits.js';

/**
 * A counting semaphore over the nodes of a `Redlock`: at most `limit` permits of `resource` are held at
 * once, across every process and machine that uses it with the same limit. A holder takes one permit or
 * several at once; each holder has its own token and TTL, and holds its permits while a quorum of nodes
 * admitted them and validity (TTL − elapsed − drift) remains, as a lock is held. The nodes evict expired
 * permits by their own clocks, so a holder that crashed frees its permits when their TTL runs out.
 *
 * **Order.** A request for several permits that waits is not starved by holders of one: it leaves an
 * intent on the nodes where too few are free (which lives as long as its TTL plus the longest pause
 * between its attempts, and is refreshed by each of them), and while it lives, other requests are admitted
 * there only if they leave that many free. One waiting request's intent at a time; otherwise there is no
 * queue: whoever reaches a quorum first.
 *
 * Made by `redlock.semaphore()`; it holds no connection of its own and costs nothing while unused.
 */
export class Semaphore {
  /** The resource, without the key prefix. */
  readonly resource: string;
  /** How many permits may be held at once. */
  readonly limit: number;
  readonly #calls: ClaimCalls;
  readonly #settings: SemaphoreSettings;
  readonly #permits: ClaimAcquisition<Permit, FailedPermitAttempt>;

  /** @internal Made by `redlock.semaphore()`, which checks the arguments. */
  constructor(set: NodeSet, acquisitions: Acquisitions, settings: SemaphoreSettings) {
    this.#calls = new ClaimCalls(set, acquisitions, settings.resource, 'semaphore');
    this.#settings = settings;
    this.#permits = permitsOf(settings);
    this.resource = settings.resource;
    this.limit = settings.limit;
  }

  /**
   * Takes `permits` permits (1 by default) for `ttlMs`, waiting while too few are free: each attempt asks
   * every node at once with a fresh token and succeeds the moment a quorum admitted it with validity left;
   * a failed attempt removes what it wrote, and the next follows after `retryDelayMs` ± `retryJitterMs`, or
   * at once when a node wakes this process at a holder's release (such a woken attempt uses up no retry;
   * after one that failed, wakes rest for at least 4 ms and nine times its duration, since anyone who can
   * PUBLISH on a node can send one). While it waits for more than 1 permit, others keep that many free for
   * it (see the class's order); when the call gives up, its intent is withdrawn and waiting requests woken.
   *
   * @param ttlMs - How long the nodes keep the permits, in milliseconds, if they are not released or extended:
   *   with `autoExtend`, at least `shortTtlMs` (1,000 by default; a `RangeError` below, as seconds written as
   *   milliseconds); a shorter one without it is taken, with a process warning once (`REDLOCK_SHORT_TTL`).
   * @returns The held {@link Permit}.
   * @throws {@link MisconfiguredNodeError} at once, without retrying, when a node replied with a setup mistake,
   *   e.g. `NOPERM` to a user whose ACL denies `EVAL` (`'no-permission'`), at its first call: never as unreachable.
   * @throws {@link PermitError} (`operation` `'acquire'`) when the attempts or `waitMs` ran out (`reason`
   *   `'no-permits-free'`, `'nodes-unreachable'` or `'no-validity'`), and at once, without retrying, for
   *   `'foreign-key'` and `'limit-mismatch'`; `signal.reason` once `signal` aborts: at once between
   *   attempts, and during an attempt once what it wrote is freed (no node is asked after the abort, and
   *   each call is bounded by its node's timeout); {@link RedlockClosedError} once `close()` was called, or
   *   when it is called while this waits;
   *   `TypeError` or `RangeError` for bad arguments (a `permits` above the limit, an unknown option, a
   *   TTL that leaves less validity than one node timeout, or one under `shortTtlMs` with `autoExtend`),
   *   before any node is called.
   *
   * @example
   * ```ts
   * const imports = redlock.semaphore('imports', { limit: 3 });
   * const permit = await imports.acquire(30_000, { waitMs: 60_000 });
   * try {
   *   await importFeed();
   * } finally {
   *   await permit.release();
   * }
   * ```
   */
  acquire(ttlMs: number, options?: PermitOptions): Promise<Permit> {
    return this.#calls.acquire(this.#permits, ttlMs, options);
  }

  /**
   * Makes exactly one attempt to take `permits` permits (1 by default), without retrying or waiting, and
   * tells whether too few are free: it resolves with the {@link Permit}, or with `undefined` as soon as the
   * nodes with too few permits free are more than N − quorum, so that no quorum was possible (slower nodes
   * are not waited for; what they give is freed in the background, which `close()` waits for). A single
   * try leaves no intent: it never makes others keep permits free.
   *
   * @throws {@link MisconfiguredNodeError} at once, without retrying, when a node replied with a setup mistake,
   *   e.g. `NOPERM` to a user whose ACL denies `EVAL` (`'no-permission'`), at its first call: never as unreachable.
   * @throws {@link PermitError} (`operation` `'acquire'`) when the nodes could not decide
   *   (`'nodes-unreachable'`), a quorum admitted too late (`'no-validity'`), or for `'foreign-key'` and
   *   `'limit-mismatch'`; `signal.reason` when `signal` aborts; {@link RedlockClosedError} once `close()`
   *   was called; `TypeError` for a retry option or `waitMs`, and `TypeError` or `RangeError` for bad
   *   arguments, before any node is called.
   */
  tryAcquire(ttlMs: number, options?: TryPermitOptions): Promise<Permit | undefined> {
    return this.#calls.tryAcquire(this.#permits, ttlMs, options);
  }

  /**
   * Takes `permits` permits (1 by default) as `acquire()` does, runs `routine` while keeping them
   * extended, and always releases them at the end, as `redlock.using()` does for a lock: the routine's
   * signal aborts with a {@link LockLostError} when the permits can no longer be guaranteed (with a
   * {@link LockLimitError} at `maxExtensions` or `maxHoldMs`, with a {@link RedlockClosedError} at
   * `close()`, or with your reason when `options.signal` aborts). Each extension starts when half the TTL
   * of validity is left.
   *
   * @param ttlMs - How long the nodes keep the permits, in milliseconds, between extensions: at least
   *   `shortTtlMs` (1,000 by default; a `RangeError` below, before any node is called, as seconds written
   *   as milliseconds).
   * @returns What `routine` returns, when the permits were held from start to end.
   * @throws {@link MisconfiguredNodeError} at once, without retrying, when a node replied with a setup mistake,
   *   e.g. `NOPERM` to a user whose ACL denies `EVAL` (`'no-permission'`), at its first call: never as unreachable.
   * @throws {@link LockLostError} when the routine returned but the permits were lost meanwhile (its
   *   `result` holds what the routine returned); whatever `routine` throws, with a loss attached as its
   *   `lockLostError` and a failed release as its `releaseError`; {@link PermitError} if the permits could
   *   not be taken (the routine does not run); {@link RedlockClosedError} once `close()` was called;
   *   `TypeError` or `RangeError` for bad arguments, before any node is called.
   *
   * @example
   * ```ts
   * // At most 3 imports at once, across every process of the fleet.
   * await redlock.semaphore('imports', { limit: 3 }).using(30_000, async (signal) => {
   *   await importFeed({ signal });
   * });
   * ```
   */
  using<T>(ttlMs: number, routine: (signal: AbortSignal, permit: Permit) => Promise<T> | T, options?: PermitUsingOptions): Promise<T> {
    return this.#calls.using(this.#permits, ttlMs, routine, options);
  }

  /**
   * Tells how many permits are in use and by how many holders, by the quorum's view, for dashboards and
   * tools: a permit is in use when its holder holds it on a quorum of nodes. Each node reports its slots
   * taken with an opaque holder id (a hash of the token, which can release nothing) and the time each
   * has left; no token is read or revealed, and nothing is changed. A snapshot: permits may be taken or
   * freed right after it.
   *
   * @throws {@link PermitError} (`operation` `'inspect'`, `'nodes-unreachable'`) if fewer than a quorum of
   *   nodes answered; {@link RedlockClosedError} once `close()` was called, before any node is called.
   *
   * @example
   * ```ts
   * const { permitsInUse, holders, limit } = await redlock.semaphore('imports', { limit: 3 }).inspect();
   * ```
   */
  inspect(): Promise<SemaphoreInspection> {
    return inspectPermits(this.#calls.set, this.#settings);
  }
}
