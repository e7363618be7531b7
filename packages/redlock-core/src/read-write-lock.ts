import type { Acquisitions } from './acquire/acquisitions.js';
import type { ReadWriteInspection } from './base/outcomes.js';
import type { NodeSet } from './nodes/node-state.js';
import type { ReadWriteOptions, ReadWriteUsingOptions, TryReadWriteOptions } from './options.js';
import { type ClaimAcquisition, ClaimCalls, readWriteOf } from './permits/acquire-permits.js';
import type { FailedReadWriteAttempt } from './permits/claim-attempt.js';
import { inspectReadWrite } from './permits/inspect-permits.js';
import type { ReadWriteHandle } from './permits/read-write-handle.js';
import type { ReadWriteSettings } from './settings/resolve-permits.js';

/**
 * A read-write lock over the nodes of a `Redlock`: many readers at once, or one writer alone, across every
 * process and machine that uses it. Each holder has its own token and TTL, and holds the lock while a
 * quorum of nodes admitted it and validity (TTL − elapsed − drift) remains, as a lock is held; the nodes
 * evict an entry by their own clocks when its TTL runs out, so a crashed holder blocks no one for longer.
 *
 * **Order.** Writers come first: a writer that waits for readers to leave stops new readers on the nodes it
 * reached (its intent, which lives as long as its TTL and is refreshed by each of its attempts), so a
 * stream of readers cannot starve it; readers already holding may extend and finish. A writer that waits
 * for another writer leaves no intent, so readers and writers alternate instead of writers starving
 * readers. Among readers, or among writers, there is no queue: whoever reaches a quorum first.
 *
 * Made by `redlock.readWriteLock()`; it holds no connection of its own and costs nothing while unused.
 */
export class ReadWriteLock {
  /** The resource, without the key prefix. */
  readonly resource: string;
  readonly #calls: ClaimCalls;
  readonly #settings: ReadWriteSettings;
  readonly #read: ClaimAcquisition<ReadWriteHandle, FailedReadWriteAttempt>;
  readonly #write: ClaimAcquisition<ReadWriteHandle, FailedReadWriteAttempt>;

  /** @internal Made by `redlock.readWriteLock()`, which checks the arguments. */
  constructor(set: NodeSet, acquisitions: Acquisitions, settings: ReadWriteSettings) {
    this.#calls = new ClaimCalls(set, acquisitions, settings.resource, 'read-write');
    this.#settings = settings;
    this.#read = readWriteOf(settings, 'read');
    this.#write = readWriteOf(settings, 'write');
    this.resource = settings.resource;
  }

  /**
   * Takes the lock for reading for `ttlMs`, waiting while a writer holds it or waits for it: each attempt
   * asks every node at once with a fresh token and succeeds the moment a quorum admitted it with validity
   * left; a failed attempt removes what it wrote, and the next follows after `retryDelayMs` ±
   * `retryJitterMs`, or at once when a node wakes this process at a release (using up no retry).
   *
   * @param ttlMs - How long the nodes keep the lock, in milliseconds, if it is not released or extended: with
   *   `autoExtend`, at least `shortTtlMs` (1,000 by default; a `RangeError` below, as seconds written as
   *   milliseconds); a shorter one without it is taken, with a process warning once (`REDLOCK_SHORT_TTL`).
   * @returns The held {@link ReadWriteHandle}, `mode` `'read'`.
   * @throws {@link MisconfiguredNodeError} at once, without retrying, when a node replied with a setup mistake,
   *   e.g. `NOPERM` to a user whose ACL denies `EVAL` (`'no-permission'`), at its first call: never as unreachable.
   * @throws {@link ReadWriteLockError} (`operation` `'acquire'`) when the attempts or `waitMs` ran out
   *   (`reason` `'locked'`, `'nodes-unreachable'` or `'no-validity'`), and at once for `'foreign-key'`;
   *   `signal.reason` once `signal` aborts: at once between attempts, and during an attempt once what it
   *   wrote is freed (no node is asked after the abort, and each call is bounded by its node's timeout);
   *   {@link RedlockClosedError} once `close()` was called, or when it is called while this waits;
   *   `TypeError` or `RangeError` for bad arguments, before any node is called.
   *
   * @example
   * ```ts
   * const catalog = redlock.readWriteLock('catalog');
   * const reading = await catalog.acquireRead(10_000);
   * try {
   *   await renderFromCatalog();
   * } finally {
   *   await reading.release();
   * }
   * ```
   */
  acquireRead(ttlMs: number, options?: ReadWriteOptions): Promise<ReadWriteHandle> {
    return this.#calls.acquire(this.#read, ttlMs, options);
  }

  /**
   * Takes the lock for writing for `ttlMs`, alone, waiting while readers or another writer hold it; while
   * it waits for readers, new readers are refused (see the class's order). Attempts, retries and wakes are
   * those of {@link acquireRead}; when the call gives up, its intent is withdrawn and waiting readers woken.
   *
   * @returns The held {@link ReadWriteHandle}, `mode` `'write'`.
   * @throws As {@link acquireRead}.
   *
   * @example
   * ```ts
   * await using writing = await redlock.readWriteLock('catalog').acquireWrite(10_000, { waitMs: 30_000 });
   * await rebuildCatalog();
   * ```
   */
  acquireWrite(ttlMs: number, options?: ReadWriteOptions): Promise<ReadWriteHandle> {
    return this.#calls.acquire(this.#write, ttlMs, options);
  }

  /**
   * Makes exactly one attempt to take the lock for reading, without retrying or waiting: it resolves with
   * the {@link ReadWriteHandle}, or with `undefined` as soon as a writer holds or waits for it on enough nodes
   * to deny a quorum (slower nodes are not waited for; what they give is freed in the background, which
   * `close()` waits for).
   *
   * @throws {@link MisconfiguredNodeError} at once, without retrying, when a node replied with a setup mistake,
   *   e.g. `NOPERM` to a user whose ACL denies `EVAL` (`'no-permission'`), at its first call: never as unreachable.
   * @throws {@link ReadWriteLockError} (`operation` `'acquire'`) when the nodes could not decide
   *   (`'nodes-unreachable'`), a quorum admitted too late (`'no-validity'`), or for `'foreign-key'`;
   *   `signal.reason` when `signal` aborts; {@link RedlockClosedError} once `close()` was called;
   *   `TypeError` for a retry option or `waitMs`, and `TypeError` or `RangeError` for bad arguments,
   *   before any node is called.
   */
  tryAcquireRead(ttlMs: number, options?: TryReadWriteOptions): Promise<ReadWriteHandle | undefined> {
    return this.#calls.tryAcquire(this.#read, ttlMs, options);
  }

  /**
   * Makes exactly one attempt to take the lock for writing, as {@link tryAcquireRead} does: `undefined`
   * when readers or a writer hold it. A single try leaves no intent: it never makes readers wait.
   *
   * @throws As {@link tryAcquireRead}.
   */
  tryAcquireWrite(ttlMs: number, options?: TryReadWriteOptions): Promise<ReadWriteHandle | undefined> {
    return this.#calls.tryAcquire(this.#write, ttlMs, options);
  }

  /**
   * Takes the lock for reading as {@link acquireRead} does, runs `routine` while keeping it extended, and
   * always releases it at the end, as `redlock.using()` does for a lock: the routine's signal aborts with a
   * {@link LockLostError} when the lock can no longer be guaranteed.
   *
   * @param ttlMs - How long the nodes keep the lock, in milliseconds, between extensions: at least
   *   `shortTtlMs` (1,000 by default; a `RangeError` below, before any node is called, as seconds written
   *   as milliseconds).
   * @returns What `routine` returns, when the lock was held from start to end.
   * @throws {@link MisconfiguredNodeError} at once, without retrying, when a node replied with a setup mistake,
   *   e.g. `NOPERM` to a user whose ACL denies `EVAL` (`'no-permission'`), at its first call: never as unreachable.
   * @throws {@link LockLostError} when the routine returned but the lock was lost meanwhile (its `result`
   *   holds what the routine returned); whatever `routine` throws; {@link ReadWriteLockError} if the lock
   *   could not be taken (the routine does not run); {@link RedlockClosedError} once `close()` was called;
   *   `TypeError` or `RangeError` for bad arguments, before any node is called.
   *
   * @example
   * ```ts
   * const price = await redlock.readWriteLock('catalog').usingRead(10_000, () => readPrice(sku));
   * ```
   */
  usingRead<T>(ttlMs: number, routine: (signal: AbortSignal, held: ReadWriteHandle) => Promise<T> | T, options?: ReadWriteUsingOptions): Promise<T> {
    return this.#calls.using(this.#read, ttlMs, routine, options);
  }

  /**
   * Takes the lock for writing as {@link acquireWrite} does and runs `routine` under it, as
   * {@link usingRead} does.
   *
   * @throws As {@link usingRead}.
   *
   * @example
   * ```ts
   * await redlock.readWriteLock('catalog').usingWrite(30_000, async (signal) => {
   *   await rebuildCatalog({ signal });
   * });
   * ```
   */
  usingWrite<T>(ttlMs: number, routine: (signal: AbortSignal, held: ReadWriteHandle) => Promise<T> | T, options?: ReadWriteUsingOptions): Promise<T> {
    return this.#calls.using(this.#write, ttlMs, routine, options);
  }

  /**
   * Tells whether a writer holds the lock, how many readers do, and whether a writer waits, by the
   * quorum's view, for dashboards and tools. Each node reports its live entries with an opaque holder id
   * (a hash of the token, which can release nothing); no token is read or revealed, and nothing changes.
   * A snapshot: the lock may be taken or freed right after it.
   *
   * @throws {@link ReadWriteLockError} (`operation` `'inspect'`, `'nodes-unreachable'`) if fewer than a
   *   quorum of nodes answered; {@link RedlockClosedError} once `close()` was called, before any node is called.
   *
   * @example
   * ```ts
   * const { isWriteLocked, readers, isWriterWaiting } = await redlock.readWriteLock('catalog').inspect();
   * ```
   */
  inspect(): Promise<ReadWriteInspection> {
    return inspectReadWrite(this.#calls.set, this.#settings);
  }
}
