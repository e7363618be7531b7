import type { RedisAdapter } from './base/adapter.js';
import { onAbort } from './base/abort-listeners.js';
import { type AcquireRequest, AttemptLog, runAttempt } from './acquire/attempt.js';
import { type ExtensionLimits, keepExtended } from './acquire/auto-extend.js';
import { type AcquireTraceContext, isAcquireTraced, traceAcquire } from './base/diagnostics.js';
import { type AcquireFailureReason, LockAcquireError, LockInspectError, LockLostError, RedlockClosedError } from './base/errors.js';
import { ASYNC_DISPOSE, CLOSE_TIMEOUT_MS, closeAdapters, emitErrorWarning } from './base/lifecycle.js';
import { describeResources } from './base/describe.js';
import { Lock } from './lock/lock.js';
import { createNodeSet, type NodeHealth, type NodeSet } from './nodes/node-state.js';
import { nodeTimeoutMsFor } from './nodes/node-latency.js';
import type { AcquireOptions, RedlockNode, RedlockOptions, TryAcquireOptions, UsingOptions } from './options.js';
import { resolveNodes } from './settings/resolve-nodes.js';
import { type AcquireSettings, resolveAcquireOptions, resolveExtensionLimits, resolveOptions } from './settings/resolve-options.js';
import { resolveResources } from './settings/resolve-resources.js';
import { checkAcquireTtl } from './settings/ttl.js';
import {
  type AcquireAttempt,
  countByStatus,
  describeOutcomes,
  type InspectNodeOutcome,
  type LockInspection,
} from './base/outcomes.js';
import { misconfiguredNodeErrorOf } from './acquire/misconfigured-nodes.js';
import { callEveryNode } from './nodes/node-call.js';
import { quorumOf } from './nodes/quorum.js';
import { leadNodeIndexIn, ReleaseNotifications, waitForRetry, waitUntilListening } from './nodes/release-notifications.js';
import { retryDelayMs, startWaitDeadline, WaitExpired } from './acquire/retry.js';
import { inspectScript, parseInspectReply } from './scripts/inspect.js';
import { onNoScriptOf, runScript } from './scripts/lua-script.js';
import { AcquisitionStats, type RedlockStats } from './nodes/stats.js';
import { type Waiter, type WaitQueue, WaitQueues } from './acquire/wait-queue.js';

/** One call of `acquire()` or `using()` after validation. */
interface CallRequest extends AcquireRequest {
  /** The caller's own signal, if any; `signal` is the `Redlock`'s close signal when there is none. */
  readonly callerSignal: AbortSignal | undefined;
  readonly autoExtend: boolean;
}

/** The limits of a call that sets none. */
const NO_LIMITS = { maxExtensions: undefined, maxHoldMs: undefined } as const;

/** The extension limits of an `acquire()` or `tryAcquire()` call; a limit without `autoExtend` is a mistake. */
function extensionLimitsOf(request: CallRequest, options: unknown): ExtensionLimits {
  const limits = options === undefined ? NO_LIMITS : resolveExtensionLimits(options);
  if (!request.autoExtend && (limits.maxExtensions !== undefined || limits.maxHoldMs !== undefined)) {
    const name = limits.maxExtensions !== undefined ? 'maxExtensions' : 'maxHoldMs';
    throw new TypeError(`Expected \`autoExtend: true\` with \`${name}\`, which limits automatic extension, got \`autoExtend: ${String(request.autoExtend)}\``);
  }
  return limits;
}

/**
 * Declares `[Symbol.asyncDispose]` for TypeScript (`await using`); the class defines it under
 * `ASYNC_DISPOSE`, the same symbol, which also exists on Node versions that lack `Symbol.asyncDispose`.
 */
export interface Redlock {
  /** Closes the `Redlock`, for `await using`: see `close()`. */
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
  readonly #queues: WaitQueues;
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
    this.#queues = new WaitQueues(this.#set.options.clock);
    this.#notifications = ReleaseNotifications.over(
      this.#set.nodes.map((node) => node.adapter),
      this.#set.options.clock,
    );
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
   * re-entrant calls never queue. See the README's "Local wait queue". A release announced by the nodes
   * wakes the head for an extra attempt that uses up no retry; announcements can be forged, so they never
   * postpone its timed retries, and after a woken attempt that failed the next waits at least 4 ms and
   * nine times that attempt's duration (see the README's "Prompt hand-off").
   *
   * @param resources - A resource name, or several to lock together.
   * @param ttlMs - How long the nodes keep the lock, in milliseconds, if it is not released or extended.
   * @returns The held {@link Lock}; its validity is measured from the start of the attempt that succeeded.
   * With `autoExtend: true`, the lock is kept extended until it is released (see
   * {@link AcquireOptions.autoExtend}); `lock.signal` tells when it can no longer be relied on.
   *
   * @throws {@link LockAcquireError} when every attempt failed, or when its retries ran out in the queue
   *   (`attempts` then holds the failed attempts made while it waited), or when `waitMs` ran out (its
   *   `waitMs` is set); `signal.reason` the moment `signal` aborts, whatever it waits for;
   *   {@link RedlockClosedError} once `close()` was called (before any node is called), or at once when
   *   `close()` is called while it waits or retries; `TypeError` or `RangeError` for bad arguments, before
   *   any node is called: an unknown option name (`TypeError`), `maxExtensions` without `autoExtend`, or a
   *   TTL that leaves less validity than one node timeout (`RangeError`, likely seconds given as ms).
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
  acquire(resources: string | readonly string[], ttlMs: number, options?: AcquireOptions): Promise<Lock> {
    // Not async, so that the usual acquisition resolves with the promise that acquires, with no layer
    // of promises around it (each one costs every acquisition); a bad argument still rejects.
    let request: CallRequest;
    let limits: ExtensionLimits;
    let acquiring: Promise<Lock>;
    try {
      request = this.#resolveRequest(resources, ttlMs, options, 'acquire');
      limits = extensionLimitsOf(request, options);
      const call = request;
      // No closure for the usual, untraced acquisition.
      acquiring = isAcquireTraced() ? this.#observed('acquire', call, () => this.#acquire(call)) : this.#acquire(call);
    } catch (error) {
      return Promise.reject(error);
    }
    return request.autoExtend ? acquiring.then((lock) => this.#extendIfAsked(lock, request, limits)) : acquiring;
  }

  /**
   * Makes exactly one attempt to acquire a lock, without retrying or queueing, and tells whether another
   * owner holds it: it resolves with the {@link Lock}, or with `undefined` when the lock is held by
   * another owner, after removing any key it set (as a failed attempt does).
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
   * @param ttlMs - How long the nodes keep the lock, in milliseconds, if it is not released or extended.
   * @returns The held {@link Lock}, or `undefined` when another owner holds it.
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
    const request = this.#resolveRequest(resources, ttlMs, options, 'tryAcquire');
    const limits = extensionLimitsOf(request, options);
    let lock: Lock;
    try {
      // One attempt over every node, never queued, whatever the Redlock's retry and wait defaults.
      lock = await this.#observed('tryAcquire', request, () => this.#acquire({ ...request, retryCount: 0, waitMs: Infinity }));
    } catch (error) {
      // Only the single attempt's own verdict: more nodes held it than a quorum could overcome.
      if (error instanceof LockAcquireError && error.reason === 'held-by-another-owner') return undefined;
      throw error;
    }
    return this.#extendIfAsked(lock, request, limits);
  }

  /** Runs one acquisition traced on `redlock-core.acquire` when someone listens (see `traceAcquire`). */
  #observed(operation: AcquireTraceContext['operation'], request: CallRequest, acquiring: () => Promise<Lock>): Promise<Lock> {
    if (!isAcquireTraced()) return acquiring();
    const { resources, ttlMs, reentrant } = request;
    const traced = { operation, resources, ttlMs, isReentrant: reentrant !== undefined };
    return traceAcquire(traced, this.quorum, this.#set.nodes.length, acquiring);
  }

  /** Starts automatic extension of a new lock when its call asked for it (`autoExtend`). */
  #extendIfAsked(lock: Lock, request: CallRequest, limits: ExtensionLimits): Lock {
    if (request.autoExtend) {
      const { clock } = this.#set.options;
      lock.keepExtendedBy((onStop) => keepExtended(lock, request.ttlMs, clock, limits, onStop));
    }
    return lock;
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
   * @returns What `routine` returns, when the lock was held from start to end (or the routine released
   *   it itself).
   * @throws {@link LockLostError} when the routine returned but the lock was lost meanwhile (its signal
   *   aborted with a `LockLostError`, or the lock was lost or expired when it returned): the error's
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
   * @throws {@link LockAcquireError} if the lock could not be acquired (the routine does not run).
   * @throws {@link RedlockClosedError} once `close()` was called, or when it is called while `using()` still
   *   waits for the lock (the routine does not run).
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
    const request = this.#resolveRequest(resources, ttlMs, options, 'using');
    const limits = resolveExtensionLimits(options);
    if (typeof routine !== 'function') {
      throw new TypeError(`Expected \`routine\` to be a function, got \`${typeof routine}\``);
    }
    const lock = await this.#observed('using', request, () => this.#acquire(request));
    const { lifecycle, options: settings } = this.#set;
    const { callerSignal } = request;
    // The routine's signal aborts on a lost lock, at a limit, at close() or on the caller's signal (by
    // hand: AbortSignal.any needs Node 20.3).
    const routineAbort = new AbortController();
    // One listener on the caller's signal however many calls share it (see `onAbort`).
    const stopWatchingCaller = callerSignal === undefined ? undefined : onAbort(callerSignal, () => routineAbort.abort(callerSignal.reason));
    let reportedLoss: LockLostError | undefined;
    const extension = keepExtended(lock, ttlMs, settings.clock, limits, (error) => {
      if (error instanceof LockLostError) reportedLoss = error;
      routineAbort.abort(error);
    });
    const stopWatchingClose = lifecycle.onClose(() => {
      lifecycle.track(extension.stop());
      routineAbort.abort(
        new RedlockClosedError(`The Redlock was closed: the lock on ${describeResources(lock.resources)} is no longer extended`, {
          resources: lock.resources,
        }),
      );
    });
    let outcome: { readonly value: T } | { readonly error: unknown };
    try {
      outcome = { value: await routine(routineAbort.signal, lock) };
    } catch (error) {
      outcome = { error };
    }
    const loss = reportedLoss ?? lossAtEnd(lock);
    stopWatchingCaller?.();
    stopWatchingClose();
    await extension.stop();
    const releaseError = await lock.release().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    if ('error' in outcome) {
      const { error } = outcome;
      if (loss !== undefined && !(error instanceof LockLostError)) reportWith(error, 'lockLostError', loss);
      if (releaseError !== undefined) reportWith(error, 'releaseError', releaseError);
      throw error;
    }
    if (loss !== undefined) {
      const rejection = new LockLostError(
        `Lost the lock on ${describeResources(lock.resources)} while the routine ran; what it returned is in \`result\``,
        { resources: lock.resources, cause: loss, result: outcome.value },
      );
      if (releaseError !== undefined) reportWith(rejection, 'releaseError', releaseError);
      throw rejection;
    }
    if (releaseError !== undefined) warn(releaseError);
    return outcome.value;
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
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Closes this `Redlock`, for `await using redlock = new Redlock(…)`: see {@link close}. */
  [ASYNC_DISPOSE](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    const { lifecycle, nodes, options } = this.#set;
    lifecycle.begin();
    if (this.#notifications !== undefined) lifecycle.track(this.#notifications.close());
    // A release or cleanup in flight to a node whose latest call timed out is not waited for: it is
    // unlikely to be answered within the bound, and the command already sent still runs if the node answers.
    await lifecycle.settle(CLOSE_TIMEOUT_MS, (nodeIndex) => nodes[nodeIndex]?.isTimingOut !== true);
    await closeAdapters(
      nodes.map((node) => node.adapter),
      options.clock,
      CLOSE_TIMEOUT_MS,
    );
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
  async inspect(resource: string): Promise<LockInspection> {
    const { options } = this.#set;
    const {
      resources: [name],
      keys,
    } = resolveResources(typeof resource === 'string' ? resource : [resource], options.keyPrefix);
    const remaining: number[] = [];
    if (this.#set.lifecycle.isClosed) throw closedError('inspect', [name as string]);
    // The node timeout is derived from a TTL; inspection has none, so it gets the default of a 10 s lock.
    this.#throwIfMisconfigured();
    const calls = callEveryNode(this.#set, 10_000, keys.length, async (adapter, call, nodeIndex) => {
      const reply = parseInspectReply(await runScript(adapter, inspectScript, keys, [], onNoScriptOf(call)));
      if (reply === 'free' || reply === 'foreign') return reply;
      remaining[nodeIndex] = reply;
      return 'locked';
    }, 'inspect');
    const outcomes = await Promise.all(calls.map((call) => call.outcome));
    // The first contact with the nodes may have just found two of them to be one server.
    this.#throwIfMisconfigured();
    const inspected = outcomes.map((outcome): InspectNodeOutcome =>
      outcome.status === 'locked' ? { ...outcome, status: 'locked', remainingMs: remaining[outcome.nodeIndex] as number } : (outcome as InspectNodeOutcome),
    );
    const answered = inspected.filter((node) => node.status !== 'timeout' && node.status !== 'error').length;
    if (answered < this.quorum) {
      throw new LockInspectError(
        `Could not inspect ${describeResources([name as string])}: ${describeOutcomes(outcomes)}, quorum is ${this.quorum}`,
        { resource: name as string, nodes: inspected },
      );
    }
    const lockedMs = inspected.flatMap((node) => (node.status === 'locked' ? [node.remainingMs] : [])).sort((a, b) => b - a);
    const remainingMs = lockedMs[this.quorum - 1] ?? 0;
    return { resource: name as string, isLocked: remainingMs > 0, remainingMs, nodes: inspected };
  }

  /**
   * Each node's health as its calls have shown it, without calling any node: whether it answers (a node
   * whose calls time out several times in a row is `'down'`: it is not called, so it cannot slow
   * attempts or pile up commands, except for a probe at growing intervals), and its eviction policy once
   * it answered. For dashboards and health checks.
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

  /** Throws a `MisconfiguredNodeError` when a node of a failed attempt replied with a setup mistake: no retry can help. */
  #throwIfNodeMisconfigured(request: AcquireRequest, attempt: AcquireAttempt): void {
    const error = misconfiguredNodeErrorOf(request.resources, attempt.nodes);
    if (error !== undefined) throw error;
  }

  /** Rejects every operation once two nodes were found to be the same server. */
  #throwIfMisconfigured(): void {
    const error = this.#set.servers.configurationError;
    if (error !== undefined) throw error;
  }

  #resolveRequest(resources: unknown, ttlMs: unknown, options: unknown, scope: 'acquire' | 'tryAcquire' | 'using'): CallRequest {
    const { keyPrefix } = this.#set.options;
    const names = resolveResources(resources, keyPrefix);
    const settings = options === undefined ? this.#callDefaults : resolveAcquireOptions(options, this.#set.options, scope);
    const checkedTtlMs = checkAcquireTtl(ttlMs, this.#set.nodes, this.#set.options, this.quorum, names.keys.length);
    const { reentrant } = settings;
    if (reentrant !== undefined && !Lock.isLock(reentrant)) {
      const got = reentrant instanceof Lock ? 'an object that only looks like one (made from its prototype, or a copy)' : `\`${typeof reentrant}\``;
      throw new TypeError(`Expected \`reentrant\` to be a Lock handed out by \`acquire()\` or \`using()\`, got ${got}`);
    }
    if (reentrant !== undefined && !reentrant.covers(this.#set, names.keys)) {
      throw new RangeError(
        `Expected \`reentrant\` to be a lock of this Redlock on ${describeResources(names.resources)}, got one on ${describeResources(reentrant.resources)}`,
      );
    }
    // Field by field rather than by spreading the parts: on this per-call path, spreads cost more than all
    // the validation did.
    return {
      resources: names.resources,
      keys: names.keys,
      ttlMs: checkedTtlMs,
      retryCount: settings.retryCount,
      retryDelayMs: settings.retryDelayMs,
      retryJitterMs: settings.retryJitterMs,
      waitMs: settings.waitMs,
      // Every call that waits stops when the Redlock closes; one with a signal of its own gets a signal
      // for both in #acquire, made only once it is sure to run (it listens to both until then).
      signal: settings.signal ?? this.#set.lifecycle.signal,
      callerSignal: settings.signal,
      fencing: settings.fencing,
      reentrant,
      autoExtend: settings.autoExtend,
    };
  }

  /**
   * Acquires through the local wait queue of the request's resources (see {@link WaitQueue}): a
   * re-entrant acquisition never queues, nor does a single try (`retryCount: 0`), which asks every node
   * at once; any other call waits for its turn behind the earlier calls of this `Redlock` on the same
   * resources, then runs attempts as the head (see {@link #acquireInQueue}). It rejects at once when the
   * `Redlock` closes meanwhile (see `Lifecycle.guard`). Called from async methods only, so its synchronous
   * throws reach the caller as rejections.
   */
  #acquire(request: CallRequest): Promise<Lock> {
    const { lifecycle } = this.#set;
    if (lifecycle.isClosed) throw closedError('acquire', request.resources);
    const { reentrant } = request;
    if (reentrant !== undefined) return this.#stats.track(() => reentrant.reenter(request.ttlMs));
    this.#throwIfMisconfigured();
    const { callerSignal } = request;
    callerSignal?.throwIfAborted();
    let running: AcquireRequest = request;
    let dispose: (() => void) | undefined;
    if (callerSignal !== undefined) {
      const both = lifecycle.signalWith(callerSignal);
      running = { ...request, signal: both.signal };
      dispose = both.dispose;
    }
    let stopDeadline: (() => void) | undefined;
    if (request.waitMs !== Infinity) {
      // The time limit travels as the signal: everything that waits already stops when it aborts.
      const deadline = startWaitDeadline(this.#set.options.clock, request.waitMs, running.signal);
      running = { ...running, signal: deadline.signal };
      stopDeadline = deadline.stop;
    }
    const acquiring = running.retryCount === 0 ? this.#tryOnce(running) : this.#acquireInQueue(running);
    // Counted for `stats()` by the guard's own handlers.
    this.#stats.started();
    return lifecycle.guard(
      acquiring,
      () => closedError('acquire', request.resources, ' while the call waited'),
      releaseAbandoned,
      stopDeadline === undefined && dispose === undefined
        ? undefined
        : () => {
            stopDeadline?.();
            dispose?.();
          },
      this.#stats,
    );
  }

  /** One attempt over every node, without queueing: what `retryCount: 0` asks for. */
  async #tryOnce(request: AcquireRequest): Promise<Lock> {
    // No queue, so no lead node to ask first: its release works the lead node out.
    const outcome = await runAttempt(this.#set, request, 1, undefined, false);
    if (outcome instanceof Lock) return this.#wakeQueueAtRelease(outcome);
    this.#throwIfMisconfigured();
    if (outcome !== 'held-at-lead') this.#throwIfNodeMisconfigured(request, outcome);
    const log = new AttemptLog();
    // Never 'held-at-lead': it asked every node.
    log.add(outcome as AcquireAttempt);
    this.#throwIfAborted(request, log);
    throw this.#acquireError(request, log);
  }

  /**
   * Throws once the request's signal aborted: a {@link LockAcquireError} reporting `log` when its
   * `waitMs` ran out, else the caller's `signal.reason`.
   */
  #throwIfAborted(request: AcquireRequest, log: AttemptLog): void {
    const { signal } = request;
    if (signal?.aborted !== true) return;
    const reason: unknown = signal.reason;
    throw reason instanceof WaitExpired ? this.#acquireError(request, log, reason.waitMs) : reason;
  }

  /**
   * Joins the queue of the request's resources, waits for its turn, then runs attempts as the head until
   * one succeeds. Timed retries follow each other at `retryDelayMs` ± jitter and are counted by
   * `retryCount`, with the tries the waiter used up while it was queued (see {@link Waiter.failures}).
   * When the lock is held by another owner and the nodes can notify, the queue also listens for its
   * release, and a local release of the same resources wakes it too: the head tries again the moment
   * either comes, and such a woken attempt uses up no retry, so a waiter gives up only after its timed
   * retries, however often the lock changes hands. A woken attempt asks the lead node first and stops
   * there if the lock was taken again (see `leadNodeIndexOf`); timed retries always ask every node, so a
   * key left on the lead node alone cannot stall a waiter. Anyone who can PUBLISH on a node can wake the
   * head, so a wake never postpones a timed retry (a due retry goes before any wake, and a woken attempt
   * stops asking its lead node patiently when the retry is due), and after a woken attempt that failed,
   * announcements rest (see {@link WaitQueue.restWakes}): the give-up time stays that of the timed retries.
   */
  async #acquireInQueue(request: AcquireRequest): Promise<Lock> {
    const { signal, retryCount, keys, ttlMs } = request;
    const { options, nodes } = this.#set;
    const { clock } = options;
    const queue = this.#queues.queueOf(request, this.#leadNodeIndexFor);
    const waiter = queue.join(request);
    const { leadNodeIndex } = queue;
    let lock: Lock | undefined;
    /** This call's own attempts, as the head. */
    const attempts = new AttemptLog();
    /** What a waiter that gives up reports: its own attempts, else those heads made while it was queued, else the queue's latest. */
    const reported = (): AttemptLog => {
      if (attempts.count > 0) return attempts;
      if (waiter.attemptsWhileQueued.count > 0) return waiter.attemptsWhileQueued;
      const log = new AttemptLog();
      if (queue.lastFailure !== undefined) log.add(queue.lastFailure);
      return log;
    };
    try {
      const turn = waiter.turn === undefined ? 'first' : await waiter.turn;
      if (turn === 'gave-up') throw this.#acquireError(request, reported());
      const nextRetryAt = (): number => clock.now() + retryDelayMs(request.retryDelayMs, request.retryJitterMs);
      let retryAt = turn === 'first' ? 0 : nextRetryAt();
      /** What starts the next attempt: its timer, a release (a wake), or a look that no release asked for. */
      let wokenBy: 'timer' | 'release' | 'look' = turn === 'look' ? 'look' : 'timer';
      // The lock is held here: wait for its release before asking any node.
      if (turn === 'held-here') wokenBy = await waitForRetry(clock, retryAt - clock.now(), queue, signal);
      for (;;) {
        signal?.throwIfAborted();
        const isWoken = wokenBy !== 'timer';
        queue.clearWake();
        const startedAt = clock.now();
        // A woken attempt asks patiently only until the timed retry is due: a wake never postpones it.
        const outcome = await runAttempt(this.#set, request, attempts.count + 1, leadNodeIndex, isWoken && queue.isLeadAnswering, isWoken ? retryAt : Infinity);
        if (outcome instanceof Lock) {
          lock = outcome;
          return this.#wakeQueueAtRelease(outcome);
        }
        // Wakes can be forged by anyone who can PUBLISH on a node: each one that failed rests the next.
        if (wokenBy === 'release') queue.restWakes(clock.now() - startedAt);
        this.#throwIfMisconfigured();
        if (outcome !== 'held-at-lead') this.#throwIfNodeMisconfigured(request, outcome);
        // Before the signal check: an attempt cut off by `waitMs` is the last one the error reports.
        if (outcome !== 'held-at-lead') attempts.add(outcome);
        signal?.throwIfAborted();
        let isHeld = outcome === 'held-at-lead';
        if (outcome !== 'held-at-lead') {
          // A key that is not a lock never goes away by itself: once such keys deny a quorum, waiting is futile.
          if (isBlockedByForeignKeys(outcome, this.quorum)) throw this.#acquireError(request, attempts);
          queue.recordFailure(outcome);
          queue.noteLeadAnswer(outcome.nodes[leadNodeIndex]?.status);
          if (!isWoken) {
            waiter.failures += 1;
            if (waiter.failures > retryCount) throw this.#acquireError(request, attempts);
            retryAt = nextRetryAt();
          }
          isHeld = outcome.nodes.some((node) => node.status === 'held');
        }
        if (isHeld && queue.watch === undefined && this.#notifications) {
          const timeoutMs = Math.max(...nodes.map((node) => nodeTimeoutMsFor(node, options, ttlMs, keys.length)));
          await waitUntilListening(queue.listen(this.#notifications, keys, timeoutMs), signal);
          // The holder may have released before we listened: look once more, at no cost to the retries.
          wokenBy = 'look';
          continue;
        }
        // A timed retry that is due goes first, however many wakes are pending: wakes never starve it.
        wokenBy = retryAt <= clock.now() ? 'timer' : await waitForRetry(clock, retryAt - clock.now(), queue, signal);
      }
    } catch (error) {
      // Every wait rejects with `signal.reason`: a `waitMs` that ran out is a failure to acquire.
      if (error instanceof WaitExpired) throw this.#acquireError(request, reported(), error.waitMs);
      throw error;
    } finally {
      queue.leave(waiter, lock !== undefined);
    }
  }

  /** Hands `lock` back after making its release wake the next local waiter on the same resources at once. */
  #wakeQueueAtRelease(lock: Lock): Lock {
    lock.afterRelease(this.#wakeQueue);
    return lock;
  }

  /** Wakes the queue of exactly these resource keys; made once, as every lock calls it. */
  readonly #wakeQueue = (keys: readonly string[]): void => this.#queues.wake(keys);

  /** The node a woken head asks first, for a request that makes a queue (see `leadNodeIndexOf`). */
  readonly #leadNodeIndexFor = (request: AcquireRequest): number => leadNodeIndexIn(this.#set, request.keys, request.ttlMs);

  /**
   * The error of a call that gave up: its retries ran out, a single try failed, or `waitMs` ran out
   * (`waitMs` given). The reason is that of the last attempt in `log`; a call that gave up in the local
   * queue before any attempt was made there reports the lock as held, by the earlier call ahead of it.
   */
  #acquireError(request: AcquireRequest, log: AttemptLog, waitMs?: number): LockAcquireError {
    const kept = log.kept();
    const within = waitMs === undefined ? '' : ` within \`waitMs\` (${waitMs} ms),`;
    const last = log.last;
    if (last === undefined) {
      return new LockAcquireError(
        `Could not acquire ${describeResources(request.resources)}${within} after no attempt of its own: held by another owner (an earlier call of this Redlock on the same resources was ahead of it in the local queue)`,
        { resources: request.resources, attempts: kept, attemptCount: 0, reason: 'held-by-another-owner', ...(waitMs === undefined ? {} : { waitMs }) },
      );
    }
    const reason = failureReasonIn(last, log.lastDecided, this.quorum);
    const fenced = last.fenceNodes?.filter((node) => node.status === 'fenced').length;
    const isFenceFailed = fenced !== undefined && fenced < this.quorum;
    const detail = isFenceFailed
      ? `a quorum granted, but only ${fenced} stored the fencing token: ${describeOutcomes(last.fenceNodes ?? [])}`
      : reason === 'no-validity'
        ? `a quorum agreed after ${Math.round(last.elapsedMs)} ms, leaving no validity of the ${request.ttlMs} ms TTL`
        : `${describeOutcomes(last.nodes)}, quorum is ${this.quorum}`;
    const advice =
      reason !== 'foreign-key'
        ? ''
        : request.fencing
          ? '; a lock or fencing counter key holds data this library did not write, which never expires: give lock keys a namespace of their own, e.g. with `keyPrefix`'
          : `; ${request.resources.length === 1 ? 'the key is' : 'a key is'} not a lock (not a string with a TTL) and never expires: give lock keys a namespace of their own, e.g. with \`keyPrefix\``;
    const tries = log.count === 1 ? '1 attempt' : `${log.count} attempts`;
    const keptNote = log.count > kept.length ? ` (the error keeps the first and the latest ${kept.length - 1})` : '';
    return new LockAcquireError(
      `Could not acquire ${describeResources(request.resources)}${within} after ${tries}${keptNote}: ${reason.replaceAll('-', ' ')} (last attempt${last.isCutOff === true ? ', cut off by the wait' : ''}: ${detail})${advice}`,
      { resources: request.resources, attempts: kept, attemptCount: log.count, reason, ...(waitMs === undefined ? {} : { waitMs }) },
    );
  }
}

/**
 * Why a call failed: why its `last` attempt did. An attempt cut off by `waitMs` or the caller's signal
 * tells only what the nodes had answered by then; when that does not decide (`'nodes-unreachable'`: the
 * nodes still silent made the difference), the latest attempt that ran to its vote tells (`decided`), if
 * any did.
 */
function failureReasonIn(last: AcquireAttempt, decided: AcquireAttempt | undefined, quorum: number): AcquireFailureReason {
  const reason = failureReasonOf(last, quorum);
  return reason === 'nodes-unreachable' && last.isCutOff === true && decided !== undefined ? failureReasonOf(decided, quorum) : reason;
}

/**
 * Why an attempt failed, from its outcomes; the rule `tryAcquire()` decides by:
 * - `'foreign-key'`: keys that are not locks deny a quorum on their own (see {@link isBlockedByForeignKeys});
 * - `'nodes-unreachable'`: with fencing, a quorum granted but too few nodes stored the fencing token;
 * - `'no-validity'`: a quorum granted, too late for any validity to remain;
 * - `'held-by-another-owner'`: the nodes that refused (another owner's lock, or a foreign key) deny a
 *   quorum on their own: whatever the other nodes had answered, no quorum was possible;
 * - `'nodes-unreachable'` otherwise: nodes that timed out, failed or were inside their restart grace made
 *   the difference, since with their grants a quorum would have been reached.
 */
function failureReasonOf(attempt: AcquireAttempt, quorum: number): AcquireFailureReason {
  if (isBlockedByForeignKeys(attempt, quorum)) return 'foreign-key';
  const fenced = attempt.fenceNodes?.filter((node) => node.status === 'fenced').length;
  if (fenced !== undefined && fenced < quorum) return 'nodes-unreachable';
  const counts = countByStatus(attempt.nodes);
  if ((counts['acquired'] ?? 0) >= quorum) return 'no-validity';
  const refused = (counts['held'] ?? 0) + (counts['foreign'] ?? 0);
  return refused > attempt.nodes.length - quorum ? 'held-by-another-owner' : 'nodes-unreachable';
}

/**
 * Whether foreign keys alone deny a quorum, in the acquire round or in storing the fencing token: more
 * than N − quorum nodes answered `'foreign'`, and no retry can change that.
 */
function isBlockedByForeignKeys(attempt: AcquireAttempt, quorum: number): boolean {
  const tolerated = attempt.nodes.length - quorum;
  const foreignIn = (nodes: readonly { readonly status: string }[]): number => nodes.filter((node) => node.status === 'foreign').length;
  return foreignIn(attempt.nodes) > tolerated || foreignIn(attempt.fenceNodes ?? []) > tolerated;
}

/** Releases a lock that a call acquired after `close()` had rejected it. */
function releaseAbandoned(lock: Lock): Promise<unknown> {
  return lock.release();
}

/** The error of a call refused because the `Redlock` is closed. */
function closedError(operation: string, resources: readonly string[], when = ''): RedlockClosedError {
  return new RedlockClosedError(`Could not ${operation} ${describeResources(resources)}: the Redlock was closed${when}`, { resources });
}

/**
 * The loss of a lock that `using()`'s routine held, found when the routine settled: the lock is lost or
 * expired (and not released by the routine itself), though no extension reported it before.
 */
function lossAtEnd(lock: Lock): LockLostError | undefined {
  const state = lock.state;
  if (state !== 'lost' && state !== 'expired') return undefined;
  try {
    lock.assertValid();
  } catch (error) {
    return error as LockLostError;
  }
  return undefined;
}

/**
 * Attaches `report` (an error that must not be lost) to `error` as the property `key`, or, when `error`
 * cannot carry it (a primitive, a frozen object), emits it as a process warning.
 */
function reportWith(error: unknown, key: 'releaseError' | 'lockLostError', report: unknown): void {
  if ((typeof error === 'object' || typeof error === 'function') && error !== null && Object.isExtensible(error)) {
    Object.defineProperty(error, key, { value: report, configurable: true, writable: true });
  } else {
    warn(report);
  }
}

/** Emits a report that nobody awaits as a process warning (see `emitErrorWarning`). */
function warn(report: unknown): void {
  if (report instanceof Error) emitErrorWarning(report);
  else process.emitWarning(String(report), { type: 'RedlockWarning' });
}
