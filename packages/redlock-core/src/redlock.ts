import type { RedisAdapter } from './adapter.js';
import { type AcquireRequest, runAttempt } from './attempt.js';
import { keepExtended } from './auto-extend.js';
import { type AcquireFailureReason, LockAcquireError, LockInspectError } from './errors.js';
import { callEveryNode, describeResources, Lock, type NodeSet } from './lock.js';
import {
  type AcquireOptions,
  type AcquireSettings,
  checkTtl,
  nodeTimeoutMsFor,
  type RedlockNode,
  type RedlockOptions,
  resolveAcquireOptions,
  resolveNodes,
  resolveOptions,
  resolveResources,
  resolveUsingLimits,
  type UsingOptions,
} from './options.js';
import {
  type AcquireAttempt,
  countByStatus,
  describeOutcomes,
  type InspectNodeOutcome,
  type LockInspection,
} from './outcomes.js';
import { quorumOf } from './quorum.js';
import { type KeyWatch, leadNodeIndexOf, ReleaseNotifications, waitForRetry, waitUntilListening } from './release-notifications.js';
import { retryDelayMs } from './retry.js';
import { inspectScript, parseInspectReply } from './scripts/inspect.js';
import { runScript } from './scripts/lua-script.js';

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
  /** The settings of a call without options, resolved once: most calls pass none. */
  readonly #callDefaults: AcquireSettings;

  /**
   * @param nodes - One adapter per independent Redis node (an odd number, 3 or 5, is best), or
   *   `{ adapter, timeoutMs }` for a node that needs its own timeout. The `Redlock` never closes them.
   * @param options - See {@link RedlockOptions}.
   * @throws `TypeError` or `RangeError` at once for an empty node list or a bad option.
   */
  constructor(nodes: readonly (RedisAdapter | RedlockNode)[], options?: RedlockOptions) {
    this.#set = { nodes: resolveNodes(nodes), options: resolveOptions(options) };
    this.quorum = quorumOf(this.#set.nodes.length);
    this.#callDefaults = resolveAcquireOptions(undefined, this.#set.options);
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
   * @param resources - A resource name, or several to lock together.
   * @param ttlMs - How long the nodes keep the lock, in milliseconds, if it is not released or extended.
   * @returns The held {@link Lock}; its validity is measured from the start of the attempt that succeeded.
   * @throws {@link LockAcquireError} when every attempt failed; `signal.reason` when `signal` aborts;
   *   `TypeError` or `RangeError` for bad arguments, before any node is called.
   *
   * @example
   * ```ts
   * const lock = await redlock.acquire(['account:1', 'account:2'], 5_000);
   * try {
   *   await transfer(1, 2);
   * } finally {
   *   await lock.release();
   * }
   * ```
   */
  async acquire(resources: string | readonly string[], ttlMs: number, options?: AcquireOptions): Promise<Lock> {
    return this.#acquire(this.#resolveRequest(resources, ttlMs, options));
  }

  /**
   * Acquires a lock, runs `routine` while keeping the lock extended, and always releases it at the end.
   * The routine gets a `signal` that aborts, with a {@link LockLostError} as its `reason`, the moment the
   * lock can no longer be guaranteed (with a {@link LockLimitError} when `maxExtensions` or `maxHoldMs` is
   * reached, or with your reason when `options.signal` aborts), and the live {@link Lock}.
   *
   * @returns What `routine` returns. If `routine` throws, rejects with that same error; if the release
   *   then fails too, its {@link LockReleaseError} is attached as the error's `releaseError` property.
   *   A failed release after a successful routine does not reject: the keys expire after their TTL. It
   *   also resolves when the lock was lost while the routine ran: the routine decides, through `signal`,
   *   whether to finish.
   * @throws {@link LockAcquireError} if the lock could not be acquired (the routine does not run).
   *
   * @example
   * ```ts
   * const report = await redlock.using('reports:daily', 30_000, async (signal) => {
   *   const rows = await loadRows({ signal });
   *   signal.throwIfAborted(); // stop before writing if the lock was lost
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
    const request = this.#resolveRequest(resources, ttlMs, options);
    const limits = resolveUsingLimits(options);
    if (typeof routine !== 'function') {
      throw new TypeError(`Expected \`routine\` to be a function, got \`${typeof routine}\``);
    }
    const lock = await this.#acquire(request);
    // The routine's signal aborts on a lost lock or on the caller's signal (by hand: AbortSignal.any needs Node 20.3).
    const routineAbort = new AbortController();
    const onCallerAbort = (): void => routineAbort.abort(request.signal?.reason);
    request.signal?.addEventListener('abort', onCallerAbort, { once: true });
    const extension = keepExtended(lock, ttlMs, this.#set.options.clock, limits, (error) => routineAbort.abort(error));
    const finish = async (): Promise<void> => {
      request.signal?.removeEventListener('abort', onCallerAbort);
      await extension.stop();
    };
    let result: T;
    try {
      result = await routine(routineAbort.signal, lock);
    } catch (error) {
      await finish();
      const releaseError = await lock.release().then(
        () => undefined,
        (failure: unknown) => failure,
      );
      if (releaseError !== undefined && typeof error === 'object' && error !== null && Object.isExtensible(error)) {
        Object.defineProperty(error, 'releaseError', { value: releaseError, configurable: true, writable: true });
      }
      throw error;
    }
    await finish();
    await lock.release().catch(() => undefined);
    return result;
  }

  /**
   * Tells whether a resource is locked and for how long, by the quorum's view, for dashboards and tools.
   * It asks every node for the key's remaining TTL only, so it never sees or reveals an owner's token, and
   * it changes nothing. The answer is a snapshot: the lock may be taken or freed right after it.
   *
   * @param resource - The resource name, without the key prefix.
   * @throws {@link LockInspectError} if fewer than a quorum of nodes answered; `TypeError` or `RangeError`
   *   for a bad resource, before any node is called.
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
    const remaining: (number | undefined)[] = [];
    // The node timeout is derived from a TTL; inspection has none, so it gets the default of a 10 s lock.
    const calls = callEveryNode(this.#set, 10_000, async (adapter, nodeIndex) => {
      remaining[nodeIndex] = parseInspectReply(await runScript(adapter, inspectScript, keys, []));
      return remaining[nodeIndex] === undefined ? 'free' : 'locked';
    });
    const outcomes = await Promise.all(calls.map((call) => call.outcome));
    const inspected = outcomes.map((outcome): InspectNodeOutcome =>
      outcome.status === 'locked' ? { ...outcome, status: 'locked', remainingMs: remaining[outcome.nodeIndex] as number } : (outcome as InspectNodeOutcome),
    );
    const answered = inspected.filter((node) => node.status === 'locked' || node.status === 'free').length;
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

  #resolveRequest(resources: unknown, ttlMs: unknown, options: unknown): AcquireRequest {
    const { keyPrefix, driftFactor } = this.#set.options;
    const names = resolveResources(resources, keyPrefix);
    const settings = options === undefined ? this.#callDefaults : resolveAcquireOptions(options, this.#set.options);
    const checkedTtlMs = checkTtl(ttlMs, driftFactor);
    const { reentrant } = settings;
    if (reentrant !== undefined && !(reentrant instanceof Lock)) {
      throw new TypeError(`Expected \`reentrant\` to be a Lock, got \`${typeof reentrant}\``);
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
      signal: settings.signal,
      fencing: settings.fencing,
      reentrant,
    };
  }

  /**
   * Runs attempts until one succeeds. Timed retries follow each other at `retryDelayMs` ± jitter and are
   * counted by `retryCount`. When the lock is held by another owner and the nodes can notify, the waiter
   * also listens for its release and tries again the moment it comes: such a woken attempt uses up no
   * retry, so a waiter gives up only after its timed retries, however often the lock changes hands. A woken
   * attempt asks the lead node first and stops there if the lock was taken again (see `leadNodeIndexOf`);
   * timed retries always ask every node, so a key left on the lead node alone cannot stall a waiter.
   */
  async #acquire(request: AcquireRequest): Promise<Lock> {
    const { signal, retryCount, keys, ttlMs } = request;
    if (request.reentrant !== undefined) return request.reentrant.reenter(ttlMs);
    const { options, nodes } = this.#set;
    const { clock } = options;
    const timeoutsMs = nodes.map((node) => nodeTimeoutMsFor(node, options, ttlMs));
    const leadNodeIndex = leadNodeIndexOf(keys, timeoutsMs);
    const attempts: AcquireAttempt[] = [];
    let watch: KeyWatch | undefined;
    /** Whether woken attempts ask the lead node first: until it fails to answer. */
    let isLeadAnswering = true;
    try {
      let timedRetries = 0;
      let retryAt = 0;
      let wokenBy: 'timer' | 'release' = 'timer';
      for (;;) {
        signal?.throwIfAborted();
        const isWoken = wokenBy === 'release';
        const outcome = await runAttempt(this.#set, request, attempts.length + 1, leadNodeIndex, isWoken && isLeadAnswering);
        if (outcome instanceof Lock) return outcome;
        signal?.throwIfAborted();
        if (outcome !== 'held-at-lead') {
          attempts.push(outcome);
          const leadStatus = outcome.nodes[leadNodeIndex]?.status;
          if (isLeadAnswering && (leadStatus === 'timeout' || leadStatus === 'error')) {
            isLeadAnswering = false;
            watch?.watchEveryNode();
          }
          if (!isWoken) {
            if (timedRetries === retryCount) throw this.#acquireError(request, attempts);
            timedRetries += 1;
            retryAt = clock.now() + retryDelayMs(request.retryDelayMs, request.retryJitterMs);
          }
          if (watch === undefined && this.#notifications && outcome.nodes.some((node) => node.status === 'held')) {
            watch = this.#notifications.watch(keys, Math.max(...timeoutsMs), leadNodeIndex);
            if (!isLeadAnswering) watch.watchEveryNode();
            await waitUntilListening(watch, signal);
            // The holder may have released before we listened: look once more, at no cost to the retries.
            wokenBy = 'release';
            continue;
          }
        }
        wokenBy = await waitForRetry(clock, Math.max(0, retryAt - clock.now()), watch, signal);
      }
    } finally {
      watch?.close();
    }
  }

  #acquireError(request: AcquireRequest, attempts: readonly AcquireAttempt[]): LockAcquireError {
    const last = attempts[attempts.length - 1] as AcquireAttempt;
    const counts = countByStatus(last.nodes);
    const nodeCount = last.nodes.length;
    // A node inside its restart grace is as unavailable as one that does not answer.
    const failed = (counts['timeout'] ?? 0) + (counts['error'] ?? 0) + (counts['restarting'] ?? 0);
    // A quorum of grants failed only for lack of validity, whatever the other nodes answered.
    const fenced = last.fenceNodes?.filter((node) => node.status === 'fenced').length;
    const reason: AcquireFailureReason =
      fenced !== undefined && fenced < this.quorum
        ? 'nodes-unreachable'
        : (counts['acquired'] ?? 0) >= this.quorum
        ? 'no-validity'
        : failed > nodeCount - this.quorum
          ? 'nodes-unreachable'
          : 'held-by-another-owner';
    const detail =
      fenced !== undefined && fenced < this.quorum
        ? `a quorum granted, but only ${fenced} stored the fencing token: ${describeOutcomes(last.fenceNodes ?? [])}`
        : reason === 'no-validity'
        ? `a quorum agreed after ${Math.round(last.elapsedMs)} ms, leaving no validity of the ${request.ttlMs} ms TTL`
        : `${describeOutcomes(last.nodes)}, quorum is ${this.quorum}`;
    const tries = attempts.length === 1 ? '1 attempt' : `${attempts.length} attempts`;
    return new LockAcquireError(
      `Could not acquire ${describeResources(request.resources)} after ${tries}: ${reason.replaceAll('-', ' ')} (last attempt: ${detail})`,
      { resources: request.resources, attempts, reason },
    );
  }
}

