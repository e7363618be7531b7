import { Acquisitions } from './acquire/acquisitions.js';
import { resolveRequest } from './acquire/request.js';
import { runUnderLock } from './acquire/using.js';
import type { RedisAdapter } from './base/adapter.js';
import { isTraced } from './base/tracing.js';
import { atCaller, LockAcquireError } from './base/errors.js';
import { CLOSE_TIMEOUT_MS, defineAsyncDispose } from './base/lifecycle.js';
import type { LockInspection, ReleaseResult } from './base/outcomes.js';
import { adoptLock, releaseByToken } from './lock/by-token.js';
import { inspectResource } from './lock/inspection.js';
import type { Lock } from './lock/lock.js';
import { closeNodes } from './nodes/close-nodes.js';
import { LabelWatches } from './nodes/label-watches.js';
import { createNodeSet, type NodeHealth, type NodeSet } from './nodes/node-state.js';
import { quorumOf } from './nodes/quorum.js';
import { ReleaseNotifications } from './nodes/release-notifications.js';
import { AcquisitionStats, type RedlockStats } from './nodes/stats.js';
import { Election, resolveElection } from './election.js';
import type { AcquireOptions, ElectionOptions, RedlockNode, RedlockOptions, SemaphoreOptions, TryAcquireOptions, UsingOptions } from './options.js';
import { ReadWriteLock } from './read-write-lock.js';
import { Semaphore } from './semaphore.js';
import { resolveReadWriteLock, resolveSemaphore } from './settings/resolve-permits.js';
import { resolveNodes } from './settings/resolve-nodes.js';
import { type AcquireSettings, resolveAcquireOptions, resolveOptions } from './settings/resolve-options.js';
import { checkExtendedTtl } from './settings/ttl.js';

/** `await using` of a `Redlock` (see `defineAsyncDispose`). */
export interface Redlock {
  /** Closes this `Redlock`, for `await using redlock = new Redlock(…)`: see `close()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A Redlock client over N independent Redis nodes: a lock is held when a quorum (⌊N/2⌋+1) of nodes
 * granted it and validity (TTL − elapsed − drift) remains.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { Redlock } from 'redlock-core';
 * import { IoredisAdapter } from 'redlock-ioredis-adapter';
 *
 * const clients = ['redis://a:6379', 'redis://b:6379', 'redis://c:6379'].map((url) => new Redis(url));
 * const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)));
 *
 * await redlock.using('orders:42', 10_000, async (signal) => {
 *   await chargeOrder(42, { signal }); // the lock is extended while this runs
 * });
 * ```
 */
export class Redlock {
  /** How many nodes must agree: ⌊N/2⌋+1. */
  readonly quorum: number;
  readonly #set: NodeSet;
  readonly #notifications: ReleaseNotifications | undefined;
  readonly #acquisitions: Acquisitions;
  readonly #labels: LabelWatches;
  /** The settings of a call without options, resolved once: most calls pass none. */
  readonly #callDefaults: AcquireSettings;
  /** The one `close()` in progress or done. */
  #closing: Promise<void> | undefined;
  readonly #stats = new AcquisitionStats();

  /**
   * @param nodes - One adapter per independent Redis node (an odd number, 3 or 5, is best), or
   *   `{ adapter, timeoutMs }` for a node that needs its own timeout. The `Redlock` never closes them.
   * @param options - See {@link RedlockOptions}.
   * @throws `TypeError` or `RangeError` at once for an empty node list or a bad option; `TypeError` for an
   *   unknown option name, naming the intended one where it is known (e.g. node-redlock's `retryDelay`).
   */
  constructor(nodes: readonly (RedisAdapter | RedlockNode)[], options?: RedlockOptions) {
    this.#set = createNodeSet(resolveNodes(nodes), resolveOptions(options));
    this.quorum = quorumOf(this.#set.nodes.length);
    this.#callDefaults = resolveAcquireOptions(undefined, this.#set.options);
    this.#notifications = ReleaseNotifications.over(this.#set.nodes.map((node) => node.adapter), this.#set.options.clock);
    this.#acquisitions = new Acquisitions(this.#set, this.#notifications, this.#stats);
    this.#labels = new LabelWatches(this.#set.nodes.map((node) => node.adapter), this.#set.options.keyPrefix);
  }

  /**
   * Acquires a lock on one or more resources for `ttlMs`. Each attempt sets every resource's key with a
   * fresh random token on every node in parallel (all or nothing per node), and succeeds the moment a
   * quorum agreed with validity left. A failed attempt removes its keys from every node before the next
   * one, after `retryDelayMs` ± `retryJitterMs`.
   *
   * Calls of this `Redlock` on the same resources (in any order) wait in a local queue, in the order they
   * were made: only the first asks the nodes, and each release here hands the lock to the next at once.
   * A queued call counts joining as its first try and, as a retry, each of its own retry pauses in which
   * no call of the queue acquired the lock: it gives up after about `retryCount × retryDelayMs` while the
   * lock stays held, never because the lock kept changing hands here. `retryCount: 0` (a single try) and
   * re-entrant calls never queue. See the README's "Local wait queue". A release wakes the next waiting
   * process (its head) for an extra attempt that uses up no retry; wakes can be forged, so they never
   * postpone its timed retries, and after a woken attempt that failed the next waits at least 4 ms and
   * nine times that attempt's duration (see the README's "Prompt hand-off").
   *
   * @param resources - A resource name, or several to lock together.
   * @param ttlMs - How long the nodes keep the lock, in milliseconds, if it is not released or extended: with
   *   `autoExtend`, at least `shortTtlMs` (1,000 by default; a `RangeError` below, as seconds written as
   *   milliseconds); a shorter one without it is taken, with a process warning once (`REDLOCK_SHORT_TTL`):
   *   see {@link RedlockOptions.shortTtlMs}.
   * @returns The held {@link Lock}; its validity is measured from the start of the attempt that succeeded.
   * With `autoExtend: true`, the lock is kept extended until it is released (see
   * {@link AcquireOptions.autoExtend}); `lock.signal` tells when it can no longer be relied on.
   *
   * @throws {@link MisconfiguredNodeError} at once, without retrying, when a node replied with a setup mistake
   *   (`problem`): e.g. `'no-permission'` at the first call of a user whose ACL denies `EVAL` (`NOPERM`).
   * @throws {@link LockAcquireError} when every attempt failed, or when its retries ran out in the queue
   *   (`attempts` then holds the failed attempts made while it waited), or when `waitMs` ran out (its
   *   `waitMs` is set); `signal.reason` once `signal` aborts, whatever it waits for: at once in the queue
   *   or between attempts, and during an attempt once the keys it set are removed (no node is asked after
   *   the abort, and each call is bounded by its node's timeout);
   *   {@link RedlockClosedError} once `close()` was called (before any node is called), or at once when
   *   `close()` is called while it waits or retries; `TypeError` or `RangeError` for bad arguments, before
   *   any node is called: an unknown option name (`TypeError`), `maxExtensions` without `autoExtend`, a
   *   TTL that leaves less validity than one node timeout, or one under `shortTtlMs` with `autoExtend`
   *   (`RangeError`, likely seconds given as ms).
   *
   * @example
   * ```ts
   * const lock = await redlock.acquire(['account:1', 'account:2'], 5_000);
   * try {
   *   await transfer(1, 2);
   * } finally {
   *   await lock.release();
   * }
   *
   * // Or released at the end of the block, and kept extended until then:
   * await using job = await redlock.acquire('jobs:import', 10_000, { autoExtend: true });
   * await importFeed({ signal: job.signal });
   * ```
   */
  async acquire(resources: string | readonly string[], ttlMs: number, options?: AcquireOptions): Promise<Lock> {
    const request = resolveRequest(this.#set, this.#callDefaults, resources, ttlMs, options, 'acquire');
    // No closure for the usual, untraced acquisition.
    const acquiring = isTraced('acquire') ? this.#acquisitions.observed('acquire', request, () => this.#acquisitions.acquire(request)) : this.#acquisitions.acquire(request);
    // Awaited here, so that an error's stack can show the caller's line: some 1,000 instructions per
    // acquisition, one more promise resolved with the lock (bench/RESULTS.md, 2026-11-29).
    try {
      return await acquiring;
    } catch (error) {
      throw atCaller(error, Redlock.prototype.acquire);
    }
  }

  /**
   * Makes exactly one attempt to acquire a lock, without retrying or queueing, and tells whether another
   * owner holds it: it resolves with the {@link Lock}, or with `undefined` when the lock is held by
   * another owner, as soon as enough nodes refused to tell (slower nodes are not waited for), after
   * removing any key it set on the nodes that had answered; a slower node that grants is cleaned up in
   * the background, which `close()` waits for.
   *
   * The rule, on N nodes with a quorum Q: "held by another owner" means the nodes that refused, because
   * another owner's lock is there (or a key that is not a lock, while such keys alone do not deny a
   * quorum), are more than N − Q, so no quorum was possible whatever the other nodes answered. Of 5 nodes:
   * 2 granted and 3 held → `undefined`; 1 granted, 3 held and 1 unreachable → `undefined`; but 2 granted,
   * 2 held and 1 unreachable → rejects (`'nodes-unreachable'`), since that node's answer would have
   * decided. Another call of this `Redlock` holding the lock counts as another owner: it never queues
   * behind local calls. Like `acquire()`, it takes `signal`, `fencing`, `reentrant` and `autoExtend` (with
   * its limits).
   *
   * @param resources - A resource name, or several to lock together.
   * @param ttlMs - How long the nodes keep the lock, in milliseconds, if it is not released or extended; as
   *   for `acquire()`, at least `shortTtlMs` with `autoExtend`, and a shorter one without it warns once.
   * @returns The held {@link Lock}, or `undefined` when another owner holds it.
   * @throws {@link MisconfiguredNodeError} at once, without retrying, when a node replied with a setup mistake
   *   (`problem`): e.g. `'no-permission'` at the first call of a user whose ACL denies `EVAL` (`NOPERM`).
   * @throws {@link LockAcquireError} when the nodes could not decide: nodes that timed out, failed or were
   *   in their restart grace made the difference (`'nodes-unreachable'`, also when too few stored a fencing
   *   token), a quorum granted too late (`'no-validity'`), or keys that are not locks deny a quorum
   *   (`'foreign-key'`); `signal.reason` when `signal` aborts; {@link RedlockClosedError} once `close()` was
   *   called; `TypeError` for a retry option or `waitMs`
   *   (it makes one attempt) or any unknown option, and `TypeError` or `RangeError` for bad arguments,
   *   before any node is called.
   *
   * @example
   * ```ts
   * const lock = await redlock.tryAcquire('reports:daily', 60_000);
   * if (lock === undefined) return; // another instance is writing the report
   * try {
   *   await writeReport();
   * } finally {
   *   await lock.release();
   * }
   * ```
   */
  async tryAcquire(resources: string | readonly string[], ttlMs: number, options?: TryAcquireOptions): Promise<Lock | undefined> {
    const request = resolveRequest(this.#set, this.#callDefaults, resources, ttlMs, options, 'tryAcquire');
    // One attempt over every node, never queued, whatever the Redlock's retry and wait defaults.
    const acquiring = this.#acquisitions.observed('tryAcquire', request, () => this.#acquisitions.acquire({ ...request, retryCount: 0, waitMs: Infinity }));
    return await acquiring.catch((error: unknown) => {
      // Only the single attempt's own verdict: more nodes held it than a quorum could overcome.
      if (error instanceof LockAcquireError && error.reason === 'held-by-another-owner') return undefined;
      throw atCaller(error, Redlock.prototype.tryAcquire);
    });
  }

  /**
   * Takes over a lock acquired elsewhere (another process; a scheduler handing a job to a worker) from its
   * resources and `lock.token`: extends it to `ttlMs` on every node, which succeeds only where its keys
   * still hold that token, and resolves with a handle whose validity runs from that extension (`attempts`
   * 0, no fencing token). The token is the lock: hand it over, and stop using the lock where it was.
   *
   * @param ttlMs - The TTL from now, in milliseconds; one under `shortTtlMs` warns once, as for `acquire()`.
   * @throws {@link LockExtendError} when no quorum holds the token with validity left: `isLost` when the
   *   lock expired, was released or another owner took it (published on `redlock-core.lock.lost`, as for
   *   any lock found lost); {@link RedlockClosedError} once `close()` was called; `TypeError` or
   *   `RangeError` for bad arguments, before any node is called.
   */
  adopt(resources: string | readonly string[], token: string, ttlMs: number): Promise<Lock> {
    return adoptLock(this.#set, resources, token, ttlMs, this.#acquisitions.wakeQueue);
  }

  /**
   * Releases a lock acquired elsewhere, from its resources and `lock.token`, as `lock.release()` does
   * (`releasedCount` 0 when no node held the token any more), except that a node whose call failed is not
   * sent it again in the background: the lock's TTL, which bounds that, is not known here.
   *
   * @throws {@link LockReleaseError} when fewer than a quorum answered; `TypeError` or `RangeError` for bad
   *   arguments, before any node is called. It works after `close()`, as `lock.release()` does.
   */
  releaseByToken(resources: string | readonly string[], token: string): Promise<ReleaseResult> {
    return releaseByToken(this.#set, resources, token, this.#acquisitions.wakeQueue);
  }

  /**
   * Acquires a lock, runs `routine` while keeping the lock extended, and always releases it at the end.
   * The routine gets a `signal` that aborts, with a {@link LockLostError} as its `reason`, when the
   * lock is found to be no longer guaranteed (with a {@link LockLimitError} when `maxExtensions` or
   * `maxHoldMs` is reached, or with your reason when `options.signal` aborts), and the live {@link Lock}.
   * A loss is found by the next extension, which starts when half the TTL of validity is left (0.9 s
   * before the end of a 2 s lock, 4.8 s before the end of a 10 s one), or when the validity runs out; and
   * the signal aborts only when the event loop runs its timers, which a stalled loop does late. Right
   * before a write, check `lock.assertValid()`, which reads the monotonic clock at that moment.
   *
   * When `close()` is called while the routine runs, extension stops and the signal aborts with a
   * {@link RedlockClosedError}; the lock stays valid for its `remainingValidityMs` and is released when
   * the routine returns.
   *
   * @param ttlMs - How long the nodes keep the lock, in milliseconds, between extensions: at least
   *   `shortTtlMs` (1,000 by default), since each extension starts when half of it is left. A shorter one
   *   is a `RangeError` before any node is called: `using('job', 60, …)` is seconds written as milliseconds,
   *   and would extend 37 times a second (see {@link RedlockOptions.shortTtlMs}).
   * @returns What `routine` returns, when the lock was held from start to end (or until the routine
   *   released it itself).
   * @throws {@link LockLostError} when the routine returned but the lock was lost meanwhile (its signal
   *   aborted with a `LockLostError`, or the lock was lost or expired when it returned, or when the
   *   routine released it itself): the error's
   *   `result` holds what the routine returned, and its `cause` the loss. The work may be done, but
   *   nothing kept others out meanwhile, so a lost lock is never silent.
   * @throws whatever `routine` throws, the same object, even when the lock was lost too: then the
   *   `LockLostError` is attached to it as its `lockLostError` property (unless it is itself a
   *   `LockLostError`). When `using()` rejects and the final release failed too, the
   *   {@link LockReleaseError} is attached to the rejection as its `releaseError` property. A report that
   *   cannot be attached (the routine threw a primitive or a frozen object), and a failed release after a
   *   routine that returned while the lock was held, are emitted with `process.emitWarning()` instead (a
   *   `'warning'` event whose value is the error itself): `using()` still resolves with the value, since the
   *   work is done and the keys expire after their TTL.
   * @throws {@link MisconfiguredNodeError} at once, without retrying, when a node replied with a setup mistake
   *   (`problem`): e.g. `'no-permission'` at the first call of a user whose ACL denies `EVAL` (`NOPERM`).
   * @throws {@link LockAcquireError} if the lock could not be acquired (the routine does not run).
   * @throws {@link RedlockClosedError} once `close()` was called, or when it is called while `using()` still
   *   waits for the lock (the routine does not run).
   * @throws `TypeError` or `RangeError` for bad arguments (a TTL under `shortTtlMs` among them), before any
   *   node is called.
   *
   * @example
   * ```ts
   * const report = await redlock.using('reports:daily', 30_000, async (signal, lock) => {
   *   const rows = await loadRows({ signal });
   *   lock.assertValid(); // throws if the validity is gone, even right after a stalled event loop
   *   return writeReport(rows);
   * });
   * ```
   */
  async using<T>(
    resources: string | readonly string[],
    ttlMs: number,
    routine: (signal: AbortSignal, lock: Lock) => Promise<T> | T,
    options?: UsingOptions,
  ): Promise<T> {
    const request = resolveRequest(this.#set, this.#callDefaults, resources, ttlMs, options, 'using');
    if (typeof routine !== 'function') throw new TypeError(`Expected \`routine\` to be a function, got \`${typeof routine}\``);
    let lock: Lock;
    try {
      lock = await this.#acquisitions.observed('using', request, () => this.#acquisitions.acquire(request));
    } catch (error) {
      throw atCaller(error, Redlock.prototype.using);
    }
    return runUnderLock(this.#set, lock, request.ttlMs, request.callerSignal, request.limits, routine);
  }

  /**
   * Closes this `Redlock`, for a clean shutdown; resolves when it is done, within 2 ×
   * {@link CLOSE_TIMEOUT_MS} (4 s). Calling it again, or while it runs, returns the same promise. It:
   * - makes every later `acquire()`, `using()`, `inspect()` and `lock.extend()` reject with a
   *   {@link RedlockClosedError}, before any node is called, and every `acquire()` or `using()` still
   *   waiting or retrying reject with one at once (an attempt in flight finishes in the background, and
   *   releases whatever it acquired);
   * - stops the automatic extension of every lock (`using()`, `autoExtend`) and aborts the signal of every
   *   lock still held (`lock.signal`, and the routine's signal in `using()`) with a `RedlockClosedError`.
   *   It does not release held locks: their holders may still be working under them, and releasing
   *   would let another owner in meanwhile. Each stays valid for its `remainingValidityMs`, and
   *   `release()` keeps working after `close()` while your clients are open, so `finally` blocks and
   *   `using()` still release; a lock nobody releases expires after its TTL;
   * - waits up to `CLOSE_TIMEOUT_MS` (2 s) for the work that can still remove keys, and for
   *   release-notification subscriptions to end; then gives up what is left (those keys expire after
   *   their TTL) and clears every timer it set. The rule: it waits for what can still matter. Releases
   *   and failed-attempt cleanups in flight are waited for, except to a node whose latest call timed out
   *   (it is unlikely to answer in time, and the command already sent still runs if it does). A release
   *   or cleanup that failed on a node (a refused or dropped connection) is sent there once more at once,
   *   and given up if that fails too: the node is known down. Only the release of a lock that no quorum
   *   confirmed yet (`release()` rejected) keeps being re-sent until the bound, since until a quorum
   *   confirmed it the lock may block others for its TTL;
   * - calls `close()` on each distinct adapter that has one (what the adapter itself opened, such as its
   *   own subscriber connection), waiting up to `CLOSE_TIMEOUT_MS` again. A failure there is emitted as
   *   a process warning (a `NodeError`), never thrown.
   *
   * It never closes your clients: call their `quit()` after it. Then nothing of this `Redlock` keeps the
   * process alive. `nodeHealth()` keeps working.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', async () => {
   *   await server.close(); // stop taking work; routines in flight see their signal abort at close
   *   await redlock.close();
   *   await Promise.all(clients.map((client) => client.quit()));
   * });
   *
   * // Or for a Redlock of one scope:
   * await using redlock = new Redlock(adapters);
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= closeNodes(this.#set, this.#notifications, this.#labels);
    return this.#closing;
  }

  /**
   * Tells whether a resource is locked and for how long, by the quorum's view, for dashboards and tools.
   * It asks every node for the key's remaining TTL only, so it never sees or reveals an owner's token, and
   * it changes nothing. A node where the key holds something that is not a lock (another type, or a string
   * without a TTL) answers `'foreign'` and counts as holding no lock. The answer is a snapshot: the lock
   * may be taken or freed right after it.
   *
   * @param resource - The resource name, without the key prefix.
   * @throws {@link LockInspectError} if fewer than a quorum of nodes answered; {@link RedlockClosedError}
   *   once `close()` was called; `TypeError` or `RangeError` for a bad resource; both before any node is called.
   *
   * @example
   * ```ts
   * const { isLocked, remainingMs } = await redlock.inspect('reports:daily');
   * ```
   */
  inspect(resource: string): Promise<LockInspection> {
    return inspectResource(this.#set, resource);
  }

  /**
   * Returns the counting semaphore on `resource` with `options.limit` permits: see {@link Semaphore}.
   * @throws `TypeError` or `RangeError` for a bad resource or limit (an integer from 1 to 1,000).
   */
  semaphore(resource: string, options: SemaphoreOptions): Semaphore {
    return new Semaphore(this.#set, this.#acquisitions, resolveSemaphore(resource, options, this.#set.options.keyPrefix));
  }

  /**
   * Returns the read-write lock on `resource` (many readers or one writer): see {@link ReadWriteLock}.
   * @throws `TypeError` or `RangeError` for a bad resource.
   */
  readWriteLock(resource: string): ReadWriteLock {
    return new ReadWriteLock(this.#set, this.#acquisitions, resolveReadWriteLock(resource, this.#set.options.keyPrefix));
  }

  /**
   * Returns the leader election `name`, whose lock is on that resource: see {@link Election}.
   * @throws `TypeError` or `RangeError` for a bad name or option, before any node is called: among them a
   *   `ttlMs` under `shortTtlMs` (1,000 by default), as a leader keeps its lock extended.
   */
  election(name: string, options?: ElectionOptions): Election {
    const settings = resolveElection(name, options, this.#set.options);
    // A leader keeps its lock extended: a TTL under `shortTtlMs` is refused here, before any campaign.
    checkExtendedTtl(settings.ttlMs, this.#set.options.shortTtlMs, 'an election');
    return new Election(this, settings);
  }

  /**
   * Calls `listener` each time a node announces a change of `resource`'s label (`lock.setLabel()`) until the
   * returned function is called: a hint to read it with {@link inspect}, which a node that is down or cannot
   * subscribe never gives, so read it on a timer too. `close()` ends it.
   * @throws `TypeError` or `RangeError` for a bad resource or listener, before any node is called.
   */
  watchLabel(resource: string, listener: () => void): () => void {
    return this.#labels.watch(resource, listener);
  }

  /**
   * Each node's health as its calls have shown it, without calling any node: whether it answers (a node
   * with a call timed out and no answer since that call was sent is `'down'` until it answers again: it is
   * not called, so it cannot slow attempts or pile up commands, except for one probe at a time), and its
   * eviction policy once it answered. For dashboards and health checks.
   *
   * @example
   * ```ts
   * const down = redlock.nodeHealth().filter((node) => node.state !== 'up');
   * ```
   */
  nodeHealth(): readonly NodeHealth[] {
    const now = this.#set.options.clock.now();
    return this.#set.nodes.map((node) => node.healthAt(now));
  }

  /**
   * Counters since this `Redlock` was made, without calling any node: locks handed out, acquisitions
   * that failed by reason, calls still waiting for their lock, and each node's failed calls (in any
   * operation, cleanups and background releases included). Each node's state and round trip are in
   * {@link nodeHealth}. For a health endpoint or a metrics scrape; see also the diagnostics channels
   * (`DIAGNOSTICS_CHANNELS`) for events as they happen.
   *
   * @example
   * ```ts
   * app.get('/health/locks', (_request, response) => {
   *   response.json({ stats: redlock.stats(), nodes: redlock.nodeHealth() });
   * });
   * ```
   */
  stats(): RedlockStats {
    return this.#stats.snapshot(this.#set.nodes);
  }
}

defineAsyncDispose(Redlock.prototype, function () {
  return this.close();
});
