import { validityMs } from './clock.js';
import { LockExtendError, LockReleaseError } from './errors.js';
import { checkTtl, nodeTimeoutMsFor, type ResolvedNode, type ResolvedOptions } from './options.js';
import { countByStatus, describeOutcomes, type ReleaseNodeOutcome, type ReleaseResult } from './outcomes.js';
import { callNode, callNodeWithin, collectVotes, type NodeCall, quorumOf, SharedTimeout } from './quorum.js';
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
  run: (adapter: ResolvedNode['adapter'], nodeIndex: number) => Promise<S>,
): NodeCall<S>[] {
  const { nodes, options } = set;
  // One timer per distinct timeout rather than one per node: usually every node has the same.
  const timeouts: SharedTimeout[] = [];
  return nodes.map((node, index) => {
    const timeoutMs = nodeTimeoutMsFor(node, options, ttlMs);
    let timeout = timeouts.find((shared) => shared.timeoutMs === timeoutMs);
    if (timeout === undefined) {
      timeout = new SharedTimeout(options.clock, timeoutMs);
      timeouts.push(timeout);
    }
    return callNodeWithin(timeout, node.adapter, index, (adapter) => run(adapter, index));
  });
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
    releaseKeys(adapter, keys, token, announce),
  );
}

/** Runs the release script on one node: compare-and-delete, announced to waiters when `announce`. */
function releaseKeys(adapter: ResolvedNode['adapter'], keys: readonly string[], token: string, announce: boolean): Promise<'released' | 'not-held'> {
  return runScript(adapter, releaseScript, keys, [token, announce ? RELEASE_CHANNEL_PREFIX : '']).then((reply) =>
    parseReleaseReply(reply, keys.length),
  );
}

/**
 * The state one acquisition holds on the nodes, shared by the lock and its re-entrant handles: the keys
 * are released when the last handle is.
 */
interface Hold {
  ttlMs: number;
  /** Monotonic time at which validity ends. */
  validUntil: number;
  expiresAt: number;
  /** Handles not yet released. */
  holders: number;
  /** Whether the keys are being or have been released on the nodes. */
  isReleased: boolean;
  release: Promise<ReleaseResult> | undefined;
  /** Each node's answer to the latest release, by node index. */
  releaseOutcomes: Promise<ReleaseNodeOutcome>[];
  /** Extensions run concurrently; only the latest started one may set the validity. */
  extensionsStarted: number;
  extensionApplied: number;
  /** See {@link Lock.afterRelease}. */
  onReleased: ((keys: readonly string[]) => void) | undefined;
}

/**
 * A lock held on a quorum of nodes until its validity runs out.
 *
 * held ──extend()──▶ held · held ──release()──▶ released · held ──validity runs out──▶ expired
 *
 * Only a held lock can be extended; `release()` is safe in any state. A `Lock` is a live handle:
 * `extend()` updates `expiresAt` and `remainingValidityMs` in place and resolves with the same object.
 * Acquiring again with `{ reentrant: lock }` gives another handle on the same hold: each handle is
 * released once, and the keys go when the last one is. Created by `Redlock.acquire()` and
 * `Redlock.using()`, never directly.
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
  readonly #hold: Hold;
  /** Whether this handle was released (the keys go with the last handle). */
  #isReleased = false;

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
  }, sharedHold?: Hold) {
    this.#set = init.set;
    this.resources = init.resources;
    this.#keys = init.keys;
    this.token = init.token;
    this.attempts = init.attempts;
    this.fencingToken = init.fencingToken;
    this.#hold = sharedHold ?? {
      ttlMs: init.ttlMs,
      validUntil: init.validUntil,
      expiresAt: init.expiresAt,
      holders: 1,
      isReleased: false,
      release: undefined,
      releaseOutcomes: [],
      extensionsStarted: 0,
      extensionApplied: 0,
      onReleased: undefined,
    };
  }

  /**
   * Wall-clock time, in milliseconds since the epoch, at which validity ends: the start of the attempt
   * (or extension) that succeeded, plus its TTL, minus the drift allowance. Equally, the moment it
   * succeeded plus the validity it had left then.
   */
  get expiresAt(): number {
    return this.#hold.expiresAt;
  }

  /** Milliseconds of validity left, measured on the monotonic clock; 0 once expired or released. */
  get remainingValidityMs(): number {
    if (this.#isReleased || this.#hold.isReleased) return 0;
    return Math.max(0, this.#hold.validUntil - this.#set.options.clock.now());
  }

  /** `'held'` while validity remains, `'released'` once `release()` was called, else `'expired'`. */
  get state(): LockState {
    if (this.#isReleased) return 'released';
    return this.remainingValidityMs > 0 ? 'held' : 'expired';
  }

  /**
   * Whether this lock was handed out by the `Redlock` of `set` and covers `keys`.
   * @internal
   */
  covers(set: NodeSet, keys: readonly string[]): boolean {
    return set === this.#set && keys.every((key) => this.#keys.includes(key));
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
    return new Lock({ ...init, attempts: 0, ttlMs: hold.ttlMs, validUntil: hold.validUntil, expiresAt: hold.expiresAt }, hold);
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
    const hold = this.#hold;
    const sequence = ++hold.extensionsStarted;
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
    const elapsedMs = clock.now() - start;
    const validity = validityMs({ ttlMs, elapsedMs, driftFactor });
    if (vote.hasQuorum && validity > 0 && !hold.isReleased) {
      if (sequence > hold.extensionApplied) {
        hold.extensionApplied = sequence;
        hold.ttlMs = ttlMs;
        // Validity is what is left now, at the decision: it runs from here, not from the start.
        hold.validUntil = start + elapsedMs + validity;
        hold.expiresAt = Math.floor(wallStart + elapsedMs + validity);
      }
      // A quorum still holds the lock, so nodes that lost our keys (restarted empty) may get them back:
      // the lock regains its full margin. Nodes answering later are re-seeded when they answer.
      const reseeds = calls.map(async (call, nodeIndex) => {
        const answered = vote.outcomes[nodeIndex] !== undefined;
        const status = answered ? vote.outcomes[nodeIndex]?.status : await call.lateAnswer;
        if (status !== 'missing' || hold.isReleased) return;
        const node = nodes[nodeIndex] as ResolvedNode;
        await callNode(node.adapter, nodeIndex, nodeTimeoutMsFor(node, options, ttlMs), clock, extendOn(true)).outcome;
      });
      await Promise.all(reseeds.filter((_, nodeIndex) => vote.outcomes[nodeIndex] !== undefined));
      return this;
    }
    // Failing is not urgent: wait for every node (each bounded by its timeout) to report them all.
    const outcomes = await Promise.all(calls.map((call) => call.outcome));
    const counts = countByStatus(outcomes);
    const isLost = (counts['not-held'] ?? 0) + (counts['missing'] ?? 0) > nodes.length - quorum || hold.isReleased;
    const why = hold.isReleased
      ? 'the lock was released meanwhile'
      : vote.hasQuorum
        ? `no validity left after ${Math.round(elapsedMs)} ms`
        : `${describeOutcomes(outcomes)}, quorum is ${quorum}`;
    throw new LockExtendError(`Could not extend ${this.#describe()}: ${why}`, {
      resources: this.resources,
      nodes: outcomes,
      isLost,
    });
  }

  /**
   * Deletes our keys on every node, whatever the lock's state: compare-and-delete, so it never removes a
   * lock that another owner took after ours expired. Resolves as soon as a quorum of nodes answered (no
   * quorum holds our keys then, so others can acquire), without waiting for slow or far nodes, which finish
   * in the background: `settled` in the result tells when every node did. Calling it again resolves with the
   * first result. A lock that already expired resolves normally with `releasedCount` 0. A re-entrant handle
   * that is not the last one only lets go of its share: no node is called, and `holders` tells how many
   * handles still hold the lock.
   *
   * @throws {@link LockReleaseError} if fewer than a quorum of nodes answered (it waits for every node to
   *   report them all); the keys left behind expire after their TTL. Calling `release()` again then retries.
   */
  release(): Promise<ReleaseResult> {
    const hold = this.#hold;
    if (!this.#isReleased) {
      this.#isReleased = true;
      hold.holders -= 1;
    }
    if (hold.holders > 0) return Promise.resolve({ nodes: [], releasedCount: 0, holders: hold.holders, settled: Promise.resolve([]) });
    hold.isReleased = true;
    hold.release ??= this.#releaseOnEveryNode().catch((error: unknown) => {
      // Not remembered, so that calling release() again retries.
      hold.release = undefined;
      throw error;
    });
    return hold.release;
  }

  /**
   * How the release answered on one node: `undefined` while the lock was not released.
   * @internal
   */
  async releaseStatusOn(nodeIndex: number): Promise<ReleaseNodeOutcome['status'] | undefined> {
    return (await this.#hold.releaseOutcomes[nodeIndex])?.status;
  }

  async #releaseOnEveryNode(): Promise<ReleaseResult> {
    const nodeCount = this.#set.nodes.length;
    const calls = callEveryNode(this.#set, this.#hold.ttlMs, (adapter) => releaseKeys(adapter, this.#keys, this.token, true));
    const outcomes = calls.map((call) => call.outcome);
    this.#hold.releaseOutcomes = outcomes;
    const settled = Promise.all(outcomes);
    const quorum = quorumOf(nodeCount);
    // Either answer confirms that the node holds none of our keys any more.
    const vote = await collectVotes(outcomes, ['released', 'not-held'], quorum);
    this.#hold.onReleased?.(this.#keys);
    if (!vote.hasQuorum) {
      // Failing is not urgent: wait for every node (each bounded by its timeout) to report them all.
      const nodes = await settled;
      throw new LockReleaseError(
        `Could not confirm the release of ${this.#describe()}: ${describeOutcomes(nodes)}, quorum is ${quorum}`,
        { resources: this.resources, nodes },
      );
    }
    // A copy: the vote keeps filling in its own array as the other nodes answer.
    const nodes = [...vote.outcomes];
    const releasedCount = nodes.filter((node) => node?.status === 'released').length;
    return { nodes, releasedCount, holders: 0, settled };
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
