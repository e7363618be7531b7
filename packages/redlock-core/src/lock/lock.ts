// The handle a caller holds: its state, its signal, extend() and release(). The state shared by re-entrant
// handles is the Hold (hold.ts); the node calls of extend and release are in extend.ts and release.ts.
import { untilAborted } from '../base/abort-listeners.js';
import { validityMs } from '../base/clock.js';
import { atCaller, closedErrorOf, LockExtendError, LockLostError, type RedlockClosedError } from '../base/errors.js';
import { defineAsyncDispose } from '../base/lifecycle.js';
import type { AcquireNodeOutcome, ExtendNodeOutcome, PendingNodeOutcome, ReleaseResult } from '../base/outcomes.js';
import type { NodeSet } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { MAX_LABEL_LENGTH } from '../scripts/label.js';
import { checkAcquireTtl } from '../settings/ttl.js';
import { checkType } from '../settings/value-checks.js';
import { extendTraced, fillIn, lockExtensionOf } from './extend.js';
import { HoldHandle } from './handle.js';
import { Hold, type HoldInit } from './hold.js';
import { inspectLock } from './log-view.js';
import { releaseTraced, removeLateGrant } from './release.js';

/** The state of a {@link Lock}. */
export type LockState = 'held' | 'released' | 'expired' | 'lost';

/** `await using` of a lock (see `defineAsyncDispose`). */
export interface Lock {
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
export class Lock extends HoldHandle {
  /** The locked resources as given to `acquire()`, without the key prefix; a re-entrant handle has the lock's, all of them. */
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
   * {@link NodeError}, …); `'pending'` for a node that had not answered yet. Tells which nodes failed
   * and how, even when the lock was acquired; no token in it. A re-entrant handle shows its hold's.
   */
  get nodes(): readonly (AcquireNodeOutcome | PendingNodeOutcome)[] {
    return this.#hold.nodes;
  }

  /**
   * Each node's outcome in the extension that set the lock's current validity, by node index, as known
   * when its quorum was reached: `'extended'`, `'missing'` (our keys were gone there), `'not-held'`, or
   * `'timeout'` or `'error'` with its {@link NodeError}; `'pending'` for a node that had not answered yet;
   * `undefined` before any extension was applied. As {@link nodes} for the acquisition.
   */
  get extensionNodes(): readonly (ExtendNodeOutcome | PendingNodeOutcome)[] | undefined {
    return this.#hold.extensionNodes;
  }

  readonly #token: string;
  readonly #hold: Hold;
  /** Whether this handle was released (the keys go with the last handle). */
  #isReleased = false;
  /** Its state when `release()` let go while other handles held on (see {@link lossBeforeRelease}). */
  #stateAtRelease: LockState | undefined;
  /** What `release()` resolved with when this handle let go while other handles still held the lock. */
  #letGo: Promise<ReleaseResult> | undefined;
  /** @internal */
  constructor(init: HoldInit & { readonly attempts: number; readonly fencingToken: number | undefined }, sharedHold?: Hold) {
    super();
    this.resources = init.resources;
    this.#token = init.token;
    this.attempts = init.attempts;
    this.fencingToken = init.fencingToken;
    this.#hold = sharedHold ?? new Hold(init);
  }

  /** @internal */
  protected override get hold(): Hold {
    return this.#hold;
  }

  /**
   * Milliseconds of validity left, measured on the monotonic clock now, with its fraction (round it down to
   * print it: `console.log(lock)` does); 0 once expired, released or lost.
   */
  override get remainingValidityMs(): number {
    const hold = this.#hold;
    if (this.#isReleased || hold.isReleased || hold.lostBecause !== undefined) return 0;
    return Math.max(0, hold.validUntil - hold.set.options.clock.now());
  }

  /**
   * `'held'` while validity remains; `'released'` once `release()` was called; `'lost'` once an extension
   * found that a quorum of nodes no longer holds our token; else `'expired'`. Read on the monotonic clock
   * at each access, so it is right even just after the event loop stalled.
   */
  get state(): LockState {
    // A hold is released only with its last handle, so an unreleased handle's hold is not.
    return this.#isReleased ? 'released' : this.#hold.stateAt(this.#hold.set.options.clock.now());
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
    if (state !== 'held') throw this.#lossError(state, 'is');
  }

  /**
   * The loss of a lock that expired or was found lost before this handle was released, which `using()`
   * reports though its routine released the lock itself; `undefined` if it was held then, or not released.
   * @internal
   */
  lossBeforeRelease(): LockLostError | undefined {
    if (!this.#isReleased) return undefined;
    const { releasedAtMs } = this.#hold;
    const state = this.#stateAtRelease ?? (releasedAtMs === undefined ? undefined : this.#hold.stateAt(releasedAtMs));
    return state === 'expired' || state === 'lost' ? this.#lossError(state, 'was', ' when it was released') : undefined;
  }

  #lossError(state: LockState, verb: 'is' | 'was', when = ''): LockLostError {
    const cause = state === 'lost' ? this.#hold.lostBecause?.cause : undefined;
    return new LockLostError(`The lock on ${this.#hold.describe()} ${verb} ${state}${when}`, { resources: this.resources, cause });
  }


  /**
   * Whether `value` is a lock handed out by a `Redlock`: a brand check on a private field, since an
   * object made with `Object.create(Lock.prototype)` (or a spread copy of a lock) passes `instanceof`
   * but has none of a lock's state.
   * @internal
   */
  static isLock(value: unknown): value is Lock {
    return typeof value === 'object' && value !== null && #token in value;
  }

  /** Whether this lock was handed out by the `Redlock` of `set`. @internal */
  isOf(set: NodeSet): boolean {
    return this.#hold.set === set;
  }

  /** Whether this lock was handed out by the `Redlock` of `set` and covers `keys`. @internal */
  covers(set: NodeSet, keys: readonly string[]): boolean {
    const hold = this.#hold;
    if (set !== hold.set) return false;
    if (keys.length === 1) return hold.keys.includes(keys[0] as string);
    const own = new Set(hold.keys);
    return keys.every((key) => own.has(key));
  }

  /** The {@link LockExtendError} (`isLost`) of `operation` on a lock not held: thrown before any node is called. */
  #notHeldError(operation: 'extend' | 're-enter', why = `is already ${this.state}`): LockExtendError {
    return new LockExtendError(`Could not ${operation} ${this.#hold.describe()}: the lock ${why}`, { resources: this.resources, nodes: [], isLost: true });
  }

  /**
   * Another handle on this lock's hold, for a re-entrant acquisition by the same owner: it extends the
   * hold first if `ttlMs` asks for more validity than is left, and shares the keys, token, validity and
   * extensions; the keys are released with the last handle. Rejects with `signal.reason` once `signal`
   * aborts before that extension agreed.
   * @internal
   */
  async reenter(ttlMs: number, signal: AbortSignal | undefined): Promise<Lock> {
    const hold = this.#hold;
    if (this.state !== 'held') throw this.#notHeldError('re-enter');
    // Never shorten the hold: PEXPIRE would cut the keys' TTL to `ttlMs` from now.
    if (validityMs({ ttlMs, elapsedMs: 0, driftFactor: hold.set.options.driftFactor }) > this.remainingValidityMs) {
      // The call's wait bounds it as any acquisition's; the extension runs on for the hold's other handles.
      await (signal === undefined ? this.#extend(ttlMs) : untilAborted(this.#extend(ttlMs), signal));
    }
    if (hold.isReleased) throw this.#notHeldError('re-enter', 'was released meanwhile');
    hold.holders += 1;
    return new Lock({ ...hold, attempts: 0, fencingToken: this.fencingToken }, hold);
  }

  /**
   * Sets the TTL of every key to `ttlMs` again on every node that still holds our token. Succeeds like an
   * acquisition: a quorum must agree, and validity (`ttlMs` − elapsed − drift, measured from the start of
   * this call) must remain. Resolves with this lock, whose `expiresAt` has moved. A `ttlMs` shorter than the
   * validity left shortens it from the call on, whatever the outcome: any node may have run it.
   *
   * @param ttlMs - The new time to live, in milliseconds, counted from now; one under `shortTtlMs` (1,000
   *   by default) warns once, as for `acquire()`.
   * @throws {@link LockExtendError} if the lock is released, lost or expired (no node is asked then), if no
   *   quorum holds our token any more (`isLost`: the lock's `state` becomes `'lost'` then), or if nodes
   *   failed to answer; at the latest when the validity ends, whatever the node timeouts, as waiting longer
   *   cannot keep the lock.
   * @throws {@link RedlockClosedError} once `redlock.close()` was called, before any node is called.
   * @throws `TypeError` or `RangeError` for a bad `ttlMs`, before any node is called: as for `acquire()`,
   *   one that leaves no more validity than a node timeout (seconds written as milliseconds, as a rule).
   */
  async extend(ttlMs: number): Promise<Lock> {
    const { set, keys } = this.#hold;
    checkAcquireTtl(ttlMs, set.nodes, set.options, quorumOf(set.nodes.length), keys.length);
    try {
      return await this.#extend(ttlMs);
    } catch (error) {
      throw atCaller(error, Lock.prototype.extend);
    }
  }

  /** {@link extend} of a checked `ttlMs` (a re-entry's was checked as its call's). */
  async #extend(ttlMs: number): Promise<Lock> {
    const hold = this.#hold;
    if (hold.set.lifecycle.isClosed) throw closedErrorOf('extend', this.resources);
    if (this.state !== 'held') throw this.#notHeldError('extend');
    await extendTraced(hold, this.resources, ttlMs, () => this.remainingValidityMs, this.fencingToken);
    return this;
  }

  /**
   * Labels the lock: public words on who holds it (a host name, a URL; never a secret), which
   * `redlock.inspect()` reports while this lock holds, and whose changes each node announces to
   * `redlock.watchLabel()`. It is an extension to the lock's TTL that also writes the label on each node,
   * where our token is still there; every later extension keeps it, and it ends with the lock. `''` clears
   * it. Resolves with this lock.
   *
   * When it rejects, the lock keeps the label it had before for later extensions, which write that one
   * again: a node that took the rejected label keeps it until that extension, or until it expires.
   *
   * @throws {@link LockExtendError} and {@link RedlockClosedError} as {@link extend} does; `TypeError` or
   *   `RangeError` for a label that is not a string of at most 1,024 characters, before any node is called.
   */
  async setLabel(label: string): Promise<Lock> {
    checkType('label', label, 'string');
    if (label.length > MAX_LABEL_LENGTH) throw new RangeError(`Expected \`label\` to be at most ${MAX_LABEL_LENGTH} characters, got ${label.length}`);
    const hold = this.#hold;
    const before = hold.label;
    hold.label = label;
    try {
      return await this.#extend(hold.ttlMs);
    } catch (error) {
      // A label the nodes refused is not sent again by every later extension (one that cannot be written,
      // as a key in another cluster slot could not, would fail them all); unless a later call changed it.
      if (hold.label === label) hold.label = before;
      throw error;
    }
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
    // A handle that let go while others held the lock: its first result, however the hold went on since.
    if (this.#letGo !== undefined) return this.#letGo;
    if (!this.#isReleased) {
      this.#isReleased = true;
      hold.holders -= 1;
      this.letGoOfExtension();
      // Letting go alone: no release is sent, whose start would tell the state it let go in.
      if (hold.holders > 0) this.#stateAtRelease = hold.stateAt(hold.set.options.clock.now());
    }
    if (hold.holders > 0) {
      hold.unwatchCloseWhenIdle();
      this.#letGo = Promise.resolve({ nodes: [], releasedCount: 0, holders: hold.holders, settled: Promise.resolve([]) });
      return this.#letGo;
    }
    hold.markReleased();
    // A failed release is forgotten (see releaseOnEveryNode), so that calling release() again retries.
    hold.release ??= releaseTraced(hold, this.resources);
    return hold.release;
  }

  /** A node that had not answered when this lock was granted set our keys later: see `removeLateGrant` (release.ts). @internal */
  removeLateGrant(nodeIndex: number): void {
    removeLateGrant(this.#hold, nodeIndex);
  }

  /** Node `nodeIndex` refused this lock at its acquisition: see `fillIn` (extend.ts). @internal */
  fillInWhenFree(nodeIndex: number): void {
    const hold = this.#hold;
    const { fencingToken } = this;
    fillIn(hold, nodeIndex, (ttlMs) => lockExtensionOf(hold, ttlMs, fencingToken));
  }
}

// What `util.inspect()` and `console.log()` show of a lock, with the token redacted.
Object.defineProperty(Lock.prototype, Symbol.for('nodejs.util.inspect.custom'), { value: inspectLock, writable: true, configurable: true });
defineAsyncDispose(Lock.prototype, async function () {
  await this.release();
});
