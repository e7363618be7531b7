// What a semaphore's permits and a read-write lock have in common once held: entries in one hash per node,
// with their validity, extension, release, and the entries a node gave beyond them. The public handles
// (`Permit`, `ReadWriteHandle`) are faces over it; its Hold keeps validity, loss, signal and close().
import { type ExtensionLimits, keepExtended } from '../acquire/auto-extend.js';
import type { HoldTraceContext } from '../base/diagnostics.js';
import { closedErrorOf, LockLostError } from '../base/errors.js';
import { traceHold } from '../base/tracing.js';
import { describeOutcomes, type NodeOutcome, type ReleaseNodeOutcome } from '../base/outcomes.js';
import { type Release, releaseAndRetry, type ReleaseStatus, sendAgainAfterError } from '../lock/cleanup.js';
import { extendHold } from '../lock/extend.js';
import { type HandleExtension, Hold } from '../lock/hold.js';
import { FanOut } from '../nodes/fan-out.js';
import type { NodeCallRun } from '../nodes/node-call.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { type HashLayout, parsePermitExtendReply, permitExtendArgsOf, type PermitExtendStatus, permitExtendScript } from '../scripts/permit-extend.js';
import { parsePermitReleaseReply, permitReleaseScript, quietPermitReleaseScript } from '../scripts/permit-release.js';
import { checkAcquireTtl } from '../settings/ttl.js';

/** Where a held claim stands: see `PermitState`. */
export type ClaimState = 'held' | 'released' | 'lost' | 'expired';

/** Why an extension or a release of a claim failed. */
export type ClaimFailure = 'not-held' | 'nodes-unreachable' | 'no-validity';

/** What an attempt that won a quorum hands its claim. */
export interface ClaimGrant {
  readonly set: NodeSet;
  readonly resource: string;
  readonly key: string;
  readonly token: string;
  /** The hash fields held on a quorum: a semaphore's slots, a read-write lock's entry. */
  readonly fields: readonly string[];
  /** The hash's layout, which tells an extension where it may set the fields again on a node that lost them. */
  readonly layout: HashLayout;
  /** A second holder id the release frees too (a waiting writer's or request's intent), or `''`. */
  readonly alsoFrees: string;
  readonly ttlMs: number;
  /** Monotonic time when the validity ends. */
  readonly validUntil: number;
  /** Wall-clock time when the validity ends. */
  readonly expiresAt: number;
  /** Monotonic time after which the entries have expired on every node anyway. */
  readonly keysExpireAt: number;
  /** Whether each node was sent the request, by node index: those the release goes to. */
  readonly written: boolean[];
  /** How messages name what is held: `2 of 3 permits of "imports"`. */
  readonly what: string;
  /** Whether `what` takes a plural verb (`permits … are`, `the read lock … is`). */
  readonly isPlural: boolean;
  /** What the `redlock-core.hold.*` traces say of it. */
  readonly traced: Pick<HoldTraceContext, 'primitive' | 'mode' | 'permits'>;
  /** The typed error of a failed extension or release, with `why` for its message. */
  readonly errorOf: (operation: 'extend' | 'release', reason: ClaimFailure, why: string, nodes?: readonly NodeOutcome<string>[]) => Error;
}

/**
 * The call a release or cleanup runs on one node: the release script, announced or not, freeing every
 * field of `token` (and of `alsoFrees`, when not empty) there but `kept`.
 */
export function hashReleaseRunOf(key: string, token: string, alsoFrees: string, announce: boolean, kept: readonly string[]): NodeCallRun<ReleaseStatus> {
  return new ScriptReader(announce ? permitReleaseScript : quietPermitReleaseScript, [key], [token, alsoFrees, ...kept], parsePermitReleaseReply);
}

/**
 * Removes the intent `intentId` (a waiting writer's or request's, living `ttlMs`) from every node of
 * `nodeIndexes` in the background, announcing it so that the waiters it kept out wake: the call that left
 * it gave up.
 */
export function withdrawIntent(set: NodeSet, key: string, intentId: string, ttlMs: number, nodeIndexes: readonly number[] = set.nodes.map((_, nodeIndex) => nodeIndex)): void {
  const withdrawal: Release = { keys: [key], token: intentId, ttlMs, keysExpireAt: set.options.clock.now() + ttlMs, announce: true, run: hashReleaseRunOf(key, intentId, '', true, []) };
  for (const nodeIndex of nodeIndexes) void releaseAndRetry(set, nodeIndex, withdrawal);
}

/**
 * Frees what a failed attempt's rounds (`rounds`, its fan-outs in order) wrote with `token`, announcing
 * nothing: the rounds freed nothing anyone waits for. Every node that did not refuse in each round it was
 * sent is sent the release (with re-sends); a node that timed out is sent it again if it answers late that
 * it admitted, and `onLateAnswer` hears any late answer. Resolves when each node's first release settled,
 * except on a node whose call timed out: as for a lock's failed attempt (see `cleanUp` in
 * `acquire/attempt.ts`), that release would likely time out too and hold the caller up for a second
 * timeout, and it goes out on the node's connection behind the request it frees. Resolves with the nodes
 * it did not wait for at all, by node index (a probe, or a first contact once refusals settled the
 * failure; not after a cut-off, `isCutOff`), which the attempt reports as not answered.
 */
export async function freeFailedRounds<S extends string>(
  set: NodeSet,
  rounds: readonly FanOut<S>[],
  written: { readonly key: string; readonly token: string; readonly ttlMs: number },
  isRefusal: (status: S | 'timeout' | 'error') => boolean,
  onLateAnswer?: (nodeIndex: number, answer: S | undefined) => void,
  isCutOff = false,
): Promise<boolean[]> {
  const { key, token, ttlMs } = written;
  // Not waited for, as a lock's failed attempt does not wait for them (see `Attempt`): a silent node's
  // probe still pending, and, once the refusals of the last round settle why the attempt failed, a first
  // contact still pending.
  const last = rounds[rounds.length - 1] as FanOut<S>;
  let refusals = 0;
  for (const outcome of last.outcomes) if (outcome !== undefined && outcome.status !== 'timeout' && outcome.status !== 'error' && isRefusal(outcome.status)) refusals += 1;
  const isSettled = !isCutOff && refusals > set.nodes.length - quorumOf(set.nodes.length);
  const isLeftOut = set.nodes.map((_, nodeIndex) => rounds.some((calls) => calls.isLeftOutOfFailure(nodeIndex, isSettled)));
  // The keys live a TTL from the last round.
  const cleanup: Release = { keys: [key], token, ttlMs, keysExpireAt: set.options.clock.now() + ttlMs, announce: false, run: hashReleaseRunOf(key, token, '', false, []) };
  await Promise.all(
    set.nodes.map(async (_, nodeIndex) => {
      // Freed in the background, as a call that timed out is.
      const isProbing = isLeftOut[nodeIndex] === true;
      if (!isProbing) {
        const outcomes = await Promise.all(rounds.filter((calls) => calls.wasSent(nodeIndex)).map((calls) => calls.outcomeOf(nodeIndex)));
        if (outcomes.every((outcome) => isRefusal(outcome.status))) return;
      }
      let hasTimedOut = isProbing;
      for (const calls of rounds) {
        if (!(calls.isLeftOutOfFailure(nodeIndex, isSettled) || calls.outcomes[nodeIndex]?.status === 'timeout')) continue;
        hasTimedOut = true;
        // The script may still run after the timeout: free again if it reports that it admitted.
        void calls.lateAnswerOf(nodeIndex).then((answer) => {
          if (answer === 'admitted') void releaseAndRetry(set, nodeIndex, cleanup);
          onLateAnswer?.(nodeIndex, answer);
        });
      }
      if (hasTimedOut) void releaseAndRetry(set, nodeIndex, cleanup);
      else await releaseAndRetry(set, nodeIndex, cleanup, true);
    }),
  );
  return isLeftOut;
}

/**
 * A holder's entries on a quorum of nodes until `remainingValidityMs` runs out.
 * held ──extend()──▶ held · held ──release()──▶ released · held ──extend() finds it gone──▶ lost ·
 * held ──validity runs out──▶ expired
 */
export class Claim {
  readonly #hold: Hold;
  readonly #key: string;
  readonly #fields: readonly string[];
  readonly #layout: HashLayout;
  readonly #alsoFrees: string;
  readonly #errorOf: ClaimGrant['errorOf'];
  readonly #isPlural: boolean;
  readonly #traced: ClaimGrant['traced'];
  /** The automatic extension (`autoExtend`), while it runs. */
  #extension: HandleExtension | undefined;
  #releasing: Promise<void> | undefined;
  /** Its state when `release()` was first called (see {@link lossBeforeRelease}). */
  #stateAtRelease: ClaimState | undefined;

  constructor(grant: ClaimGrant) {
    this.#key = grant.key;
    this.#fields = grant.fields;
    this.#layout = grant.layout;
    this.#alsoFrees = grant.alsoFrees;
    this.#errorOf = grant.errorOf;
    this.#isPlural = grant.isPlural;
    this.#traced = grant.traced;
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
      nodes: [],
      what: grant.what,
    });
  }

  get state(): ClaimState {
    const hold = this.#hold;
    return hold.isReleased ? 'released' : hold.stateAt(hold.set.options.clock.now());
  }

  get expiresAt(): number {
    return this.#hold.expiresAt;
  }

  get remainingValidityMs(): number {
    return this.state === 'held' ? Math.max(0, this.#hold.validUntil - this.#hold.set.options.clock.now()) : 0;
  }

  get signal(): AbortSignal {
    return this.#hold.signal;
  }

  get what(): string {
    return this.#hold.what;
  }

  get resources(): readonly string[] {
    return this.#hold.resources;
  }

  assertValid(): void {
    const state = this.state;
    if (state !== 'held') throw this.#lossError(state, this.#isPlural ? 'are' : 'is');
  }

  /** See `Lock.lossBeforeRelease`. */
  lossBeforeRelease(): LockLostError | undefined {
    const state = this.#stateAtRelease;
    return state === 'expired' || state === 'lost' ? this.#lossError(state, this.#isPlural ? 'were' : 'was', ' when released') : undefined;
  }

  #lossError(state: ClaimState, verb: string, when = ''): LockLostError {
    return new LockLostError(`${this.#hold.what} ${verb} ${state}${when}`, { resources: this.resources, cause: this.#hold.lostBecause?.cause });
  }

  /** Extends the entries to `ttlMs` from now on every node: see `Permit.extend`. */
  extend(ttlMs: number): Promise<void> {
    return traceHold('extend', () => this.#traceContext('extend', ttlMs), () => this.#extend(ttlMs), () => this);
  }

  async #extend(ttlMs: number): Promise<void> {
    const hold = this.#hold;
    const { set, token } = hold;
    checkAcquireTtl(ttlMs, set.nodes, set.options, quorumOf(set.nodes.length), 1);
    if (set.lifecycle.isClosed) throw closedErrorOf('extend', hold.resources);
    if (this.state !== 'held') throw this.#errorOf('extend', 'not-held', `it is ${this.state}`);
    await extendHold<PermitExtendStatus>(
      hold,
      ttlMs,
      {
        run: new ScriptReader(permitExtendScript, [this.#key], permitExtendArgsOf(token, ttlMs, false, this.#layout, this.#fields), parsePermitExtendReply),
        reseedRun: new ScriptReader(permitExtendScript, [this.#key], permitExtendArgsOf(token, ttlMs, true, this.#layout, this.#fields), parsePermitExtendReply),
        // Our own fields: kept while the claim is held, freed if it was released (see settleGrant).
        settleReseed: (nodeIndex) => this.settleGrant(nodeIndex, this.#fields),
        keyCount: 1,
        yes: 'extended',
        errorOf: (failure) => this.#errorOf('extend', failure.reason, failure.why, failure.nodes),
        releasedWhy: `${this.#isPlural ? 'they were' : 'it was'} released meanwhile`,
        lostErrorOf: (error) => new LockLostError(`Lost ${hold.what}: a quorum of nodes no longer holds our token`, { resources: this.resources, cause: error }),
      },
      () => this.remainingValidityMs,
    );
  }

  /** Releases the entries on every node that was asked for them: see `Permit.release`. */
  release(): Promise<void> {
    this.#stateAtRelease ??= this.state;
    if (this.#extension !== undefined) this.#hold.letGoOf(this.#extension);
    this.#extension = undefined;
    return (this.#releasing ??= traceHold('release', () => this.#traceContext('release', undefined), () => this.#releaseOnEveryNode()));
  }

  #traceContext(operation: 'extend' | 'release', ttlMs: number | undefined): Omit<HoldTraceContext, 'result' | 'error'> {
    const { set, resources } = this.#hold;
    return { ...this.#traced, operation, resource: resources[0] as string, ttlMs, quorum: quorumOf(set.nodes.length), nodeCount: set.nodes.length };
  }

  /** Keeps `handle` (this claim's public face) extended by `ttlMs` within `limits`: see `Permit.keepExtended`. */
  keepExtended(handle: Parameters<typeof keepExtended>[0], ttlMs: number, limits: ExtensionLimits): void {
    const hold = this.#hold;
    if (this.state !== 'held' || this.#extension !== undefined) return;
    const { clock } = hold.set.options;
    this.#extension = hold.keepHandleExtended(
      (onStop) => keepExtended(handle, ttlMs, clock, limits, onStop, hold.what),
      (extension) => {
        if (this.#extension === extension) this.#extension = undefined;
      },
    );
  }

  onLost(listener: (error: LockLostError) => void): () => void {
    return this.#hold.onLost(listener);
  }

  onEarlierEnd(listener: () => void): () => void {
    return this.#hold.onEarlierEnd(listener);
  }

  publishLoss(reason: 'quorum-lost' | 'validity-ran-out', error: LockLostError): void {
    this.#hold.publishLoss(reason, error);
  }

  /**
   * Node `nodeIndex` gave `fields` to the request that won this claim, maybe after it was decided, or set
   * the claim's own fields again for an extension's re-seed (see `extendHold`). Fields other than the
   * claim's are freed there at once; all of them, if the claim is released already (its release may have
   * reached that node first).
   */
  settleGrant(nodeIndex: number, fields: readonly string[]): void {
    const hold = this.#hold;
    hold.written[nodeIndex] = true;
    const isReleased = hold.isReleased;
    if (!isReleased && fields.every((field) => this.#fields.includes(field))) return;
    void releaseAndRetry(hold.set, nodeIndex, { ...this.#releaseOf(false), run: hashReleaseRunOf(this.#key, hold.token, '', false, isReleased ? [] : this.#fields) });
  }

  /**
   * Node `nodeIndex` answered, maybe after the claim was decided, that it left `alsoFrees` (an
   * intent) but wrote no entry: nothing to do while the claim is held, since its release frees it there;
   * freed there at once if the release went first (a call re-sent after a `NOSCRIPT` may run after it).
   */
  settleLeftBehind(nodeIndex: number): void {
    const hold = this.#hold;
    if (!hold.isReleased || this.#alsoFrees === '') return;
    void releaseAndRetry(hold.set, nodeIndex, { ...this.#releaseOf(false), run: hashReleaseRunOf(this.#key, this.#alsoFrees, '', false, []) });
  }

  /** Calls `callback` once a release of the claim was decided: it wakes this process's next waiter. */
  afterRelease(callback: () => void): void {
    this.#hold.onReleased = callback;
  }

  /** Sends the release to every node, not only those the winning attempt asked: earlier attempts may have left `alsoFrees` there. */
  releaseOnEveryNode(): void {
    this.#hold.written.fill(true);
  }

  async #releaseOnEveryNode(): Promise<void> {
    const hold = this.#hold;
    const { set, written } = hold;
    const release = this.#releaseOf(true, 0);
    const calls = new FanOut<ReleaseStatus>(set, 'release', ['released', 'not-held'], 'tracked');
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
    const hasQuorum = await calls.decided();
    hold.onReleased?.(hold.keys);
    if (hasQuorum) return;
    const nodes: ReleaseNodeOutcome[] = await calls.allSettled();
    // Forgotten, so that calling release() again retries.
    this.#releasing = undefined;
    throw this.#errorOf('release', 'nodes-unreachable', `${describeOutcomes(nodes)}, quorum is ${quorumOf(nodes.length)}`, nodes);
  }

  #releaseOf(announce: boolean, confirmedCount?: number): Release {
    const { token, ttlMs, keysExpireAt } = this.#hold;
    return { keys: [this.#key], token, ttlMs, keysExpireAt, announce, confirmedCount, run: hashReleaseRunOf(this.#key, token, this.#alsoFrees, announce, []) };
  }
}
