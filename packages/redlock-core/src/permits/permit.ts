// A holder's permits of a semaphore: the handle `acquire()` resolves with, its extension and its release.
// What it holds (validity, loss, signal, what close() stops) is a Hold, as a lock's is.
import { type ExtensionLimits, keepExtended } from '../acquire/auto-extend.js';
import { validityMs } from '../base/clock.js';
import { describeResources } from '../base/describe.js';
import { closedErrorOf, LockLostError, PermitError } from '../base/errors.js';
import { ASYNC_DISPOSE } from '../base/lifecycle.js';
import { countByStatus, describeOutcomes, type NodeOutcome, type ReleaseNodeOutcome } from '../base/outcomes.js';
import { type Release, releaseAndRetry, type ReleaseStatus, sendAgainAfterError } from '../lock/cleanup.js';
import { type HandleExtension, Hold } from '../lock/hold.js';
import { FanOut } from '../nodes/fan-out.js';
import type { NodeCallRun } from '../nodes/node-call.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { parsePermitExtendReply, type PermitExtendStatus, permitExtendScript } from '../scripts/permit-extend.js';
import { parsePermitReleaseReply, permitReleaseScript, quietPermitReleaseScript } from '../scripts/permit-release.js';
import { checkTtl } from '../settings/ttl.js';

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
 * The call a permit's release or cleanup runs on one node: the permit-release script, announced or not,
 * freeing every slot of `token` there but `kept`.
 */
export function permitReleaseRunOf(key: string, token: string, announce: boolean, kept: readonly number[]): NodeCallRun<ReleaseStatus> {
  const reader = new ScriptReader(announce ? permitReleaseScript : quietPermitReleaseScript, [key], [token, ...kept.map(String)], parsePermitReleaseReply);
  return (adapter) => reader.send(adapter);
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
  readonly #hold: Hold;
  readonly #key: string;
  readonly #slots: readonly number[];
  /** The automatic extension (`autoExtend`), while it runs. */
  #extension: HandleExtension | undefined;
  #releasing: Promise<void> | undefined;

  /** @internal Made by a semaphore's `acquire()` or `tryAcquire()`. */
  constructor(grant: PermitGrant) {
    this.resource = grant.resource;
    this.permits = grant.permits;
    this.limit = grant.limit;
    this.attempts = grant.attempts;
    this.#key = grant.key;
    this.#slots = grant.slots;
    this.#hold = new Hold({
      set: grant.set,
      resources: [grant.resource],
      keys: [grant.key],
      token: grant.token,
      ttlMs: grant.ttlMs,
      validUntil: grant.validUntil,
      keysExpireAt: grant.keysExpireAt,
      expiresAt: grant.expiresAt,
      written: grant.written,
      leadNodeIndex: undefined,
      nodes: [],
      what: describePermits(grant.permits, grant.limit, grant.resource),
    });
  }

  /** Where the permit stands, read from the monotonic clock now. */
  get state(): PermitState {
    const hold = this.#hold;
    if (hold.isReleased) return 'released';
    if (hold.lostBecause !== undefined) return 'lost';
    return hold.validUntil <= hold.set.options.clock.now() ? 'expired' : 'held';
  }

  /**
   * Wall-clock time, in milliseconds since the epoch, at which validity ends (see `Lock.expiresAt`): for
   * display and logs; decide with `remainingValidityMs`, `state` or {@link assertValid}.
   */
  get expiresAt(): number {
    return this.#hold.expiresAt;
  }

  /** Milliseconds of validity left: how long the permits may still be relied on; 0 once not held. */
  get remainingValidityMs(): number {
    return this.state === 'held' ? Math.max(0, this.#hold.validUntil - this.#hold.set.options.clock.now()) : 0;
  }

  /**
   * Aborts when the permits should no longer be relied on, as `lock.signal` does for a lock: with a
   * {@link LockLostError} when they are found lost or their validity ran out, a {@link LockLimitError}
   * when `autoExtend` stops at a limit, a {@link RedlockClosedError} at `redlock.close()`; not on
   * `release()`. Made on first read; its timer is unref'd and cleared on release.
   */
  get signal(): AbortSignal {
    return this.#hold.signal;
  }

  /** How messages name these permits (see {@link describePermits}). @internal */
  get what(): string {
    return this.#hold.what;
  }

  /**
   * The semaphore's resource, as a one-element list: what automatic extension and the
   * `redlock-core.lock.lost` channel report.
   * @internal
   */
  get resources(): readonly string[] {
    return this.#hold.resources;
  }

  /**
   * Throws unless the permits are held at this very moment, by the monotonic clock: call it right before
   * each action they guard (see `Lock.assertValid`).
   *
   * @throws {@link LockLostError} if the permits are released, lost or expired.
   */
  assertValid(): void {
    const state = this.state;
    if (state === 'held') return;
    throw new LockLostError(`${this.#hold.what} are ${state}`, { resources: this.resources, cause: this.#hold.lostBecause?.cause });
  }

  /**
   * Extends the permits to `ttlMs` from now on every node, and resolves once a quorum did with validity
   * left. A node extends only permits that it still holds unexpired, so an extension can never revive a
   * permit another holder may have taken since.
   *
   * @throws {@link PermitError} (`operation` `'extend'`): `'not-held'` when the permit is released, lost or
   *   expired (before any node is called), or when a quorum no longer holds it (`isLost`: it is `'lost'`
   *   then); `'nodes-unreachable'` or `'no-validity'` otherwise. {@link RedlockClosedError} once
   *   `redlock.close()` was called. `TypeError` or `RangeError` for a bad `ttlMs`. All but a quorum's
   *   answer before any node is called.
   */
  async extend(ttlMs: number): Promise<void> {
    const hold = this.#hold;
    const { set, token } = hold;
    const { clock, driftFactor } = set.options;
    checkTtl(ttlMs, driftFactor);
    if (set.lifecycle.isClosed) throw closedErrorOf('extend', [this.resource]);
    if (this.state !== 'held') throw this.#error('extend', 'not-held', `it is ${this.state}`);
    const start = clock.now();
    const wallStart = clock.wallNow();
    const reader = new ScriptReader(permitExtendScript, [this.#key], [token, String(ttlMs), ...this.#slots.map(String)], parsePermitExtendReply);
    const calls = new FanOut<PermitExtendStatus>(set, 'extend', 'extended').sendToEveryNode(ttlMs, 1, (adapter) => reader.send(adapter), start);
    const hasQuorum = await calls.decided();
    const elapsedMs = clock.now() - start;
    const validity = validityMs({ ttlMs, elapsedMs, driftFactor });
    if (hasQuorum && validity > 0 && !hold.isReleased) {
      // Validity is what is left now, at the decision: it runs from here, not from the start.
      if (start + elapsedMs + validity > hold.validUntil) {
        hold.validUntil = start + elapsedMs + validity;
        hold.expiresAt = Math.floor(wallStart + elapsedMs + validity);
      }
      hold.keysExpireAt = Math.max(hold.keysExpireAt, start + elapsedMs + ttlMs);
      hold.ttlMs = ttlMs;
      return;
    }
    const nodes = await calls.allSettled();
    const quorum = quorumOf(nodes.length);
    if ((countByStatus(nodes)['not-held'] ?? 0) > nodes.length - quorum) {
      const error = this.#error('extend', 'not-held', `${describeOutcomes(nodes)}, quorum is ${quorum}`, nodes);
      hold.markLost(new LockLostError(`Lost ${hold.what}: a quorum of nodes no longer holds our token`, { resources: this.resources, cause: error }));
      throw error;
    }
    const why = hasQuorum ? `no validity left after ${Math.round(elapsedMs)} ms` : `${describeOutcomes(nodes)}, quorum is ${quorum}`;
    throw this.#error('extend', hasQuorum ? 'no-validity' : 'nodes-unreachable', why, nodes);
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
    if (this.#extension !== undefined) this.#hold.letGoOf(this.#extension);
    this.#extension = undefined;
    return (this.#releasing ??= this.#releaseOnEveryNode());
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
    const hold = this.#hold;
    if (this.state !== 'held' || this.#extension !== undefined) return;
    const { clock } = hold.set.options;
    this.#extension = hold.keepHandleExtended(
      (onStop) => keepExtended(this, ttlMs, clock, limits, onStop, hold.what),
      (extension) => {
        if (this.#extension === extension) this.#extension = undefined;
      },
    );
  }


  /** See `Lock.onLost`. @internal */
  onLost(listener: (error: LockLostError) => void): () => void {
    return this.#hold.onLost(listener);
  }

  /** See `Lock.publishLoss`. @internal */
  publishLoss(reason: 'quorum-lost' | 'validity-ran-out', error: LockLostError): void {
    this.#hold.publishLoss(reason, error);
  }

  /**
   * Node `nodeIndex` gave `slots` to the request that won this permit, maybe after the permit was decided.
   * Slots other than the permit's are freed there at once; all of them, if the permit is released already
   * (its release may have reached that node first).
   * @internal
   */
  settleGrant(nodeIndex: number, slots: readonly number[]): void {
    const hold = this.#hold;
    hold.written[nodeIndex] = true;
    const isReleased = hold.isReleased;
    if (!isReleased && slots.every((slot) => this.#slots.includes(slot))) return;
    void releaseAndRetry(hold.set, nodeIndex, { ...this.#releaseOf(false), run: permitReleaseRunOf(this.#key, hold.token, false, isReleased ? [] : this.#slots) });
  }

  async #releaseOnEveryNode(): Promise<void> {
    const hold = this.#hold;
    const { set, written } = hold;
    const release = this.#releaseOf(true, 0);
    const calls = new FanOut<ReleaseStatus>(set, 'release', ['released', 'not-held'], true);
    calls.listen((outcome) => {
      if (release.confirmedCount !== undefined && (outcome.status === 'released' || outcome.status === 'not-held')) release.confirmedCount += 1;
      sendAgainAfterError(set, release, outcome);
    });
    const startedAtMs = set.options.clock.now();
    for (let nodeIndex = 0; nodeIndex < set.nodes.length; nodeIndex += 1) {
      const node = set.nodes[nodeIndex] as NodeState;
      // Nothing was written on a node that was never sent the request (it was known down).
      if (written[nodeIndex] !== true) calls.skip(nodeIndex, node.answerOf<ReleaseStatus>('not-held'));
      else calls.send(nodeIndex, nodeTimeoutMsFor(node, set.options, hold.ttlMs), release.run as NodeCallRun<ReleaseStatus>, 'cleanup', startedAtMs);
    }
    hold.markReleased();
    if (await calls.decided()) return;
    const nodes: ReleaseNodeOutcome[] = await calls.allSettled();
    // Forgotten, so that calling release() again retries.
    this.#releasing = undefined;
    throw this.#error('release', 'nodes-unreachable', `${describeOutcomes(nodes)}, quorum is ${quorumOf(nodes.length)}`, nodes);
  }

  #releaseOf(announce: boolean, confirmedCount?: number): Release {
    const { token, ttlMs, keysExpireAt } = this.#hold;
    return { keys: [this.#key], token, ttlMs, keysExpireAt, announce, confirmedCount, run: permitReleaseRunOf(this.#key, token, announce, []) };
  }

  #error(operation: 'extend' | 'release', reason: PermitError['reason'], why: string, nodes?: readonly NodeOutcome<string>[]): PermitError {
    const what = operation === 'extend' ? 'extend' : 'confirm the release of';
    return new PermitError(`Could not ${what} ${this.#hold.what}: ${why}`, { operation, resource: this.resource, permits: this.permits, reason, nodes });
  }
}
