// A held read-write lock, for reading or for writing: the handle its acquisitions resolve with. What it holds
// on the nodes, its extension and its release are a Claim's, as a semaphore's permits are.
import type { ExtensionLimits } from '../acquire/auto-extend.js';
import { ReadWriteLockError } from '../base/claim-errors.js';
import { describeResources } from '../base/describe.js';
import type { LockLostError } from '../base/errors.js';
import { ASYNC_DISPOSE } from '../base/lifecycle.js';
import type { NodeSet } from '../nodes/node-state.js';
import type { ReadWriteAcquireStatus } from '../base/outcomes.js';
import type { ReadWriteMode } from '../scripts/read-write-acquire.js';
import { Claim } from './claim.js';

/**
 * Where a {@link ReadWriteHandle} stands: `'held'` while it has validity left; then `'released'`, `'lost'`
 * once an extension found that a quorum of nodes no longer holds it, or `'expired'`.
 */
export type ReadWriteState = 'held' | 'released' | 'lost' | 'expired';

/** What an attempt that won a quorum hands the handle. */
export interface ReadWriteGrant {
  readonly set: NodeSet;
  readonly resource: string;
  readonly key: string;
  readonly token: string;
  readonly mode: ReadWriteMode;
  /** Its entry's field on every node. */
  readonly fields: readonly string[];
  /** The writer's intent id, freed with the lock; `''` for a reader. */
  readonly alsoFrees: string;
  readonly attempts: number;
  readonly ttlMs: number;
  /** Monotonic time when the validity ends. */
  readonly validUntil: number;
  /** Wall-clock time when the validity ends. */
  readonly expiresAt: number;
  /** Monotonic time after which the entry has expired on every node anyway. */
  readonly keysExpireAt: number;
  /** Whether each node was sent the request, by node index: those the release goes to. */
  readonly written: boolean[];
}

/** How messages name a read-write lock held in `mode`: `the write lock on "catalog"`. */
export function describeReadWrite(mode: ReadWriteMode, resource: string): string {
  return `the ${mode} lock on ${describeResources([resource])}`;
}

/**
 * A read-write lock held for reading (shared with other readers) or for writing (alone), on a quorum of
 * nodes until `remainingValidityMs` runs out.
 *
 * held ──extend()──▶ held · held ──release()──▶ released · held ──extend() finds it gone──▶ lost ·
 * held ──validity runs out──▶ expired
 *
 * Only a held lock can be extended; `release()` is safe in any state and always removes what is left on
 * the nodes. `await using held = await catalog.acquireRead(…)` releases it at the end of the block.
 */
export class ReadWriteHandle {
  /** The lock's resource, without the key prefix. */
  readonly resource: string;
  /** Whether this handle reads (shared) or writes (exclusive). */
  readonly mode: ReadWriteMode;
  /** Which attempt of the call won it, from 1. */
  readonly attempts: number;
  readonly #claim: Claim;

  /** @internal Made by a read-write lock's acquisitions. */
  constructor(grant: ReadWriteGrant) {
    this.resource = grant.resource;
    this.mode = grant.mode;
    this.attempts = grant.attempts;
    const { resource, mode } = grant;
    this.#claim = new Claim({
      ...grant,
      layout: { kind: 'read-write' },
      what: describeReadWrite(mode, resource),
      isPlural: false,
      traced: { primitive: 'read-write', mode, permits: 1 },
      errorOf: (operation, reason, why, nodes) => {
        const what = operation === 'extend' ? 'extend' : 'confirm the release of';
        return new ReadWriteLockError(`Could not ${what} ${this.#claim.what}: ${why}`, { operation, resource, mode, reason, nodes });
      },
    });
  }

  /** Where the lock stands, read from the monotonic clock now. */
  get state(): ReadWriteState {
    return this.#claim.state;
  }

  /**
   * Wall-clock time, in milliseconds since the epoch, at which validity ends (see `Lock.expiresAt`): for
   * display and logs; decide with `remainingValidityMs`, `state` or {@link assertValid}.
   */
  get expiresAt(): number {
    return this.#claim.expiresAt;
  }

  /** Milliseconds of validity left: how long the lock may still be relied on; 0 once not held. */
  get remainingValidityMs(): number {
    return this.#claim.remainingValidityMs;
  }

  /**
   * Aborts when the lock should no longer be relied on, as `lock.signal` does: with a
   * {@link LockLostError} when it is found lost or its validity ran out, a {@link LockLimitError} when
   * `autoExtend` stops at a limit, a {@link RedlockClosedError} at `redlock.close()`; not on `release()`.
   * Made on first read; its timer is unref'd and cleared on release.
   */
  get signal(): AbortSignal {
    return this.#claim.signal;
  }

  /** How messages name this lock (see {@link describeReadWrite}). @internal */
  get what(): string {
    return this.#claim.what;
  }

  /** The resource, as a one-element list: what automatic extension and `redlock-core.lock.lost` report. @internal */
  get resources(): readonly string[] {
    return this.#claim.resources;
  }

  /**
   * Throws unless the lock is held at this very moment, by the monotonic clock: call it right before each
   * action it guards (see `Lock.assertValid`).
   *
   * @throws {@link LockLostError} if the lock is released, lost or expired.
   */
  assertValid(): void {
    this.#claim.assertValid();
  }

  /** See `Lock.lossBeforeRelease`. @internal */
  lossBeforeRelease(): LockLostError | undefined {
    return this.#claim.lossBeforeRelease();
  }

  /**
   * Extends the lock to `ttlMs` from now on every node, and resolves once a quorum did with validity left.
   * A node extends only an entry that it still holds unexpired, so an extension never revives a lock that
   * ran out (and that a writer may have taken since). A reader's extension is not refused by a waiting
   * writer: readers already holding may finish. A `ttlMs` shorter than the validity left shortens it from
   * the call on, whatever the outcome: any node may have run it.
   *
   * @throws {@link ReadWriteLockError} (`operation` `'extend'`): `'not-held'` when the lock is released,
   *   lost or expired (before any node is called), or when a quorum no longer holds it (`isLost`: it is
   *   `'lost'` then); `'nodes-unreachable'` or `'no-validity'` otherwise. {@link RedlockClosedError} once
   *   `redlock.close()` was called. `TypeError` or `RangeError` for a bad `ttlMs`, before any node is called.
   */
  extend(ttlMs: number): Promise<void> {
    return this.#claim.extend(ttlMs);
  }

  /**
   * Releases the lock on every node that was asked for it (a writer's intent with it), announcing it to
   * waiters, and resolves once a quorum confirmed (the others finish in the background, a failed node is
   * sent it again until the entry would have expired). It stops the automatic extension at once. Calling
   * it again returns the same promise, or retries after a failure.
   *
   * @throws {@link ReadWriteLockError} (`operation` `'release'`, `'nodes-unreachable'`) when fewer than a
   *   quorum answered; the lock then expires after its TTL.
   */
  release(): Promise<void> {
    return this.#claim.release();
  }

  /** Releases the lock at the end of an `await using` block: see {@link release}. */
  [ASYNC_DISPOSE](): Promise<void> {
    return this.release();
  }

  /** Keeps the lock extended by `ttlMs` within `limits` until it is released: the acquisitions' `autoExtend`. @internal */
  keepExtended(ttlMs: number, limits: ExtensionLimits): void {
    this.#claim.keepExtended(this, ttlMs, limits);
  }

  /** See `Lock.afterRelease`. @internal */
  afterRelease(callback: () => void): void {
    this.#claim.afterRelease(callback);
  }

  /** See `Lock.onLost`. @internal */
  onLost(listener: (error: LockLostError) => void): () => void {
    return this.#claim.onLost(listener);
  }

  /** See `Lock.onEarlierEnd`. @internal */
  onEarlierEnd(listener: () => void): () => void {
    return this.#claim.onEarlierEnd(listener);
  }

  /** See `Lock.publishLoss`. @internal */
  publishLoss(reason: 'quorum-lost' | 'validity-ran-out', error: LockLostError): void {
    this.#claim.publishLoss(reason, error);
  }

  /**
   * Node `nodeIndex` answered the request that won this handle, maybe late: an entry it admitted, or a
   * writer's intent it left, is freed there if the handle was released meanwhile (see `Claim.settleGrant`).
   * @internal
   */
  settleAnswer(nodeIndex: number, answer: ReadWriteAcquireStatus | undefined): void {
    if (answer === 'admitted') this.#claim.settleGrant(nodeIndex, []);
    else if (answer === 'readers-hold') this.#claim.settleLeftBehind(nodeIndex);
  }

  /** Makes the release reach every node: earlier attempts of a writer may have left its intent where the winning one did not ask. @internal */
  releaseOnEveryNode(): void {
    this.#claim.releaseOnEveryNode();
  }
}
