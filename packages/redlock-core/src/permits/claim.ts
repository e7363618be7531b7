// What a semaphore's permits and a read-write lock have in common once held: entries in one hash per node,
// with their validity, extension, release, and the entries a node gave beyond them. The public handles
// (`Permit`, `ReadWriteHandle`) extend it with what names them; its Hold keeps validity, loss, signal and
// close().
import type { HoldTraceContext } from '../base/diagnostics.js';
import { closedErrorOf, LockLostError } from '../base/errors.js';
import { defineAsyncDispose } from '../base/lifecycle.js';
import { traceHold } from '../base/tracing.js';
import type { NodeOutcome } from '../base/outcomes.js';
import { extendHold, fillIn, type HoldExtension } from '../lock/extend.js';
import { hasExtensionsInFlight, type Release, releaseAndRetry, releaseOnEveryNode as releaseHold, removeLateGrant, unlessReleasedThere } from '../lock/release.js';
import { HoldHandle } from '../lock/handle.js';
import { Hold, type HoldInit } from '../lock/hold.js';
import type { NodeCallRun } from '../nodes/node-call.js';
import type { NodeSet } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { type HashLayout, parsePermitExtendReply, permitExtendArgsOf, permitExtendScript } from '../scripts/permit-extend.js';
import { parsePermitReleaseReply, permitReleaseScript, quietPermitReleaseScript } from '../scripts/permit-release.js';
import type { ReleaseStatus } from '../scripts/release.js';
import { checkAcquireTtl } from '../settings/ttl.js';

/** Where a held claim stands: see `PermitState`, `ReadWriteState`, its names for each kind. */
export type ClaimState = 'held' | 'released' | 'lost' | 'expired';

/** Why an extension or a release of a claim failed. */
export type ClaimFailure = 'not-held' | 'nodes-unreachable' | 'no-validity';

/**
 * What an attempt that won a quorum hands its claim (a {@link HoldInit} of one key); each kind's grant holds
 * it as `claim`, beside what names the kind: one shape for both kinds, made without a spread (a spread of
 * it cost an uncontended semaphore acquire+release ~40% more instructions, its copies' maps migrating).
 */
export interface ClaimGrant extends Omit<HoldInit, 'resources' | 'keys' | 'nodes' | 'what'> {
  readonly resource: string;
  readonly key: string;
  /** A second holder id the release frees too (a waiting writer's or request's intent), or `''`. */
  readonly alsoFrees: string;
  readonly attempts: number;
}

/** What a kind of claim (permits, a read-write lock) tells the claim of itself. */
export interface ClaimKind {
  /** The hash fields held on a quorum: a semaphore's slots, a read-write lock's entry. */
  readonly fields: readonly string[];
  /** The hash's layout, which tells an extension where it may set the fields again on a node that lost them (and a semaphore's permits take a plural verb). */
  readonly layout: HashLayout;
  /** Names what is held in messages, when one needs it: `2 of 3 permits of "imports"`. */
  readonly what: () => string;
  /** What the `redlock-core.hold.*` traces say of it. */
  readonly traced: Pick<HoldTraceContext, 'primitive' | 'mode' | 'permits'>;
  /** The kind's typed error of a failed extension or release, with its message. */
  readonly errorOf: (
    message: string,
    failure: { readonly operation: 'extend' | 'release'; readonly reason: ClaimFailure; readonly nodes: readonly NodeOutcome<string>[] | undefined },
  ) => Error;
}

/**
 * The call a release or cleanup runs on one node: the release script, waking waiters or not, freeing every
 * field of `token` (and of `alsoFrees`, when not empty) there but `kept`; `wakeTicket` is the releaser's
 * queue ticket, whose member is taken out of the wait queue first (see wake-queue.ts).
 */
export function hashReleaseRunOf(key: string, token: string, alsoFrees: string, announce: boolean, kept: readonly string[], wakeTicket = ''): NodeCallRun<ReleaseStatus> {
  return new ScriptReader(announce ? permitReleaseScript : quietPermitReleaseScript, [key], [token, alsoFrees, wakeTicket, ...kept], parsePermitReleaseReply);
}

/**
 * Removes the intent `intentId` (a waiting writer's or request's, living `ttlMs`) from every node of
 * `nodeIndexes` in the background, waking the waiters it kept out: the call that left it gave up.
 */
export function withdrawIntent(set: NodeSet, key: string, intentId: string, ttlMs: number, nodeIndexes: readonly number[] = set.nodes.map((_, nodeIndex) => nodeIndex)): void {
  const withdrawal: Release = { keys: [key], token: intentId, ttlMs, keysExpireAt: set.options.clock.now() + ttlMs, announce: true, run: hashReleaseRunOf(key, intentId, '', true, []) };
  for (const nodeIndex of nodeIndexes) void releaseAndRetry(set, nodeIndex, withdrawal);
}

/** `await using` of a claim (see `defineAsyncDispose`). */
export interface Claim {
  /** Releases this handle at the end of an `await using` block: see `release()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A holder's entries on a quorum of nodes until `remainingValidityMs` runs out: what a semaphore's permits
 * (`Permit`) and a read-write lock's handle (`ReadWriteHandle`) are. Written once for both, so that the two
 * handles cannot drift apart; each adds only its grant, its error and what names it.
 *
 * held ──extend()──▶ held · held ──release()──▶ released · held ──extend() finds it gone──▶ lost ·
 * held ──validity runs out──▶ expired
 */
export class Claim extends HoldHandle {
  /** The resource of the semaphore or the read-write lock, without the key prefix. */
  readonly resource: string;
  /** Which attempt of the call won this handle, from 1. */
  readonly attempts: number;
  readonly #hold: Hold;
  readonly #kind: ClaimKind;
  readonly #key: string;
  readonly #alsoFrees: string;
  #releasing: Promise<void> | undefined;
  /** Its state when `release()` was first called (see {@link lossBeforeRelease}). */
  #stateAtRelease: ClaimState | undefined;

  protected constructor(grant: ClaimGrant, kind: ClaimKind) {
    const { set, token, ttlMs, validUntil, keysExpireAt, expiresAt, written, wakeTicket } = grant;
    super();
    this.resource = grant.resource;
    this.attempts = grant.attempts;
    this.#kind = kind;
    this.#key = grant.key;
    this.#alsoFrees = grant.alsoFrees;
    this.#hold = new Hold({ set, resources: [grant.resource], keys: [grant.key], token, ttlMs, validUntil, keysExpireAt, expiresAt, written, nodes: [], what: kind.what, wakeTicket });
  }

  /** @internal */
  protected override get hold(): Hold {
    return this.#hold;
  }

  /** Where the claim stands, read from the monotonic clock now; each handle names the type its own way. */
  get state(): ClaimState {
    const hold = this.#hold;
    return hold.isReleased ? 'released' : hold.stateAt(hold.set.options.clock.now());
  }

  /** Milliseconds of validity left: how long this handle may still be relied on; 0 once not held. */
  override get remainingValidityMs(): number {
    return this.state === 'held' ? Math.max(0, this.#hold.validUntil - this.#hold.set.options.clock.now()) : 0;
  }

  /** How messages name what is held (see `describePermits`, `describeReadWrite`). @internal */
  get what(): string {
    return this.#hold.what;
  }

  /**
   * The resource, as a one-element list: what automatic extension and the `redlock-core.lock.lost`
   * channel report.
   * @internal
   */
  get resources(): readonly string[] {
    return this.#hold.resources;
  }

  /**
   * Throws unless this handle is held at this very moment, by the monotonic clock: call it right before
   * each action it guards (see `Lock.assertValid`).
   *
   * @throws {@link LockLostError} if it is released, lost or expired.
   */
  assertValid(): void {
    const state = this.state;
    if (state !== 'held') throw this.#lossError(state, this.#kind.layout.kind === 'semaphore' ? 'are' : 'is');
  }

  /** See `Lock.lossBeforeRelease`. @internal */
  lossBeforeRelease(): LockLostError | undefined {
    const state = this.#stateAtRelease;
    return state === 'expired' || state === 'lost' ? this.#lossError(state, this.#kind.layout.kind === 'semaphore' ? 'were' : 'was', ' when released') : undefined;
  }

  #lossError(state: ClaimState, verb: string, when = ''): LockLostError {
    return new LockLostError(`${this.#hold.what} ${verb} ${state}${when}`, { resources: this.resources, cause: this.#hold.lostBecause?.cause });
  }

  /** The typed error of a failed `operation`, worded the same for both kinds. */
  #failure(operation: 'extend' | 'release', reason: ClaimFailure, why: string, nodes?: readonly NodeOutcome<string>[]): Error {
    const verb = operation === 'extend' ? 'extend' : 'confirm the release of';
    return this.#kind.errorOf(`Could not ${verb} ${this.#hold.what}: ${why}`, { operation, reason, nodes });
  }

  /**
   * Extends this handle (its permits, or its read or write lock) to `ttlMs` from now on every node, and
   * resolves once a quorum did with validity left. A node extends only entries that it still holds
   * unexpired, so an extension can never revive what another holder may have taken since. A reader's
   * extension is not refused by a waiting writer: readers already holding may finish. A `ttlMs` shorter
   * than the validity left shortens it from the call on, whatever the outcome: any node may have run it.
   *
   * @throws {@link PermitError} for permits, {@link ReadWriteLockError} for a read-write lock (`operation`
   *   `'extend'`): `'not-held'` when it is released, lost or expired (before any node is called), or when
   *   a quorum no longer holds it (`isLost`: it is `'lost'` then); `'nodes-unreachable'` or
   *   `'no-validity'` otherwise. {@link RedlockClosedError} once `redlock.close()` was called. `TypeError`
   *   or `RangeError` for a bad `ttlMs`. All but a quorum's answer before any node is called.
   * @param ttlMs - The new time to live, in milliseconds, counted from now; one under `shortTtlMs` (1,000
   *   by default) warns once, as for `redlock.acquire()`.
   */
  extend(ttlMs: number): Promise<void> {
    // Not `this`: an extension reports no attempts (see `HoldTraceResult.attempts`), and the handle's
    // `attempts` counts its acquisition's.
    return traceHold('extend', () => this.#traceContext('extend', ttlMs), () => this.#extend(ttlMs), () => ({ remainingValidityMs: this.remainingValidityMs }));
  }

  async #extend(ttlMs: number): Promise<void> {
    const hold = this.#hold;
    const { set, token } = hold;
    checkAcquireTtl(ttlMs, set.nodes, set.options, quorumOf(set.nodes.length), 1);
    if (set.lifecycle.isClosed) throw closedErrorOf('extend', hold.resources);
    if (this.state !== 'held') throw this.#failure('extend', 'not-held', `it is ${this.state}`);
    await extendHold(hold, ttlMs, this.#extensionOf(ttlMs), () => this.remainingValidityMs);
  }

  /** How this claim extends to `ttlMs`: the permit-extend script over its fields, and its kind's errors. */
  #extensionOf(ttlMs: number): HoldExtension {
    const hold = this.#hold;
    const { fields, layout } = this.#kind;
    const runOf = (isReseeding: boolean) => new ScriptReader(permitExtendScript, [this.#key], permitExtendArgsOf(hold.token, ttlMs, isReseeding, layout, fields), parsePermitExtendReply);
    return {
      run: runOf(false),
      reseedRun: runOf(true),
      // Our own fields: kept while the claim is active, else freed (see settleFields).
      settleReseed: (nodeIndex) => this.settleFields(nodeIndex, fields),
      keyCount: 1,
      yes: 'extended',
      errorOf: (failure) => this.#failure('extend', failure.reason, failure.why, failure.nodes),
      releasedWhy: `${this.#kind.layout.kind === 'semaphore' ? 'they were' : 'it was'} released meanwhile`,
      lostErrorOf: (error) => new LockLostError(`Lost ${hold.what}: a quorum of nodes no longer holds our token`, { resources: this.resources, cause: error }),
    };
  }

  /** Node `nodeIndex` refused this claim at its acquisition: see `fillIn` (extend.ts). @internal */
  fillInWhenFree(nodeIndex: number): void {
    fillIn(this.#hold, nodeIndex, (ttlMs) => this.#extensionOf(ttlMs));
  }

  /**
   * Releases this handle (its permits, or its read or write lock) on every node that was asked for it,
   * with the intent its call left waiting, announcing it to waiters, and resolves once a quorum confirmed
   * (the others finish in the background, a failed node is sent it again until the entries would have
   * expired). It stops the automatic extension (`autoExtend`) at once. Calling it again returns the same
   * promise, or retries after a failure.
   *
   * @throws {@link PermitError} for permits, {@link ReadWriteLockError} for a read-write lock (`operation`
   *   `'release'`, `'nodes-unreachable'`) when fewer than a quorum answered; it then expires after its TTL.
   */
  release(): Promise<void> {
    this.#stateAtRelease ??= this.state;
    this.letGoOfExtension();
    return (this.#releasing ??= traceHold('release', () => this.#traceContext('release', undefined), () => this.#releaseOnEveryNode()));
  }

  #traceContext(operation: 'extend' | 'release', ttlMs: number | undefined): Omit<HoldTraceContext, 'result' | 'error'> {
    const { set, resources, id } = this.#hold;
    return { ...this.#kind.traced, operation, resource: resources[0] as string, holdId: id, ttlMs, quorum: quorumOf(set.nodes.length), nodeCount: set.nodes.length };
  }

  /**
   * Node `nodeIndex` gave `fields` to the request that won this claim, maybe after it was decided (a grant,
   * whose command was sent at `grantSentAtMs`), or set the claim's own fields again for an extension's
   * re-seed (see `extendHold`). Fields other than the claim's are freed there at once; the claim's own follow
   * the lock's rule (`removeLateGrant`): kept while the claim is active, else freed, unless the release there
   * freed them (`'released'`) after a grant sent before it: a command sent earlier on the same connection
   * runs earlier. That is the usual case, and it saves an uncontended semaphore 2 calls in 12. A grant re-sent
   * after `NOSCRIPT` once the release went, or a re-seed, runs after the release, which may still say
   * `'released'` for the intent it freed.
   * @internal
   */
  protected settleFields(nodeIndex: number, fields: readonly string[], grantSentAtMs?: number): void {
    const hold = this.#hold;
    hold.written[nodeIndex] = true;
    const own = this.#kind.fields;
    const free = (kept: readonly string[]): void =>
      void releaseAndRetry(hold.set, nodeIndex, { ...this.#releaseOf(false), run: hashReleaseRunOf(this.#key, hold.token, '', false, kept) });
    // Beyond the claim's own fields, while the claim may still be kept: the rest waits for the rule below.
    if (!fields.every((field) => own.includes(field)) && (hold.isActive || hasExtensionsInFlight(hold))) free(own);
    removeLateGrant(hold, nodeIndex, () => {
      // At the same instant, the grant went first: a re-send after NOSCRIPT waits for the node's reply, so it
      // shares its instant with the release only on a clock that does not move (the tests').
      const isGrantBeforeRelease = grantSentAtMs !== undefined && grantSentAtMs <= (hold.releasedAtMs ?? Infinity);
      if (hold.isReleased && isGrantBeforeRelease) unlessReleasedThere(hold, nodeIndex, () => free([]));
      else free([]);
    });
  }

  /**
   * Node `nodeIndex` answered, maybe after the claim was decided, that it left `alsoFrees` (an
   * intent) but wrote no entry: nothing to do while the claim is held, since its release frees it there;
   * freed there at once if the release went first (a call re-sent after a `NOSCRIPT` may run after it).
   * @internal
   */
  settleLeftBehind(nodeIndex: number): void {
    const hold = this.#hold;
    if (!hold.isReleased || this.#alsoFrees === '') return;
    void releaseAndRetry(hold.set, nodeIndex, { ...this.#releaseOf(false), run: hashReleaseRunOf(this.#key, this.#alsoFrees, '', false, []) });
  }

  /** Sends the release to every node, not only those the winning attempt asked: earlier attempts may have left an intent there. @internal */
  releaseOnEveryNode(): void {
    this.#hold.written.fill(true);
  }

  async #releaseOnEveryNode(): Promise<void> {
    const hold = this.#hold;
    hold.markReleased();
    try {
      await releaseHold(hold, this.#releaseOf(true, 0), (nodes, why) => this.#failure('release', 'nodes-unreachable', why, nodes));
    } catch (error) {
      // Forgotten, so that calling release() again retries.
      this.#releasing = undefined;
      throw error;
    }
  }

  #releaseOf(announce: boolean, confirmedCount?: number): Release {
    const { token, ttlMs, keysExpireAt, wakeTicket } = this.#hold;
    return { keys: [this.#key], token, ttlMs, keysExpireAt, announce, confirmedCount, run: hashReleaseRunOf(this.#key, token, this.#alsoFrees, announce, [], wakeTicket) };
  }
}

defineAsyncDispose(Claim.prototype, function () {
  return this.release();
});
