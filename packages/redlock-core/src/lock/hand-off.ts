// After a fair lock's release woke the next waiter: the releaser makes sure the lock was handed on.
import { FanOut } from '../nodes/fan-out.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import { nearestNodeOf, type NodeSet, type NodeState } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { handOffScript, parseHandOffReply } from '../scripts/hand-off.js';

/** The shortest pause before the releaser's first ask, and between its first {@link EVEN_CHECKS} asks, in milliseconds. */
const HAND_OFF_CHECK_MS = 10;

/** How many asks come at the first pause; the pauses double after them. */
const EVEN_CHECKS = 10;

/** How long after the release the releaser may still ask, in milliseconds: the pauses double up to it. */
const HAND_OFF_WATCH_MS = 5_000;

/**
 * Makes sure a fair lock's release handed the lock on to `member`, the waiting process its wake reached first. That
 * process may have died between the wake and its attempt: a process killed with SIGKILL keeps its connections open
 * while the system tears it down (15-50 ms for a Node.js process here), so the release found it listening, and
 * woke it alone; no other release comes, and every waiter behind it waited for a timed retry (90-180 ms at the
 * defaults, at every such kill in `bench/scripts/fair-queue.mjs --fair --kill-waiter`). So the releaser asks its
 * nearest node that is up, among `written` (those it held the keys on), 10 ms after the release (or twice the
 * nodes' round trip, if longer), again at that pause for its first {@link EVEN_CHECKS} asks, then at doubling
 * pauses, until {@link HAND_OFF_WATCH_MS}, whether that process is still first at a free key there (see
 * scripts/hand-off.ts): dead, it is dropped and the live one behind it woken, whose attempt drops it on every
 * node it asks (a process gone has no listener), and the asks go on for the one woken. An ask that failed goes
 * again at the next pause, to the nearest node up then. They end once the process awaited took the lock or left
 * the queue there, when no node written is up, or when the `Redlock` closes. One ask per hand-off in the usual
 * case, which wakes nobody: the waiter took the lock within 10 ms.
 */
export function watchHandOff(set: NodeSet, keys: readonly string[], ttlMs: number, written: readonly boolean[], member: string): void {
  if (nearestNodeOf(set, written) === -1) return;
  const { lifecycle, options } = set;
  const firstPauseMs = Math.max(HAND_OFF_CHECK_MS, 2 * quorumRttMsOf(set));
  let awaited = member;
  let checks = 0;
  let waitedMs = 0;
  const askAfter = (pauseMs: number): void => {
    if (waitedMs + pauseMs > HAND_OFF_WATCH_MS) return;
    waitedMs += pauseMs;
    lifecycle.setTimer(ask, pauseMs);
  };
  const parse = (reply: unknown): HandOffStatus => {
    awaited = parseHandOffReply(reply);
    return awaited === '' ? 'done' : 'due';
  };
  const ask = (): void => {
    const nodeIndex = nearestNodeOf(set, written);
    if (nodeIndex === -1) return;
    checks += 1;
    const call = new FanOut<HandOffStatus>(set, 'hand-off', undefined, 'background');
    call.send(nodeIndex, nodeTimeoutMsFor(set.nodes[nodeIndex] as NodeState, options, ttlMs, keys.length), new ScriptReader(handOffScript, keys, [awaited], parse), 'cleanup');
    void call.outcomeOf(nodeIndex).then((outcome) => {
      // An ask that failed (a node error, a timeout) asks again, as one that found the process still due does.
      if (outcome.status !== 'done') askAfter(checks < EVEN_CHECKS ? firstPauseMs : firstPauseMs * 2 ** (checks - EVEN_CHECKS + 1));
    });
  };
  askAfter(firstPauseMs);
}

/** What a hand-off ask found: a process still due to take the lock, or none. */
type HandOffStatus = 'due' | 'done';

/** The round trip within which a quorum of the nodes answers, in milliseconds: the quorum-th shortest measured (0 while unmeasured). */
function quorumRttMsOf(set: NodeSet): number {
  const rtts = set.nodes.map((node) => node.latency.smoothedRttMs ?? 0).sort((a, b) => a - b);
  return rtts[quorumOf(rtts.length) - 1] ?? 0;
}
