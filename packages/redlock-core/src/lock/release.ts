// Releasing a hold on the nodes: compare-and-delete on every node that was sent a write, each waking the next
// waiting process of its own queue, decided by a quorum; removing keys a late answer left behind; and below,
// the release of our keys on one node, sent again after an error, which a failed attempt's cleanup uses too.
import { LockReleaseError } from '../base/errors.js';
import { isTraced, traceRelease } from '../base/tracing.js';
import { describeOutcomes, outcomesSoFar, type ReleaseNodeOutcome, type ReleaseResult } from '../base/outcomes.js';
import { FanOut } from '../nodes/fan-out.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import { nearestNodeOf, type NodeSet, type NodeState } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import type { NodeCallRun } from '../nodes/node-call.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { parseHeardReleaseReply, parseReleaseReply, quietReleaseScript, releaseScript, type ReleaseStatus } from '../scripts/release.js';
import { watchHandOff } from './hand-off.js';
import type { Hold } from './hold.js';

/** What a release of `hold` removes, and until when; `confirmedCount` 0 for `release()`'s own (see {@link Release.confirmedCount}). */
export function releaseOf(hold: Hold, announce: boolean, confirmedCount?: number): Release {
  return { keys: hold.keys, token: hold.token, ttlMs: hold.ttlMs, keysExpireAt: hold.keysExpireAt, announce, confirmedCount, wakeTicket: hold.wakeTicket, handsOff: announce && hold.isFair };
}

/** A lock's release ({@link releaseOnEveryNode}), traced on `redlock-core.release` when someone listens. */
export function releaseTraced(hold: Hold, resources: readonly string[]): Promise<ReleaseResult> {
  // No context object and no closure for the usual, untraced release.
  if (!isTraced('release')) return releaseOnEveryNode(hold);
  const nodeCount = hold.set.nodes.length;
  return traceRelease({ resources, holdId: hold.id, quorum: quorumOf(nodeCount), nodeCount }, () => releaseOnEveryNode(hold));
}

/**
 * Releases `hold` on every node it wrote to, a lock's by default, or a claim's `release` with its
 * `errorOf`; resolves once a quorum confirmed (the others finish in the background: `settled`), or once
 * every node reported without one, rejects with `errorOf`'s error, forgetting the release so that calling
 * `release()` again retries.
 */
export async function releaseOnEveryNode(
  hold: Hold,
  release: Release = releaseOf(hold, true, 0),
  errorOf: (nodes: ReleaseNodeOutcome[], why: string) => Error = (nodes, why) =>
    new LockReleaseError(`Could not confirm the release of ${hold.describe()}: ${why}`, { resources: hold.resources, nodes }),
): Promise<ReleaseResult> {
  const startedAtMs = hold.set.options.clock.now();
  hold.releasedAtMs ??= startedAtMs;
  // No call waits past the keys' expiry: a node that has not answered by then keeps none of them (its
  // command, still queued there, deletes what a late grant set). A release begun after it, or of a hold
  // taken over by its token (whose keys' expiry is unknown), waits for the nodes' answers ('not-held').
  const endsBy = release.keysExpireAt > startedAtMs ? release.keysExpireAt : Infinity;
  const calls = releaseWhereWritten(hold.set, release, hold, startedAtMs, endsBy);
  const hasQuorum = await calls.decided();
  hold.onReleased?.(hold.queueKeys);
  if (!hasQuorum) {
    // Failing is not urgent: wait for every node (each bounded by its timeout) to report them all.
    const nodes = await calls.allSettled();
    hold.release = undefined;
    const outcomes = `${describeOutcomes(nodes)}, quorum is ${quorumOf(nodes.length)}`;
    if (!calls.wasCut) throw errorOf(nodes, outcomes);
    const afterMs = Math.round(hold.set.options.clock.now() - startedAtMs);
    throw errorOf(nodes, `its keys expired before a quorum confirmed, after ${afterMs} ms (${outcomes})`);
  }
  // A copy: the fan-out keeps filling in its own array as the other nodes answer.
  const nodes = outcomesSoFar(calls.outcomes);
  let releasedCount = 0;
  for (const node of nodes) if (node.status === 'released') releasedCount += 1;
  return { nodes, releasedCount, holders: 0, settled: calls.allSettled() };
}

/** Calls `remove` for what a late grant left on node `nodeIndex`, unless the latest release there deleted it (so ran after it). */
export function unlessReleasedThere(hold: Pick<Hold, 'releasedOn'>, nodeIndex: number, remove: () => void): void {
  const releasedOn = hold.releasedOn;
  if (releasedOn === undefined) return remove();
  releasedOn.onOutcomeOf(nodeIndex, (outcome) => {
    if (outcome.status !== 'released') remove();
  });
}

/** Removes our keys from a node, unless the latest release there deleted them. */
function removeUnlessReleased(hold: Hold, nodeIndex: number): void {
  unlessReleasedThere(hold, nodeIndex, () => void releaseAndRetry(hold.set, nodeIndex, releaseOf(hold, true)));
}

/**
 * Sends `release` to every node of `hold` that was sent a write, as one fan-out whose vote counts either
 * answer as a confirmation, recorded as `hold.releasedOn`. A module function, so that a call still waiting
 * for a far node keeps alive the fan-out and the release, not the lock (bench/scripts/far-node-retention.mjs).
 */
function releaseWhereWritten(set: NodeSet, release: Release, hold: Pick<Hold, 'written' | 'releasedOn'>, startedAtMs: number, endsBy: number): FanOut<ReleaseStatus> {
  const { nodes, options } = set;
  // Tracked: `redlock.close()` lets every release in flight finish (within its bound) before it closes the adapters.
  const calls = new FanOut<ReleaseStatus>(set, 'release', ['released', 'not-held'], 'tracked').endingBy(endsBy);
  hold.releasedOn = calls;
  calls.listen((outcome) => {
    if (release.confirmedCount !== undefined && (outcome.status === 'released' || outcome.status === 'not-held')) release.confirmedCount += 1;
    sendAgainAfterError(set, release, outcome);
  });
  // Each node wakes the next waiter of its own queue (scripts/wake-queue.ts), or one node alone does.
  const run = release.run ?? (release.handsOff === true ? handingOffRunOf(set, release, hold.written) : releaseRunOf(release));
  const wakingNode = wakingNodeOf(set, release, hold.written, startedAtMs);
  const quiet = wakingNode === -1 ? run : releaseRunOf({ keys: release.keys, token: release.token, announce: false });
  for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) {
    const node = nodes[nodeIndex] as NodeState;
    // Nothing was written on a node that was never sent a write (it was down): it holds none of our keys.
    if (hold.written[nodeIndex] !== true) calls.skip(nodeIndex, node.answerOf<ReleaseStatus>('not-held'));
    else calls.send(nodeIndex, nodeTimeoutMsFor(node, options, release.ttlMs, release.keys.length), wakingNode === -1 || nodeIndex === wakingNode ? run : quiet, 'cleanup', startedAtMs);
  }
  return calls;
}

/**
 * How long after a lock's release woke waiters through every node its next releases by the same `Redlock`
 * wake through one node only, in milliseconds: see {@link wakingNodeOf}.
 */
const ONE_NODE_WAKES_MS = 50;

/**
 * The node through which a lock's release alone wakes the next waiting process, or -1 for every node. A
 * release by the same `Redlock` within {@link ONE_NODE_WAKES_MS} of the lock's latest release that woke
 * through every node (a worker loop that takes the lock back at once) wakes through the nearest node by its
 * round trip that is up and was sent the keys: a waiter that lost the race to the loop costs one message and
 * one node's queue work per release, not one per node (8 processes waiting on one lock: 4.7 → 1.2 wake
 * messages and 48 → 32 node commands per acquisition, bench/RESULTS.md, 2026-11-30). Every node still wakes
 * at least every 50 ms of such releases, so that a waiter close to giving up gets its reservation on a
 * quorum (see `wakeWaitersLua`; with one node alone it never did, and gave up), and a paused or slow waking
 * node costs a waiter at most that. Every node wakes at the release of a holder that waited (its ticket
 * leaves every node's queue), and at a claim's, as before: one node alone at every release was measured
 * worse for the semaphore (RESULTS.md, the contended path's table).
 */
function wakingNodeOf(set: NodeSet, release: Release, written: readonly boolean[], now: number): number {
  if (release.run !== undefined || !release.announce || (release.wakeTicket ?? '') !== '') return -1;
  const key = release.keys[0] as string;
  const wokeEveryNodeAt = set.everyNodeWakes.get(key);
  if (wokeEveryNodeAt === undefined || now - wokeEveryNodeAt >= ONE_NODE_WAKES_MS) {
    // Bounded: a lock whose entry is forgotten wakes through every node at its next release.
    if (set.everyNodeWakes.size >= EVERY_NODE_WAKES_KEPT) set.everyNodeWakes.clear();
    set.everyNodeWakes.set(key, now);
    return -1;
  }
  return nearestNodeOf(set, written);
}

/** How many locks' latest wakes through every node a `Redlock` keeps (see {@link wakingNodeOf}). */
const EVERY_NODE_WAKES_KEPT = 1_000;

/**
 * A node that had not answered when the hold was granted set our keys later: the rule of every kind of hold.
 * While the hold is active, its release will reach that node; once it is not, `remove` runs (by default: the
 * keys there are removed, unless the release already deleted them there, so ran after the acquisition).
 */
export function removeLateGrant(hold: Hold, nodeIndex: number, remove = (): void => removeUnlessReleased(hold, nodeIndex)): void {
  if (hold.isActive) return;
  if (!hasExtensionsInFlight(hold)) return remove();
  // An extension still running may count this node's keys in its quorum and make the hold active
  // again: removing them now would leave it extended on fewer nodes than it counted. Decide once every
  // running extension settled; an inactive hold cannot start another.
  void Promise.allSettled(hold.extensionsInFlight as Set<Promise<unknown>>).then(() => {
    if (!hold.isActive) remove();
  });
}

/** Whether an extension of `hold` is running: the set stays, empty, once its first extension settled. */
export function hasExtensionsInFlight(hold: Pick<Hold, 'extensionsInFlight'>): boolean {
  return (hold.extensionsInFlight?.size ?? 0) > 0;
}

/** The first pause before a release that failed on a node is sent again, in milliseconds; it doubles each time. */
export const FIRST_RELEASE_RETRY_MS = 25;

/** The longest pause between two releases sent again to one node, in milliseconds. */
export const MAX_RELEASE_RETRY_MS = 1_000;

/** What to remove from one node: our keys, while they can still be there. */
export interface Release {
  readonly keys: readonly string[];
  readonly token: string;
  /** The TTL the keys were last given, in milliseconds: it bounds each call's timeout. */
  readonly ttlMs: number;
  /** Monotonic time after which the keys have expired on the node anyway: a failed release is sent again until then. */
  readonly keysExpireAt: number;
  /** Whether to wake waiters: for a lock that was held, not for a failed attempt's cleanup. */
  readonly announce: boolean;
  /** With `announce`: the releaser's queue ticket, whose member is taken out of the wait queues first (see wake-queue.ts). */
  readonly wakeTicket?: string;
  /** With `announce`: a fair lock's, whose releaser makes sure the waiter it woke took the lock (see `watchHandOff`). */
  readonly handsOff?: boolean;
  /**
   * For `lock.release()`'s own release: how many nodes confirmed it so far, re-sends included. Until a
   * quorum did, the lock may still block others, so `redlock.close()` keeps re-sending it (see
   * {@link sendAgainAfterError}). `undefined` for any other removal.
   */
  confirmedCount?: number;
  /** What a call to one node runs, when it is not the lock's release script (a semaphore's permits have their own). */
  readonly run?: NodeCallRun<ReleaseStatus>;
}

/**
 * Releases our keys on node `nodeIndex`, on a call of its own: a cleanup, sent even to a node that is down,
 * and waited for by `redlock.close()`. Unless `isAwaited`, it never keeps the process alive.
 */
export function releaseOnNode(set: NodeSet, nodeIndex: number, release: Release, isAwaited: boolean): FanOut<ReleaseStatus> {
  const node = set.nodes[nodeIndex] as NodeState;
  const call = new FanOut<ReleaseStatus>(set, release.announce ? 'release' : 'cleanup', undefined, isAwaited ? 'tracked' : 'background');
  call.send(nodeIndex, nodeTimeoutMsFor(node, set.options, release.ttlMs, release.keys.length), release.run ?? releaseRunOf(release), 'cleanup');
  return call;
}

/**
 * Sends a release that failed (refused, or dropped with the connection) again in the background, at
 * doubling pauses, until a call is answered or the keys would have expired anyway. Does nothing for any
 * other outcome: a call that timed out is still queued on the connection, and runs when the node answers.
 *
 * When `redlock.close()` begins, a re-send waiting for its pause goes out at once, and the series ends
 * if that one fails too (the node is known down), unless it is a held lock's release that no quorum
 * confirmed yet: that one goes on at its pauses, within `close()`'s bound.
 */
export function sendAgainAfterError(set: NodeSet, release: Release, outcome: ReleaseNodeOutcome): void {
  if (outcome.status !== 'error') return;
  const { clock } = set.options;
  const { lifecycle } = set;
  let pauseMs = FIRST_RELEASE_RETRY_MS;
  let timer: unknown;
  // The whole series counts as background work for `redlock.close()`, which waits for it within its bound.
  let finish = (): void => undefined;
  lifecycle.track(new Promise<void>((resolve) => (finish = resolve)));
  const sendAgain = (nodeIndex: number): void => {
    timer = undefined;
    void releaseOnNode(set, nodeIndex, release, false).outcomeOf(nodeIndex).then(retryAfterError);
  };
  const stopWatchingClose = lifecycle.onClose(() => {
    if (timer === undefined) return;
    lifecycle.clearTimer(timer);
    sendAgain(outcome.nodeIndex);
  });
  const end = (): void => {
    stopWatchingClose();
    finish();
  };
  const retryAfterError = (next: ReleaseNodeOutcome): void => {
    if (next.status !== 'error') {
      if (release.confirmedCount !== undefined && next.status !== 'timeout') release.confirmedCount += 1;
      return end();
    }
    if (clock.now() + pauseMs >= release.keysExpireAt) return end();
    const isUnconfirmed = release.confirmedCount !== undefined && release.confirmedCount < quorumOf(set.nodes.length);
    if (lifecycle.isClosed && !isUnconfirmed) return end();
    // Unref'd, so a pending retry does not keep the process alive (the keys expire by themselves), and
    // cleared by `redlock.close()` once it stops waiting; after that, none is set.
    timer = lifecycle.setTimer(() => {
      pauseMs = Math.min(MAX_RELEASE_RETRY_MS, pauseMs * 2);
      sendAgain(next.nodeIndex);
    }, pauseMs);
    if (timer === undefined) end();
  };
  retryAfterError(outcome);
}

/**
 * {@link releaseOnNode}, sent again after an error (see {@link sendAgainAfterError}); resolves with the first
 * call's outcome, never rejects. `isAwaited` when an awaited operation waits for it; re-sends are background work.
 */
export async function releaseAndRetry(set: NodeSet, nodeIndex: number, release: Release, isAwaited = false): Promise<ReleaseNodeOutcome> {
  const outcome = await releaseOnNode(set, nodeIndex, release, isAwaited).outcomeOf(nodeIndex);
  sendAgainAfterError(set, release, outcome);
  return outcome;
}

/**
 * The release script's call of a fair lock's release, which asks which waiting process heard its wake: the first
 * node where one did starts {@link watchHandOff} for it, once per release. Otherwise as {@link releaseRunOf}'s.
 */
function handingOffRunOf(set: NodeSet, release: Release, written: readonly boolean[]): NodeCallRun<ReleaseStatus> {
  const { keys } = release;
  let isWatching = false;
  return new ScriptReader(releaseScript, keys, [release.token, release.wakeTicket ?? '', '1'], (reply) => {
    const { status, heard } = parseHeardReleaseReply(reply, keys.length);
    if (heard !== '' && !isWatching) {
      isWatching = true;
      watchHandOff(set, keys, release.ttlMs, written, heard);
    }
    return status;
  });
}

/** Parses the release script's reply for one key: made once, where most releases made a parser each. */
const parseOneKeyRelease = (reply: unknown): ReleaseStatus => parseReleaseReply(reply, 1);

/** What a node call of `release` runs when it has no `run` of its own: the release script, waking waiters when `announce`. */
export function releaseRunOf(release: Pick<Release, 'keys' | 'token' | 'announce' | 'wakeTicket'>): NodeCallRun<ReleaseStatus> {
  const { keys, token, announce, wakeTicket = '' } = release;
  const parse = keys.length === 1 ? parseOneKeyRelease : (reply: unknown): ReleaseStatus => parseReleaseReply(reply, keys.length);
  return new ScriptReader(announce ? releaseScript : quietReleaseScript, keys, announce && wakeTicket !== '' ? [token, wakeTicket] : [token], parse);
}
