import { ReadWriteLockError } from '../base/claim-errors.js';
import { describeResources } from '../base/describe.js';
import type { ReadWriteAcquireStatus } from '../base/outcomes.js';
import type { ReadWriteMode } from '../scripts/read-write-acquire.js';
import { Claim, type ClaimGrant } from './claim.js';

/**
 * Where a {@link ReadWriteHandle} stands: `'held'` while it has validity left; then `'released'`, `'lost'`
 * once an extension found that a quorum of nodes no longer holds it, or `'expired'`.
 */
export type ReadWriteState = 'held' | 'released' | 'lost' | 'expired';

/** What an attempt that won a quorum hands the handle. */
export interface ReadWriteGrant {
  readonly claim: ClaimGrant;
  readonly mode: ReadWriteMode;
  /** Its entry's field on every node. */
  readonly fields: readonly string[];
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
export class ReadWriteHandle extends Claim {
  /** Whether this handle reads (shared) or writes (exclusive). */
  readonly mode: ReadWriteMode;

  /** @internal Made by a read-write lock's acquisitions. */
  constructor(grant: ReadWriteGrant) {
    const { mode } = grant;
    const { resource } = grant.claim;
    super(grant.claim, {
      fields: grant.fields,
      layout: { kind: 'read-write' },
      what: () => describeReadWrite(mode, resource),
      traced: { primitive: 'read-write', mode, permits: 1 },
      errorOf: (message, failure) => new ReadWriteLockError(message, { ...failure, resource, mode }),
    });
    this.mode = mode;
  }

  /** Where the lock stands, read from the monotonic clock now. */
  override get state(): ReadWriteState {
    return super.state;
  }

  /**
   * Node `nodeIndex` answered the request that won this handle (sent at `sentAtMs`), maybe late: an entry
   * it admitted, or a writer's intent it left, is freed there if the handle was released meanwhile (see
   * `Claim.settleFields`).
   * @internal
   */
  settleAnswer(nodeIndex: number, answer: ReadWriteAcquireStatus | undefined, sentAtMs: number): void {
    if (answer === 'admitted') this.settleFields(nodeIndex, [], sentAtMs);
    else if (answer === 'readers-hold') this.settleLeftBehind(nodeIndex);
  }
}
