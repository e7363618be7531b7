import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import type { ReleaseNodeOutcome } from '../base/outcomes.js';
import { FanOut } from '../nodes/fan-out.js';
import type { NodeCallRun } from '../nodes/node-call.js';
import { quorumOf } from '../nodes/quorum.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { parseReleaseReply, quietReleaseScript, releaseScript } from '../scripts/release.js';

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

/** What a release call answers: the node deleted our keys, or held none of them. */
export type ReleaseStatus = 'released' | 'not-held';

/** Parses the release script's reply for one key: made once, where most releases made a parser each. */
const parseOneKeyRelease = (reply: unknown): ReleaseStatus => parseReleaseReply(reply, 1);

/** What a node call of `release` runs when it has no `run` of its own: the release script, waking waiters when `announce`. */
export function releaseRunOf(release: Pick<Release, 'keys' | 'token' | 'announce' | 'wakeTicket'>): NodeCallRun<ReleaseStatus> {
  const { keys, token, announce, wakeTicket = '' } = release;
  const parse = keys.length === 1 ? parseOneKeyRelease : (reply: unknown): ReleaseStatus => parseReleaseReply(reply, keys.length);
  return new ScriptReader(announce ? releaseScript : quietReleaseScript, keys, announce && wakeTicket !== '' ? [token, wakeTicket] : [token], parse);
}
