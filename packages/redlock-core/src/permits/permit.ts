// A holder's permits of a semaphore: the handle `acquire()` resolves with. What it holds on the nodes, its
// extension and its release are a Claim's, shared with the read-write lock's handle.
import type { ExtensionLimits } from '../acquire/auto-extend.js';
import { describeResources } from '../base/describe.js';
import { PermitError } from '../base/claim-errors.js';
import type { LockLostError } from '../base/errors.js';
import { ASYNC_DISPOSE } from '../base/lifecycle.js';
import type { NodeSet } from '../nodes/node-state.js';
import { Claim } from './claim.js';

/**
 * Where a {@link Permit} stands: `'held'` while it has validity left; then `'released'`, `'lost'` once an
 * extension found that a quorum of nodes no longer holds it, or `'expired'`.
 */
export type PermitState = 'held' | 'released' | 'lost' | 'expired';

/** What an attempt that won a quorum hands the permit. */
export interface PermitGrant {
  readonly set: NodeSet;
  readonly resource: string;
  readonly key: string;
  readonly token: string;
  readonly permits: number;
  /** The slots held on a quorum, in order (see `permitAcquireScript`). */
  readonly slots: readonly number[];
  readonly limit: number;
  /** The request's intent id (see `permitIntentOf`), freed with the permits; `''` for none. */
  readonly alsoFrees: string;
  readonly attempts: number;
  readonly ttlMs: number;
  /** Monotonic time when the validity ends. */
  readonly validUntil: number;
  /** Wall-clock time when the validity ends. */
  readonly expiresAt: number;
  /** Monotonic time after which the permits have expired on every node anyway. */
  readonly keysExpireAt: number;
  /** Whether each node was sent the request, by node index: those the release goes to. */
  readonly written: boolean[];
}

/** How messages name `permits` permits of a semaphore: `2 of 3 permits of "imports"`. */
export function describePermits(permits: number, limit: number, resource: string): string {
  return `${permits} of ${limit} permits of ${describeResources([resource])}`;
}

/**
 * `permits` permits of a semaphore, held on a quorum of nodes until `remainingValidityMs` runs out.
 *
 * held ──extend()──▶ held · held ──release()──▶ released · held ──extend() finds it gone──▶ lost ·
 * held ──validity runs out──▶ expired
 *
 * Only a held permit can be extended; `release()` is safe in any state and always removes what is left on
 * the nodes. `await using permit = await semaphore.acquire(…)` releases it at the end of the block.
 */
export class Permit {
  /** The semaphore's resource, without the key prefix. */
  readonly resource: string;
  /** How many permits this handle holds. */
  readonly permits: number;
  /** The semaphore's limit. */
  readonly limit: number;
  /** Which attempt of the call won them, from 1. */
  readonly attempts: number;
  readonly #claim: Claim;

  /** @internal Made by a semaphore's `acquire()` or `tryAcquire()`. */
  constructor(grant: PermitGrant) {
    this.resource = grant.resource;
    this.permits = grant.permits;
    this.limit = grant.limit;
    this.attempts = grant.attempts;
    const { resource, permits } = grant;
    this.#claim = new Claim({
      ...grant,
      fields: grant.slots.map(String),
      layout: { kind: 'semaphore', limit: grant.limit },
      what: describePermits(grant.permits, grant.limit, grant.resource),
      isPlural: true,
      traced: { primitive: 'semaphore', mode: undefined, permits },
      errorOf: (operation, reason, why, nodes) => {
        const what = operation === 'extend' ? 'extend' : 'confirm the release of';
        return new PermitError(`Could not ${what} ${this.#claim.what}: ${why}`, { operation, resource, permits, reason, nodes });
      },
    });
  }

  /** Where the permit stands, read from the monotonic clock now. */
  get state(): PermitState {
    return this.#claim.state;
  }

  /**
   * Wall-clock time, in milliseconds since the epoch, at which validity ends (see `Lock.expiresAt`): for
   * display and logs; decide with `remainingValidityMs`, `state` or {@link assertValid}.
   */
  get expiresAt(): number {
    return this.#claim.expiresAt;
  }

  /** Milliseconds of validity left: how long the permits may still be relied on; 0 once not held. */
  get remainingValidityMs(): number {
    return this.#claim.remainingValidityMs;
  }

  /**
   * Aborts when the permits should no longer be relied on, as `lock.signal` does for a lock: with a
   * {@link LockLostError} when they are found lost or their validity ran out, a {@link LockLimitError}
   * when `autoExtend` stops at a limit, a {@link RedlockClosedError} at `redlock.close()`; not on
   * `release()`. Made on first read; its timer is unref'd and cleared on release.
   */
  get signal(): AbortSignal {
    return this.#claim.signal;
  }

  /** How messages name these permits (see {@link describePermits}). @internal */
  get what(): string {
    return this.#claim.what;
  }

  /**
   * The semaphore's resource, as a one-element list: what automatic extension and the
   * `redlock-core.lock.lost` channel report.
   * @internal
   */
  get resources(): readonly string[] {
    return this.#claim.resources;
  }

  /**
   * Throws unless the permits are held at this very moment, by the monotonic clock: call it right before
   * each action they guard (see `Lock.assertValid`).
   *
   * @throws {@link LockLostError} if the permits are released, lost or expired.
   */
  assertValid(): void {
    this.#claim.assertValid();
  }

  /** See `Lock.lossBeforeRelease`. @internal */
  lossBeforeRelease(): LockLostError | undefined {
    return this.#claim.lossBeforeRelease();
  }

  /**
   * Extends the permits to `ttlMs` from now on every node, and resolves once a quorum did with validity
   * left. A node extends only permits that it still holds unexpired, so an extension can never revive a
   * permit another holder may have taken since. A `ttlMs` shorter than the validity left shortens it from
   * the call on, whatever the outcome: any node may have run it.
   *
   * @throws {@link PermitError} (`operation` `'extend'`): `'not-held'` when the permit is released, lost or
   *   expired (before any node is called), or when a quorum no longer holds it (`isLost`: it is `'lost'`
   *   then); `'nodes-unreachable'` or `'no-validity'` otherwise. {@link RedlockClosedError} once
   *   `redlock.close()` was called. `TypeError` or `RangeError` for a bad `ttlMs`. All but a quorum's
   *   answer before any node is called.
   */
  extend(ttlMs: number): Promise<void> {
    return this.#claim.extend(ttlMs);
  }

  /**
   * Releases the permits on every node that was asked for them, announcing it to waiters, and resolves once
   * a quorum confirmed (the others finish in the background, a failed node is sent it again until the
   * permits would have expired). It stops the automatic extension (`autoExtend`) at once. Calling it again
   * returns the same promise, or retries after a failure.
   *
   * @throws {@link PermitError} (`operation` `'release'`, `'nodes-unreachable'`) when fewer than a quorum
   *   answered; the permits then expire after their TTL.
   */
  release(): Promise<void> {
    return this.#claim.release();
  }

  /** Releases the permits at the end of an `await using` block: see {@link release}. */
  [ASYNC_DISPOSE](): Promise<void> {
    return this.release();
  }

  /**
   * Keeps the permits extended by `ttlMs` within `limits` until they are released, the extension stops on
   * its own (its reason then aborts {@link signal}), or the `Redlock` closes: `acquire()`'s `autoExtend`.
   * @internal
   */
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
   * Node `nodeIndex` gave `slots` to the request that won this permit, maybe after the permit was decided:
   * see `Claim.settleGrant`.
   * @internal
   */
  settleGrant(nodeIndex: number, slots: readonly number[]): void {
    this.#claim.settleGrant(nodeIndex, slots.map(String));
  }

  /**
   * Node `nodeIndex` had too few free for the request that won this permit, maybe after the permit was
   * decided, and may have left its intent there: see `Claim.settleLeftBehind`.
   * @internal
   */
  settleLeftBehind(nodeIndex: number): void {
    this.#claim.settleLeftBehind(nodeIndex);
  }

  /** Sends the release to every node: earlier attempts may have left the request's intent where the winning one did not ask. @internal */
  releaseOnEveryNode(): void {
    this.#claim.releaseOnEveryNode();
  }
}
