import { describeResources } from '../base/describe.js';
import { PermitError } from '../base/claim-errors.js';
import { Claim, type ClaimGrant } from './claim.js';

/**
 * Where a {@link Permit} stands: `'held'` while it has validity left; then `'released'`, `'lost'` once an
 * extension found that a quorum of nodes no longer holds it, or `'expired'`.
 */
export type PermitState = 'held' | 'released' | 'lost' | 'expired';

/** What an attempt that won a quorum hands the permit. */
export interface PermitGrant {
  readonly claim: ClaimGrant;
  readonly permits: number;
  /** The slots held on a quorum, in order (see `permitAcquireScript`). */
  readonly slots: readonly number[];
  readonly limit: number;
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
export class Permit extends Claim {
  /** How many permits this handle holds. */
  readonly permits: number;
  /** The semaphore's limit. */
  readonly limit: number;

  /** @internal Made by a semaphore's `acquire()` or `tryAcquire()`. */
  constructor(grant: PermitGrant) {
    const { permits, limit } = grant;
    const { resource } = grant.claim;
    super(grant.claim, {
      fields: grant.slots.map(String),
      layout: { kind: 'semaphore', limit },
      what: () => describePermits(permits, limit, resource),
      traced: { primitive: 'semaphore', mode: undefined, permits },
      errorOf: (message, failure) => new PermitError(message, { ...failure, resource, permits }),
    });
    this.permits = permits;
    this.limit = limit;
  }

  /** Where the permit stands, read from the monotonic clock now. */
  override get state(): PermitState {
    return super.state;
  }

  /**
   * Node `nodeIndex` gave `slots` to the request that won this permit (sent at `sentAtMs`), maybe after the
   * permit was decided: see `Claim.settleFields`.
   * @internal
   */
  settleGrant(nodeIndex: number, slots: readonly number[], sentAtMs: number): void {
    this.settleFields(nodeIndex, slots.map(String), sentAtMs);
  }
}
