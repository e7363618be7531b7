import { type Release, releaseAndRetry, releaseOnNode, releaseRunOf, type ReleaseStatus, sendAgainAfterError } from './cleanup.js';
import { unrefTimer, validityMs } from '../base/clock.js';
import { LockExtendError, type LockLimitError, LockLostError, LockReleaseError, RedlockClosedError } from '../base/errors.js';
import { ASYNC_DISPOSE } from '../base/lifecycle.js';
import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import { checkTtl } from '../settings/ttl.js';
import { isReleaseTraced, publishLockLost, traceExtend, traceRelease } from '../base/diagnostics.js';
import { type AcquireNodeOutcome, countByStatus, describeOutcomes, type ExtendNodeOutcome, type ReleaseNodeOutcome, type ReleaseResult } from '../base/outcomes.js';
import { callEveryNode, callNode, type NodeCall, type NodeCallRun, settledCall, sharedTimeoutsFor } from '../nodes/node-call.js';
import { allOutcomes, collectVotes, outcomesOf, quorumOf } from '../nodes/quorum.js';
import { announceNodeIndexOf, isAnnouncedOn, leadNodeIndexIn } from '../nodes/release-notifications.js';
import { extendScript, parseExtendReply } from '../scripts/extend.js';
import { ScriptReader } from '../scripts/lua-script.js';

/** The state of a {@link Lock}. */
export type LockState = 'held' | 'released' | 'expired' | 'lost';


/** A running automatic extension of one handle (see `keepExtended`). */
interface HandleExtension {
  stop(): Promise<void>;
}

/** Why an automatic extension stopped on its own. */
type ExtensionStop = LockLostError | LockLimitError;

/**
 * The state one acquisition holds on the nodes, shared by the lock and its re-entrant handles: the keys
 * are released when the last handle is.
 */
interface Hold {
  ttlMs: number;
  /** Monotonic time at which validity ends. */
  validUntil: number;
  /** Monotonic time at which the keys expire on the nodes if nobody extends them: the last TTL from its call's start. */
  keysExpireAt: number;
  expiresAt: number;
  /** Handles not yet released. */
  holders: number;
  /** Whether the keys are being or have been released on the nodes. */
  isReleased: boolean;
  /** Why the lock is known lost (a quorum no longer holds our token), once it is. */
  lostBecause: LockLostError | undefined;
  /** Whether the loss was published on `redlock-core.lock.lost`: once per hold. */
  isLossPublished: boolean;
  /** Each node's outcome in the attempt that acquired the hold, at the decision. */
  readonly nodes: readonly (AcquireNodeOutcome | undefined)[];
  /** Called once when the lock is found lost; see {@link Lock.onLost}. Made on first use: most locks have none. */
  lostListeners: Set<(error: LockLostError) => void> | undefined;
  /**
   * By node index, whether a command that may write our keys was sent there (the acquisition, a re-seed):
   * releases go only there, so a node that was down all along costs nothing.
   */
  readonly written: boolean[];
  /** The node waiters listen to and ask first (see `leadNodeIndexOf`), if the acquisition knew it. */
  readonly leadNodeIndex: number | undefined;
  release: Promise<ReleaseResult> | undefined;
  /**
   * The latest release on each node, by node index: its call while it runs, then whether it deleted our
   * keys there. Settled calls are not kept: a call still waiting for a far node keeps this array alive.
   */
  releasedOn: (NodeCall<ReleaseStatus> | boolean)[];
  /** Extensions run concurrently; only the latest started one may set the validity. */
  extensionsStarted: number;
  extensionApplied: number;
  /** The extensions whose node calls are running; made on first use. See {@link Lock.removeLateGrant}. */
  extensionsInFlight: Set<Promise<unknown>> | undefined;
  /** See {@link Lock.afterRelease}. */
  onReleased: ((keys: readonly string[]) => void) | undefined;
  /** The controller of `lock.signal`, made on its first read or at its first abort: most locks have none. */
  controller: AbortController | undefined;
  /** The unref'd timer that aborts `lock.signal` when validity runs out. */
  signalTimer: unknown;
  /** The running automatic extensions of the hold's handles (`autoExtend`); made on first use. */
  extensions: Set<HandleExtension> | undefined;
  /** Removes the hold's `redlock.close()` hook, while it has one: while its signal or an extension can be stopped. */
  stopWatchingClose: (() => void) | undefined;
}

/**
 * Declares `[Symbol.asyncDispose]` for TypeScript (`await using`); the class defines it under
 * `ASYNC_DISPOSE`, the same symbol, which also exists on Node versions that lack `Symbol.asyncDispose`.
 */
export interface Lock {
  /** Releases the lock, for `await using`: see `release()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A lock held on a quorum of nodes until its validity runs out.
 *
 * held ──extend()──▶ held · held ──release()──▶ released · held ──validity runs out──▶ expired ·
 * held ──a quorum no longer holds our token (extend() rejects with `isLost`)──▶ lost
 *
 * Only a held lock can be extended; `release()` (and `await using`, which calls it) is safe in any state.
 * A `Lock` is a live handle:
 * `extend()` updates `expiresAt` and `remainingValidityMs` in place and resolves with the same object.
 * Acquiring again with `{ reentrant: lock }` gives another handle on the same hold: each handle is
 * released once, and the keys go when the last one is. Created by `Redlock.acquire()` and
 * `Redlock.using()`, never directly.
 */
export class Lock {
  /** The locked resources as given to `acquire()`, without the key prefix. */
  readonly resources: readonly string[];
  /**
   * The random value that identifies this owner on every node. Keep it secret: it can release the lock.
   * It is not an own enumerable property, so `JSON.stringify(lock)` and `{ ...lock }` leave it out, and
   * `util.inspect(lock)` (so `console.log`) shows it as `[redacted]`; read it here when you need it.
   */
  get token(): string {
    return this.#token;
  }
  /** How many attempts the acquisition took, 1 for the first. */
  readonly attempts: number;
  /**
   * With `fencing: true`, an integer greater than the fencing token of every acquisition of these resources
   * that completed before this one started; `undefined` without fencing. Send it with every write to the
   * storage the lock protects, and let the storage reject tokens lower than the highest it has seen.
   */
  readonly fencingToken: number | undefined;

  /**
   * Each node's outcome in the attempt that acquired this lock, by node index, as known when the quorum
   * was reached: `'acquired'`, or why a node did not grant it (`'held'`, `'timeout'` or `'error'` with its
   * {@link NodeError}, …); `undefined` for a node that had not answered yet. Tells which nodes failed
   * and how, even when the lock was acquired; no token in it. A re-entrant handle shows its hold's.
   */
  get nodes(): readonly (AcquireNodeOutcome | undefined)[] {
    return this.#hold.nodes;
  }

  readonly #token: string;
  readonly #set: NodeSet;
  readonly #keys: readonly string[];
  readonly #hold: Hold;
  /** Whether this handle was released (the keys go with the last handle). */
  #isReleased = false;
  /** This handle's automatic extension (`autoExtend`), while it runs. */
  #extension: HandleExtension | undefined;

  /** @internal */
  constructor(init: {
    set: NodeSet;
    resources: readonly string[];
    keys: readonly string[];
    token: string;
    attempts: number;
    fencingToken: number | undefined;
    ttlMs: number;
    validUntil: number;
    keysExpireAt: number;
    expiresAt: number;
    written: boolean[];
    leadNodeIndex: number | undefined;
    nodes: readonly (AcquireNodeOutcome | undefined)[];
  }, sharedHold?: Hold) {
    this.#set = init.set;
    this.resources = init.resources;
    this.#keys = init.keys;
    this.#token = init.token;
    this.attempts = init.attempts;
    this.fencingToken = init.fencingToken;
    this.#hold = sharedHold ?? {
      ttlMs: init.ttlMs,
      validUntil: init.validUntil,
      keysExpireAt: init.keysExpireAt,
      expiresAt: init.expiresAt,
      holders: 1,
      isReleased: false,
      lostBecause: undefined,
      isLossPublished: false,
      nodes: init.nodes,
      lostListeners: undefined,
      written: init.written,
      leadNodeIndex: init.leadNodeIndex,
      release: undefined,
      releasedOn: [],
      extensionsStarted: 0,
      extensionApplied: 0,
      extensionsInFlight: undefined,
      onReleased: undefined,
      controller: undefined,
      signalTimer: undefined,
      extensions: undefined,
      stopWatchingClose: undefined,
    };
  }

  /**
   * Wall-clock time, in milliseconds since the epoch (`Date.now()`), at which validity ends: the start of
   * the attempt (or extension) that succeeded, plus its TTL, minus the drift allowance. For display and
   * logs: it moves if the wall clock is set, so decide with `remainingValidityMs`, `state` or
   * {@link assertValid}, which run on the monotonic clock.
   */
  get expiresAt(): number {
    return this.#hold.expiresAt;
  }

  /** Milliseconds of validity left, measured on the monotonic clock now; 0 once expired, released or lost. */
  get remainingValidityMs(): number {
    const hold = this.#hold;
    if (this.#isReleased || hold.isReleased || hold.lostBecause !== undefined) return 0;
    return Math.max(0, hold.validUntil - this.#set.options.clock.now());
  }

  /**
   * `'held'` while validity remains; `'released'` once `release()` was called; `'lost'` once an extension
   * found that a quorum of nodes no longer holds our token; else `'expired'`. Read on the monotonic clock
   * at each access, so it is right even just after the event loop stalled.
   */
  get state(): LockState {
    if (this.#isReleased) return 'released';
    if (this.#hold.lostBecause !== undefined) return 'lost';
    return this.remainingValidityMs > 0 ? 'held' : 'expired';
  }

  /**
   * Throws unless the lock is held at this very moment: a synchronous check of the validity deadline on
   * the monotonic clock. Call it right before each write the lock protects. A signal cannot stand in for
   * it: after the event loop stalled (a long GC, a busy loop, a paused VM), timers run late, so a signal
   * (`using()`'s included) may still read `aborted === false` while the validity is already gone.
   * It narrows the window but cannot close it (the write itself takes time): use `fencingToken` where
   * that matters.
   *
   * @throws {@link LockLostError} if the lock is released, lost or expired; `cause` is the loss's cause.
   *
   * @example
   * ```ts
   * const rows = await loadRows();
   * lock.assertValid(); // throws if the validity ran out meanwhile
   * await db.write(rows);
   * ```
   */
  assertValid(): void {
    const state = this.state;
    if (state === 'held') return;
    const lost = this.#hold.lostBecause;
    throw new LockLostError(`The lock on ${this.#describe()} is ${state}`, {
      resources: this.resources,
      cause: state === 'lost' ? lost?.cause : undefined,
    });
  }

  /**
   * Aborts when the lock should no longer be relied on, with the reason as `signal.reason`:
   * - a {@link LockLostError} when the lock is known lost (an extension, automatic or by hand, found that
   *   a quorum of nodes no longer holds our token) or its validity ran out (for a lock kept extended with
   *   `autoExtend`, validity runs out only when extensions kept failing);
   * - a {@link LockLimitError} when `autoExtend` stops at `maxExtensions` or `maxHoldMs`: the lock stays
   *   valid for its `remainingValidityMs`, time to wrap up;
   * - a {@link RedlockClosedError} when `redlock.close()` is called while the lock is held: it is no longer
   *   extended, and stays valid for its `remainingValidityMs`.
   *
   * It does not abort on `release()`: the holder let go on purpose. One signal serves the hold: every
   * re-entrant handle on it returns the same one. Pass it to the work the lock protects
   * (`fetch(url, { signal: lock.signal })`). Like any signal it aborts only when the event loop runs its
   * timers, late after a stall: call {@link assertValid} right before each write. Made on first read, so
   * a lock whose signal is never read costs no timer; the timer is unref'd and cleared on release.
   *
   * @example
   * ```ts
   * const lock = await redlock.acquire('reports:daily', 30_000, { autoExtend: true });
   * try {
   *   await buildReport({ signal: lock.signal });
   * } finally {
   *   await lock.release();
   * }
   * ```
   */
  get signal(): AbortSignal {
    const hold = this.#hold;
    if (hold.controller !== undefined) return hold.controller.signal;
    const controller = (hold.controller = new AbortController());
    if (hold.lostBecause !== undefined) {
      controller.abort(hold.lostBecause);
    } else if (!hold.isReleased) {
      if (this.#set.lifecycle.isClosed) this.#abortSignal(this.#closedReason());
      else if (hold.validUntil <= this.#set.options.clock.now()) this.#abortSignal(this.#expiredReason());
      else {
        this.#armSignalTimer();
        this.#watchClose();
      }
    }
    return controller.signal;
  }

  /**
   * Releases the lock (see {@link release}), for `await using lock = await redlock.acquire(…)`: safe in
   * any state, so a lock released, expired or lost by then resolves normally.
   *
   * @throws {@link LockReleaseError} as `release()` does, when fewer than a quorum of nodes answered.
   *
   * @example
   * ```ts
   * {
   *   await using lock = await redlock.acquire('orders:42', 10_000);
   *   await chargeOrder(42);
   * } // released here, whether the block returned or threw
   * ```
   */
  async [ASYNC_DISPOSE](): Promise<void> {
    await this.release();
  }

  /**
   * Keeps this handle extended with the extension `start` makes (see `keepExtended`), until the handle
   * is released, the extension stops on its own (its reason then aborts {@link signal}), or the `Redlock`
   * closes. Does nothing for a handle that is not held.
   * @internal
   */
  keepExtendedBy(start: (onStop: (reason: ExtensionStop) => void) => HandleExtension): void {
    const hold = this.#hold;
    if (this.state !== 'held' || this.#extension !== undefined) return;
    let hasStopped = false;
    let extension: HandleExtension | undefined;
    const onStop = (reason: ExtensionStop): void => {
      hasStopped = true;
      if (extension !== undefined) hold.extensions?.delete(extension);
      if (this.#extension === extension) this.#extension = undefined;
      this.#abortSignal(reason);
    };
    extension = start(onStop);
    // It may have stopped at once, on a loss found meanwhile.
    if (hasStopped) return;
    this.#extension = extension;
    (hold.extensions ??= new Set()).add(extension);
    this.#watchClose();
  }

  /** Aborts the hold's signal (making it if nobody read it yet); clears its timer, and its close hook when idle. */
  #abortSignal(reason: unknown): void {
    const hold = this.#hold;
    const controller = (hold.controller ??= new AbortController());
    this.#clearSignalTimer();
    if (!controller.signal.aborted) controller.abort(reason);
    this.#unwatchCloseWhenIdle();
  }

  /** Aborts the signal when the hold's validity ends; re-armed when an extension moved the end meanwhile. */
  #armSignalTimer(): void {
    const hold = this.#hold;
    const { clock } = this.#set.options;
    const remainingMs = hold.validUntil - clock.now();
    hold.signalTimer = clock.setTimeout(() => {
      hold.signalTimer = undefined;
      if (hold.isReleased || hold.controller?.signal.aborted === true) return;
      if (hold.validUntil > clock.now()) this.#armSignalTimer();
      else {
        const reason = this.#expiredReason();
        this.publishLoss('validity-ran-out', reason);
        this.#abortSignal(reason);
      }
    }, Math.max(1, Math.ceil(remainingMs)));
    unrefTimer(hold.signalTimer);
  }

  #clearSignalTimer(): void {
    const hold = this.#hold;
    if (hold.signalTimer === undefined) return;
    this.#set.options.clock.clearTimeout(hold.signalTimer);
    hold.signalTimer = undefined;
  }

  /** Makes `redlock.close()` stop the hold's extensions and abort its signal, if it does not already. */
  #watchClose(): void {
    const hold = this.#hold;
    hold.stopWatchingClose ??= this.#set.lifecycle.onClose(() => {
      hold.stopWatchingClose = undefined;
      const { lifecycle } = this.#set;
      for (const extension of hold.extensions ?? []) lifecycle.track(extension.stop());
      hold.extensions = undefined;
      this.#extension = undefined;
      if (!hold.isReleased && hold.lostBecause === undefined) this.#abortSignal(this.#closedReason());
    });
  }

  /** Removes the close hook once there is nothing left for `close()` to stop, so the hook never outlives the hold. */
  #unwatchCloseWhenIdle(): void {
    const hold = this.#hold;
    const hasSignalToAbort = hold.controller !== undefined && !hold.controller.signal.aborted && !hold.isReleased;
    if (hasSignalToAbort || (hold.extensions?.size ?? 0) > 0) return;
    hold.stopWatchingClose?.();
    hold.stopWatchingClose = undefined;
  }

  #expiredReason(): LockLostError {
    return new LockLostError(`Lost the lock on ${this.#describe()}: its validity ran out`, { resources: this.resources });
  }

  #closedReason(): RedlockClosedError {
    return new RedlockClosedError(`The Redlock was closed: the lock on ${this.#describe()} is no longer extended`, {
      resources: this.resources,
    });
  }

  /**
   * Calls `listener` once, when the lock is found lost (a quorum no longer holds our token), with the
   * {@link LockLostError}; at once if it already is. Returns a function that removes the listener.
   * @internal
   */
  onLost(listener: (error: LockLostError) => void): () => void {
    const hold = this.#hold;
    if (hold.lostBecause !== undefined) {
      listener(hold.lostBecause);
      return () => undefined;
    }
    const listeners = (hold.lostListeners ??= new Set());
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /**
   * Marks the hold lost, for every handle on it: its validity is 0 from now on, and `onLost` listeners run.
   * @internal
   */
  markLost(error: LockLostError): void {
    const hold = this.#hold;
    if (hold.lostBecause !== undefined || hold.isReleased) return;
    this.publishLoss('quorum-lost', error);
    hold.lostBecause = error;
    const listeners = [...(hold.lostListeners ?? [])];
    hold.lostListeners = undefined;
    for (const listener of listeners) listener(error);
    if (hold.controller !== undefined) this.#abortSignal(error);
  }

  /**
   * Publishes on `redlock-core.lock.lost` that the hold can no longer be guaranteed, once per hold and
   * never after its release.
   * @internal
   */
  publishLoss(reason: 'quorum-lost' | 'validity-ran-out', error: LockLostError): void {
    const hold = this.#hold;
    if (hold.isLossPublished || hold.isReleased) return;
    hold.isLossPublished = true;
    const remainingValidityMs = Math.max(0, hold.validUntil - this.#set.options.clock.now());
    publishLockLost(() => ({ resources: this.resources, reason, remainingValidityMs, error }));
  }

  /**
   * Whether `value` is a lock handed out by a `Redlock`: a brand check on a private field, since an
   * object made with `Object.create(Lock.prototype)` (or a spread copy of a lock) passes `instanceof`
   * but has none of a lock's state.
   * @internal
   */
  static isLock(value: unknown): value is Lock {
    return typeof value === 'object' && value !== null && #hold in value;
  }

  /**
   * Whether this lock was handed out by the `Redlock` of `set` and covers `keys`.
   * @internal
   */
  covers(set: NodeSet, keys: readonly string[]): boolean {
    if (set !== this.#set) return false;
    if (keys.length === 1) return this.#keys.includes(keys[0] as string);
    const own = new Set(this.#keys);
    return keys.every((key) => own.has(key));
  }

  /**
   * Calls `callback` with the keys each time the nodes answered a release of them (with a quorum or
   * not), so that the next waiter of this process can try at once instead of waiting for a notification.
   * @internal
   */
  afterRelease(callback: (keys: readonly string[]) => void): void {
    this.#hold.onReleased = callback;
  }

  /**
   * Another handle on this lock's hold, for a re-entrant acquisition by the same owner: it extends the
   * hold first if `ttlMs` asks for more validity than is left, and shares the keys, token, validity and
   * extensions; the keys are released with the last handle.
   * @internal
   */
  async reenter(ttlMs: number): Promise<Lock> {
    const { driftFactor } = this.#set.options;
    const state = this.state;
    if (state !== 'held') {
      throw new LockExtendError(`Could not re-enter ${this.#describe()}: the lock is already ${state}`, {
        resources: this.resources,
        nodes: [],
        isLost: true,
      });
    }
    // Never shorten the hold: PEXPIRE would cut the keys' TTL to `ttlMs` from now.
    if (validityMs({ ttlMs, elapsedMs: 0, driftFactor }) > this.remainingValidityMs) await this.extend(ttlMs);
    if (this.#hold.isReleased) {
      throw new LockExtendError(`Could not re-enter ${this.#describe()}: the lock was released meanwhile`, {
        resources: this.resources,
        nodes: [],
        isLost: true,
      });
    }
    const hold = this.#hold;
    hold.holders += 1;
    const init = { set: this.#set, resources: this.resources, keys: this.#keys, token: this.token, fencingToken: this.fencingToken };
    return new Lock({ ...init, attempts: 0, ttlMs: hold.ttlMs, validUntil: hold.validUntil, keysExpireAt: hold.keysExpireAt, expiresAt: hold.expiresAt, written: hold.written, leadNodeIndex: hold.leadNodeIndex, nodes: hold.nodes }, hold);
  }

  /**
   * Sets the TTL of every key to `ttlMs` again on every node that still holds our token. Succeeds like an
   * acquisition: a quorum must agree, and validity (`ttlMs` − elapsed − drift, measured from the start of
   * this call) must remain. Resolves with this lock, whose `expiresAt` has moved.
   *
   * @param ttlMs - The new time to live, in milliseconds, counted from now.
   * @throws {@link LockExtendError} if the lock is released, lost or expired (no node is asked then), if no
   *   quorum holds our token any more (`isLost`: the lock's `state` becomes `'lost'` then), or if nodes
   *   failed to answer.
   * @throws {@link RedlockClosedError} once `redlock.close()` was called, before any node is called.
   * @throws `TypeError` or `RangeError` for a bad `ttlMs`, before any node is called.
   */
  async extend(ttlMs: number): Promise<Lock> {
    const { options, lifecycle } = this.#set;
    checkTtl(ttlMs, options.driftFactor);
    if (lifecycle.isClosed) {
      throw new RedlockClosedError(`Could not extend ${this.#describe()}: the Redlock was closed`, { resources: this.resources });
    }
    const state = this.state;
    if (state !== 'held') {
      throw new LockExtendError(`Could not extend ${this.#describe()}: the lock is already ${state}`, {
        resources: this.resources,
        nodes: [],
        isLost: true,
      });
    }
    const hold = this.#hold;
    const extension = this.#tracedExtension(ttlMs);
    const inFlight = (hold.extensionsInFlight ??= new Set());
    inFlight.add(extension);
    try {
      return await extension;
    } finally {
      inFlight.delete(extension);
    }
  }

  /** {@link extend}'s node calls, traced on `redlock-core.extend` when someone listens. */
  #tracedExtension(ttlMs: number): Promise<Lock> {
    const nodeCount = this.#set.nodes.length;
    let decided: readonly (ExtendNodeOutcome | undefined)[] = [];
    return traceExtend(
      { resources: this.resources, ttlMs, quorum: quorumOf(nodeCount), nodeCount },
      () => this.#extendOnEveryNode(ttlMs, (outcomes) => (decided = outcomes)),
      () => decided,
    );
  }

  /** Extends on every node; `onDecided` gets the outcomes known at the decision of a successful extension. */
  async #extendOnEveryNode(ttlMs: number, onDecided?: (outcomes: readonly (ExtendNodeOutcome | undefined)[]) => void): Promise<Lock> {
    const { options, nodes, servers } = this.#set;
    const hold = this.#hold;
    const sequence = ++hold.extensionsStarted;
    const { clock, driftFactor } = options;
    const start = clock.now();
    const wallStart = clock.wallNow();
    const quorum = quorumOf(nodes.length);
    const reader = new ScriptReader(extendScript, this.#keys, [this.token, String(ttlMs), '0'], parseExtendReply);
    const calls = callEveryNode(this.#set, ttlMs, this.#keys.length, (adapter) => reader.send(adapter), 'extend', start);
    const vote = await collectVotes(
      calls,
      'extended',
      quorum,
    );
    const elapsedMs = clock.now() - start;
    const validity = validityMs({ ttlMs, elapsedMs, driftFactor });
    if (vote.hasQuorum && validity > 0 && !hold.isReleased && servers.configurationError === undefined) {
      if (sequence > hold.extensionApplied) {
        hold.extensionApplied = sequence;
        hold.ttlMs = ttlMs;
        // Validity is what is left now, at the decision: it runs from here, not from the start.
        hold.validUntil = start + elapsedMs + validity;
        hold.keysExpireAt = Math.max(hold.keysExpireAt, start + elapsedMs + ttlMs);
        hold.expiresAt = Math.floor(wallStart + elapsedMs + validity);
      }
      // A quorum still holds the lock, so nodes that lost our keys (restarted empty) may get them back:
      // the lock regains its full margin. In the background: the validity was decided with the quorum,
      // re-seeding only adds holders, and waiting for a slow node would eat the validity just won.
      calls.forEach((call, nodeIndex) => {
        call.onAnswer((status) => {
          if (status === 'missing') void this.#reseed(nodeIndex, ttlMs);
        });
      });
      // An older extension that settled after a newer one applied did not set the validity.
      if (this.remainingValidityMs > 0) {
        onDecided?.([...vote.outcomes]);
        return this;
      }
      throw new LockExtendError(`Could not extend ${this.#describe()}: no validity left after ${Math.round(clock.now() - start)} ms`, {
        resources: this.resources,
        nodes: await allOutcomes(calls),
        isLost: false,
      });
    }
    // Failing is not urgent: wait for every node (each bounded by its timeout) to report them all.
    const outcomes = await allOutcomes(calls);
    if (servers.configurationError !== undefined) throw servers.configurationError;
    const counts = countByStatus(outcomes);
    const isLost = (counts['not-held'] ?? 0) + (counts['missing'] ?? 0) > nodes.length - quorum || hold.isReleased;
    const why = hold.isReleased
      ? 'the lock was released meanwhile'
      : vote.hasQuorum
        ? `no validity left after ${Math.round(elapsedMs)} ms`
        : `${describeOutcomes(outcomes)}, quorum is ${quorum}`;
    const error = new LockExtendError(`Could not extend ${this.#describe()}: ${why}`, {
      resources: this.resources,
      nodes: outcomes,
      isLost,
    });
    if (isLost && !hold.isReleased) {
      this.markLost(
        new LockLostError(`Lost the lock on ${this.#describe()}: a quorum of nodes no longer holds our token`, {
          resources: this.resources,
          cause: error,
        }),
      );
    }
    throw error;
  }

  /**
   * Deletes our keys on every node, whatever the lock's state: compare-and-delete, so it never removes a
   * lock that another owner took after ours expired. Resolves as soon as a quorum of nodes answered (no
   * quorum holds our keys then, so others can acquire), without waiting for slow or far nodes, which finish
   * in the background: `settled` in the result tells when every node did. A node whose release failed is
   * sent it again in the background until the keys would have expired anyway. Calling it again resolves
   * with the first result. A lock that already expired resolves normally with `releasedCount` 0. A
   * re-entrant handle that is not the last one only lets go of its share: no node is called, and `holders`
   * tells how many handles still hold the lock.
   *
   * It stops this handle's automatic extension (`autoExtend`) at once, and keeps working after
   * `redlock.close()` (as long as your clients are open), so `finally` blocks still clean up.
   *
   * @throws {@link LockReleaseError} if fewer than a quorum of nodes answered (it waits for every node to
   *   report them all); the keys left behind expire after their TTL. Calling `release()` again then retries.
   */
  release(): Promise<ReleaseResult> {
    const hold = this.#hold;
    if (!this.#isReleased) {
      this.#isReleased = true;
      hold.holders -= 1;
      const extension = this.#extension;
      if (extension !== undefined) {
        this.#extension = undefined;
        hold.extensions?.delete(extension);
        // An extension in flight may still answer; its result no longer matters.
        void extension.stop();
      }
    }
    if (hold.holders > 0) {
      this.#unwatchCloseWhenIdle();
      return Promise.resolve({ nodes: [], releasedCount: 0, holders: hold.holders, settled: Promise.resolve([]) });
    }
    hold.isReleased = true;
    hold.lostListeners = undefined;
    this.#clearSignalTimer();
    this.#unwatchCloseWhenIdle();
    // A failed release is forgotten (see #releaseOnEveryNode), so that calling release() again retries.
    hold.release ??= this.#tracedRelease();
    return hold.release;
  }

  /**
   * A node that had not answered when this lock was granted set our keys later. While the hold is still
   * held (by any handle), nothing is needed: its release will reach that node. Once it was released, lost
   * or expired, the keys there would block others until their TTL, so they are removed, unless the
   * release already deleted them there (so ran after the acquisition).
   * @internal
   */
  removeLateGrant(nodeIndex: number): void {
    const hold = this.#hold;
    if (this.#isHoldActive()) return;
    // An extension still running may count this node's keys in its quorum and make the hold active
    // again: removing them now would leave it extended on fewer nodes than it counted. Decide once every
    // running extension settled; an inactive hold cannot start another.
    if (hold.extensionsInFlight !== undefined) {
      void Promise.allSettled(hold.extensionsInFlight).then(() => {
        if (!this.#isHoldActive()) this.#removeUnlessReleased(nodeIndex);
      });
    } else this.#removeUnlessReleased(nodeIndex);
  }

  /** Removes our keys from a node, unless the latest release there deleted them (so ran after they were set). */
  #removeUnlessReleased(nodeIndex: number): void {
    const remove = (): void => void releaseAndRetry(this.#set, nodeIndex, this.#releaseOf(true));
    const released = this.#hold.releasedOn[nodeIndex];
    if (released === undefined || released === false) remove();
    else if (released !== true)
      released.onOutcome((outcome) => {
        if (outcome.status !== 'released') remove();
      });
  }

  /** Whether any handle may still rely on the hold: not released, not lost, validity left. */
  #isHoldActive(): boolean {
    const hold = this.#hold;
    return !hold.isReleased && hold.lostBecause === undefined && hold.validUntil > this.#set.options.clock.now();
  }

  /**
   * Sets our keys again on a node that answered an extension with `'missing'` (it restarted empty, or
   * evicted them), while the hold is active. Should the hold end before the node answers, its release
   * may have reached the node first: the keys are then removed as a late grant's are.
   */
  async #reseed(nodeIndex: number, ttlMs: number): Promise<void> {
    if (!this.#isHoldActive()) return;
    const { nodes, options } = this.#set;
    const node = nodes[nodeIndex] as NodeState;
    this.#hold.written[nodeIndex] = true;
    const reader = new ScriptReader(extendScript, this.#keys, [this.token, String(ttlMs), '1'], parseExtendReply);
    const outcome = await callNode(node, nodeTimeoutMsFor(node, options, ttlMs, this.#keys.length), options.clock, (adapter) => reader.send(adapter), 'reseed').outcome;
    if (outcome.status === 'extended') this.removeLateGrant(nodeIndex);
  }

  /**
   * What a release of this hold removes, and until when it is worth sending again; `confirmedCount` 0 for
   * `release()`'s own, whose confirmations are counted (see {@link Release.confirmedCount}).
   */
  #releaseOf(announce: boolean, confirmedCount?: number): Release {
    const hold = this.#hold;
    return { keys: this.#keys, token: this.token, ttlMs: hold.ttlMs, keysExpireAt: hold.keysExpireAt, announce, confirmedCount };
  }

  /** {@link release}'s node calls, traced on `redlock-core.release` when someone listens. */
  #tracedRelease(): Promise<ReleaseResult> {
    // No context object and no closure for the usual, untraced release.
    if (!isReleaseTraced()) return this.#releaseOnEveryNode();
    const nodeCount = this.#set.nodes.length;
    return traceRelease({ resources: this.resources, quorum: quorumOf(nodeCount), nodeCount }, () => this.#releaseOnEveryNode());
  }

  async #releaseOnEveryNode(): Promise<ReleaseResult> {
    const nodeCount = this.#set.nodes.length;
    const hold = this.#hold;
    const all = outcomesOf<ReleaseStatus>(nodeCount);
    const calls = releaseWhereWritten(this.#set, this.#releaseOf(true, 0), hold, all.add);
    const quorum = quorumOf(nodeCount);
    // Either answer confirms that the node holds none of our keys any more.
    const vote = await collectVotes(calls, ['released', 'not-held'], quorum);
    this.#hold.onReleased?.(this.#keys);
    if (!vote.hasQuorum) {
      // Failing is not urgent: wait for every node (each bounded by its timeout) to report them all.
      const nodes = await all.settled;
      // Forgotten, so that calling release() again retries.
      hold.release = undefined;
      throw new LockReleaseError(
        `Could not confirm the release of ${this.#describe()}: ${describeOutcomes(nodes)}, quorum is ${quorum}`,
        { resources: this.resources, nodes },
      );
    }
    // A copy: the vote keeps filling in its own array as the other nodes answer.
    const nodes = [...vote.outcomes];
    const releasedCount = nodes.filter((node) => node?.status === 'released').length;
    return { nodes, releasedCount, holders: 0, settled: all.settled };
  }

  #describe(): string {
    return describeResources(this.resources);
  }
}

/**
 * Sends `release` to every node of `hold` that was sent a write, the lead node first (announced only where
 * waiters listen: see `isAnnouncedOn`), and records each
 * call in `hold.releasedOn`; `onOutcome` hears every call's outcome. Returns the calls by node index. A
 * module function, so that a call still waiting for a far node keeps alive its listener, the hold and the
 * outcomes gathered so far: not the lock, nor the other calls (see bench/scripts/far-node-retention.mjs).
 */
function releaseWhereWritten(
  set: NodeSet,
  release: Release,
  hold: Pick<Hold, 'written' | 'leadNodeIndex' | 'releasedOn'>,
  onOutcome: (outcome: ReleaseNodeOutcome) => void,
): NodeCall<ReleaseStatus>[] {
  const nodeCount = set.nodes.length;
  const releasedOn = new Array<NodeCall<ReleaseStatus> | boolean>(nodeCount);
  hold.releasedOn = releasedOn;
  // `redlock.close()` lets every release in flight finish (within its bound) before it closes the adapters.
  const callSettled = set.lifecycle.trackCallOnEveryNode();
  // One listener for every call, and for all it needs besides the vote.
  const onReleaseOutcome = (outcome: ReleaseNodeOutcome): void => {
    releasedOn[outcome.nodeIndex] = outcome.status === 'released';
    if (release.confirmedCount !== undefined && (outcome.status === 'released' || outcome.status === 'not-held')) release.confirmedCount += 1;
    sendAgainAfterError(set, release, outcome);
    callSettled(outcome.nodeIndex);
    onOutcome(outcome);
  };
  const timeoutOf = sharedTimeoutsFor(set, release.ttlMs, release.keys.length);
  const calls = new Array<NodeCall<ReleaseStatus>>(nodeCount);
  // The lead node first: the node waiters elsewhere listen to and ask first (see `leadNodeIndexOf`), so
  // they wake, and their woken attempt starts, while the other nodes are still being sent the release.
  // A loop rather than a closure per node: the listener must be the only closure made here.
  const leadNodeIndex = hold.leadNodeIndex ?? leadNodeIndexIn(set, release.keys, release.ttlMs);
  // Announced only where waiters listen (see `isAnnouncedOn`).
  const announceNodeIndex = announceNodeIndexOf(release.keys, nodeCount);
  const announcing = releaseRunOf(release);
  let quiet: NodeCallRun<ReleaseStatus> | undefined;
  for (let step = 0; step < nodeCount; step += 1) {
    const nodeIndex = step === 0 ? leadNodeIndex : step <= leadNodeIndex ? step - 1 : step;
    const run = !release.announce || isAnnouncedOn(nodeIndex, leadNodeIndex, announceNodeIndex, nodeCount) ? announcing : (quiet ??= releaseRunOf({ ...release, announce: false }));
    // Nothing was written on a node that was never sent a write (it was down): it holds none of our keys.
    const call =
      hold.written[nodeIndex] === true
        ? releaseOnNode(set, nodeIndex, release, timeoutOf(set.nodes[nodeIndex] as NodeState), run)
        : settledCall<ReleaseStatus>({ nodeIndex, status: 'not-held' });
    calls[nodeIndex] = call;
    // Before the listener, which replaces it at once if the call is settled already.
    releasedOn[nodeIndex] = call;
    call.onOutcome(onReleaseOutcome);
  }
  return calls;
}

/**
 * What `util.inspect()` and `console.log()` show of a lock: its fields and state, with the token redacted,
 * so that logs never carry it. Set on the prototype rather than declared in the class: the interface that
 * declares `[Symbol.asyncDispose]` would clash with a second symbol-keyed member.
 */
function inspectLock(this: Lock, depth: number, options: object, inspect: (value: unknown, options: object) => string): string {
  if (depth < 0) return '[Lock]';
  const shown = {
    resources: this.resources,
    token: REDACTED,
    attempts: this.attempts,
    fencingToken: this.fencingToken,
    state: this.state,
    expiresAt: this.expiresAt,
    remainingValidityMs: this.remainingValidityMs,
  };
  // One level down, as Node's own objects count depth (`null` is unlimited).
  const { depth: optionsDepth } = options as { depth?: number | null };
  return `Lock ${inspect(shown, { ...options, depth: optionsDepth === null || optionsDepth === undefined ? optionsDepth : optionsDepth - 1 })}`;
}
Object.defineProperty(Lock.prototype, Symbol.for('nodejs.util.inspect.custom'), { value: inspectLock, writable: true, configurable: true });

/** Shown by `util.inspect()` in place of a token. */
const REDACTED = { [Symbol.for('nodejs.util.inspect.custom')]: (): string => '[redacted]' };

/** Names resources in messages: `"orders:42"`, or `"a", "b"` for several, cut to keep messages short. */
export function describeResources(resources: readonly string[]): string {
  const shown = resources.slice(0, 3).map((resource) => JSON.stringify(resource.length > 60 ? `${resource.slice(0, 57)}...` : resource));
  return resources.length > 3 ? `${shown.join(', ')} and ${resources.length - 3} more` : shown.join(', ');
}
