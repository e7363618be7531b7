import { validityMs } from './clock.js';
import { LockExtendError, LockReleaseError } from './errors.js';
import { checkTtl, nodeTimeoutMsFor, type ResolvedNode, type ResolvedOptions } from './options.js';
import { countByStatus, describeOutcomes, type NodeOutcome, type ReleaseResult } from './outcomes.js';
import { callNode, collectVotes, type NodeCall, quorumOf } from './quorum.js';
import { extendScript, parseExtendReply } from './scripts/extend.js';
import { runScript } from './scripts/lua-script.js';
import { parseReleaseReply, RELEASE_CHANNEL_PREFIX, releaseScript } from './scripts/release.js';

/** The state of a {@link Lock}. */
export type LockState = 'held' | 'released' | 'expired';

/**
 * The nodes of one `Redlock` and its settings, shared by every lock it hands out.
 * @internal
 */
export interface NodeSet {
  readonly nodes: readonly ResolvedNode[];
  readonly options: ResolvedOptions;
}

/** Calls every node in parallel, each bounded by its timeout for `ttlMs`. */
export function callEveryNode<S extends string>(
  set: NodeSet,
  ttlMs: number,
  run: (adapter: ResolvedNode['adapter']) => Promise<S>,
): NodeCall<S>[] {
  const { nodes, options } = set;
  return nodes.map((node, index) => callNode(node.adapter, index, nodeTimeoutMsFor(node, options, ttlMs), options.clock, run));
}

/**
 * Releases our keys on one node; the outcome never rejects. `announce` publishes the release to waiters:
 * true for a lock that was held, false for the cleanup of a failed attempt, which nobody waits for.
 */
export function releaseOnNode(
  set: NodeSet,
  nodeIndex: number,
  keys: readonly string[],
  token: string,
  ttlMs: number,
  announce: boolean,
): NodeCall<'released' | 'not-held'> {
  const node = set.nodes[nodeIndex] as ResolvedNode;
  return callNode(node.adapter, nodeIndex, nodeTimeoutMsFor(node, set.options, ttlMs), set.options.clock, (adapter) =>
    runScript(adapter, releaseScript, keys, [token, announce ? RELEASE_CHANNEL_PREFIX : '']).then((reply) =>
      parseReleaseReply(reply, keys.length),
    ),
  );
}

/**
 * A lock held on a quorum of nodes until its validity runs out.
 *
 * held ──extend()──▶ held · held ──release()──▶ released · held ──validity runs out──▶ expired
 *
 * Only a held lock can be extended; `release()` is safe in any state. A `Lock` is a live handle:
 * `extend()` updates `expiresAt` and `remainingValidityMs` in place and resolves with the same object.
 * Created by `Redlock.acquire()` and `Redlock.using()`, never directly.
 */
export class Lock {
  /** The locked resources as given to `acquire()`, without the key prefix. */
  readonly resources: readonly string[];
  /** The random value that identifies this owner on every node. Keep it secret: it can release the lock. */
  readonly token: string;
  /** How many attempts the acquisition took, 1 for the first. */
  readonly attempts: number;
  /**
   * With `fencing: true`, an integer greater than the fencing token of every acquisition of these resources
   * that completed before this one started; `undefined` without fencing. Send it with every write to the
   * storage the lock protects, and let the storage reject tokens lower than the highest it has seen.
   */
  readonly fencingToken: number | undefined;

  readonly #set: NodeSet;
  readonly #keys: readonly string[];
  #ttlMs: number;
  /** Monotonic time at which validity ends. */
  #validUntil: number;
  #expiresAt: number;
  #isReleased = false;
  #release: Promise<ReleaseResult> | undefined;
  /** Extensions run concurrently; only the latest started one may set the validity. */
  #extensionsStarted = 0;
  #extensionApplied = 0;

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
    expiresAt: number;
  }) {
    this.#set = init.set;
    this.resources = init.resources;
    this.#keys = init.keys;
    this.token = init.token;
    this.attempts = init.attempts;
    this.fencingToken = init.fencingToken;
    this.#ttlMs = init.ttlMs;
    this.#validUntil = init.validUntil;
    this.#expiresAt = init.expiresAt;
  }

  /** Wall-clock time, in milliseconds since the epoch, at which validity ends. */
  get expiresAt(): number {
    return this.#expiresAt;
  }

  /** Milliseconds of validity left, measured on the monotonic clock; 0 once expired or released. */
  get remainingValidityMs(): number {
    if (this.#isReleased) return 0;
    return Math.max(0, this.#validUntil - this.#set.options.clock.now());
  }

  /** `'held'` while validity remains, `'released'` once `release()` was called, else `'expired'`. */
  get state(): LockState {
    if (this.#isReleased) return 'released';
    return this.remainingValidityMs > 0 ? 'held' : 'expired';
  }

  /**
   * Sets the TTL of every key to `ttlMs` again on every node that still holds our token. Succeeds like an
   * acquisition: a quorum must agree, and validity (`ttlMs` − elapsed − drift, measured from the start of
   * this call) must remain. Resolves with this lock, whose `expiresAt` has moved.
   *
   * @param ttlMs - The new time to live, in milliseconds, counted from now.
   * @throws {@link LockExtendError} if the lock is released or expired (no node is asked then), if no
   *   quorum holds our token any more (`isLost`), or if nodes failed to answer.
   * @throws `TypeError` or `RangeError` for a bad `ttlMs`, before any node is called.
   */
  async extend(ttlMs: number): Promise<Lock> {
    const { options, nodes } = this.#set;
    checkTtl(ttlMs, options.driftFactor);
    const state = this.state;
    if (state !== 'held') {
      throw new LockExtendError(`Could not extend ${this.#describe()}: the lock is already ${state}`, {
        resources: this.resources,
        nodes: [],
        isLost: true,
      });
    }
    const sequence = ++this.#extensionsStarted;
    const { clock, driftFactor } = options;
    const start = clock.now();
    const wallStart = clock.wallNow();
    const quorum = quorumOf(nodes.length);
    const extendOn = (reseed: boolean) => (adapter: ResolvedNode['adapter']) =>
      runScript(adapter, extendScript, this.#keys, [this.token, String(ttlMs), reseed ? '1' : '0']).then(parseExtendReply);
    const calls = callEveryNode(this.#set, ttlMs, extendOn(false));
    const vote = await collectVotes(
      calls.map((call) => call.outcome),
      'extended',
      quorum,
    );
    const validity = validityMs({ ttlMs, elapsedMs: clock.now() - start, driftFactor });
    if (vote.hasQuorum && validity > 0 && !this.#isReleased) {
      if (sequence > this.#extensionApplied) {
        this.#extensionApplied = sequence;
        this.#ttlMs = ttlMs;
        this.#validUntil = start + validity;
        this.#expiresAt = Math.floor(wallStart + validity);
      }
      // A quorum still holds the lock, so nodes that lost our keys (restarted empty) may get them back:
      // the lock regains its full margin. Nodes answering later are re-seeded when they answer.
      const reseeds = calls.map(async (call, nodeIndex) => {
        const answered = vote.outcomes[nodeIndex] !== undefined;
        const status = answered ? vote.outcomes[nodeIndex]?.status : await call.lateAnswer;
        if (status !== 'missing' || this.#isReleased) return;
        const node = nodes[nodeIndex] as ResolvedNode;
        await callNode(node.adapter, nodeIndex, nodeTimeoutMsFor(node, options, ttlMs), clock, extendOn(true)).outcome;
      });
      await Promise.all(reseeds.filter((_, nodeIndex) => vote.outcomes[nodeIndex] !== undefined));
      return this;
    }
    // Failing is not urgent: wait for every node (each bounded by its timeout) to report them all.
    const outcomes = await Promise.all(calls.map((call) => call.outcome));
    const counts = countByStatus(outcomes);
    const isLost = (counts['not-held'] ?? 0) + (counts['missing'] ?? 0) > nodes.length - quorum || this.#isReleased;
    const why = this.#isReleased
      ? 'the lock was released meanwhile'
      : vote.hasQuorum
        ? `no validity left after ${Math.round(clock.now() - start)} ms`
        : `${describeOutcomes(outcomes)}, quorum is ${quorum}`;
    throw new LockExtendError(`Could not extend ${this.#describe()}: ${why}`, {
      resources: this.resources,
      nodes: outcomes,
      isLost,
    });
  }

  /**
   * Deletes our keys on every node, whatever the lock's state: compare-and-delete, so it never removes a
   * lock that another owner took after ours expired. Calling it again resolves with the first result.
   * Resolves with each node's outcome; a lock that already expired resolves normally with
   * `releasedCount` 0.
   *
   * @throws {@link LockReleaseError} if fewer than a quorum of nodes answered; the keys left behind
   *   expire after their TTL. Calling `release()` again then retries.
   */
  release(): Promise<ReleaseResult> {
    this.#isReleased = true;
    this.#release ??= this.#releaseOnEveryNode().catch((error: unknown) => {
      this.#release = undefined;
      throw error;
    });
    return this.#release;
  }

  async #releaseOnEveryNode(): Promise<ReleaseResult> {
    const nodeCount = this.#set.nodes.length;
    const outcomes: NodeOutcome<'released' | 'not-held'>[] = await Promise.all(
      Array.from({ length: nodeCount }, (_, index) =>
        releaseOnNode(this.#set, index, this.#keys, this.token, this.#ttlMs, true).outcome,
      ),
    );
    const counts = countByStatus(outcomes);
    const releasedCount = counts['released'] ?? 0;
    const answered = releasedCount + (counts['not-held'] ?? 0);
    const quorum = quorumOf(nodeCount);
    if (answered < quorum) {
      throw new LockReleaseError(
        `Could not confirm the release of ${this.#describe()}: ${describeOutcomes(outcomes)}, quorum is ${quorum}`,
        { resources: this.resources, nodes: outcomes },
      );
    }
    return { nodes: outcomes, releasedCount };
  }

  #describe(): string {
    return describeResources(this.resources);
  }
}

/** Names resources in messages: `"orders:42"`, or `"a", "b"` for several, cut to keep messages short. */
export function describeResources(resources: readonly string[]): string {
  const shown = resources.slice(0, 3).map((resource) => JSON.stringify(resource.length > 60 ? `${resource.slice(0, 57)}...` : resource));
  return resources.length > 3 ? `${shown.join(', ')} and ${resources.length - 3} more` : shown.join(', ');
}
