import type { AcquireNodeOutcome } from '../base/outcomes.js';
import type { Lock } from '../lock/lock.js';
import type { FanOut } from '../nodes/fan-out.js';
import type { NodeState } from '../nodes/node-state.js';
import { type AcquireStatus, isRefusal } from '../scripts/acquire.js';
import { warnIfMisconfigured } from './misconfigured-nodes.js';

/**
 * A node that had not answered when `lock` was granted may still set our keys later (see
 * `Lock.removeLateGrant`); one that answers with a setup mistake is reported once; one that refused, now
 * or later, is taken as soon as it is free (see `Lock.fillInWhenFree`). One listener on the
 * fan-out for every node (the lock's `nodes`, known at the decision, are replayed to it at once). A module
 * function, so that what a call still waiting for a far node keeps alive is its listener, the lock and the
 * resources: not the attempt (see bench/scripts/far-node-retention.mjs).
 */
export function watchLateGrants(lock: Lock, calls: FanOut<AcquireStatus>, nodes: readonly NodeState[]): void {
  const { nodes: known, resources } = lock;
  // Every node answered by the decision, none with a timeout or an error: nothing can come later.
  if (fillInIfEveryAnswerIn(lock)) return;
  calls.listen((outcome) => {
    const { nodeIndex, status } = outcome;
    const isLate = known[nodeIndex]?.status === 'pending';
    if (status === 'acquired') {
      // Granted at the decision, the lock holds it; granted since, it is a late grant.
      if (isLate) lock.removeLateGrant(nodeIndex);
      return;
    }
    if (isFreedLater(status)) lock.fillInWhenFree(nodeIndex);
    if (!isLate && (isRefusal(status) || !calls.wasSent(nodeIndex))) return;
    if (status === 'timeout' || status === 'error') {
      void calls.lateAnswerOf(nodeIndex).then((answer) => {
        if (answer === 'acquired') lock.removeLateGrant(nodeIndex);
      });
    }
    // A setup mistake that a node reveals only after the quorum granted cannot fail this call any more:
    // the lock stands on the nodes that granted it, and the mistake is reported once per node.
    if (isLate) warnIfMisconfigured(resources, nodes[nodeIndex] as NodeState, outcome);
  });
}

/**
 * Whether a node refused with what may go soon: another owner's keys (a rival's racing attempt). A node in
 * its restart grace grants nothing there, by its definition: the first extension re-seeds it.
 */
function isFreedLater(status: string | undefined): boolean {
  return status === 'held';
}

/**
 * When every node's outcome in `lock.nodes` is known and is an answer (no timeout, no error, none still
 * pending), has the lock take the nodes that refused it as soon as they are free (see
 * `Lock.fillInWhenFree`), and returns `true`: nothing can come later. Else returns `false` and does
 * nothing: the listener of {@link watchLateGrants} takes each outcome as it comes. One pass for both, as
 * nearly every lock is granted by nodes that all answered.
 */
function fillInIfEveryAnswerIn(lock: Lock): boolean {
  const outcomes = lock.nodes;
  let acquiredCount = 0;
  for (const outcome of outcomes) {
    if (outcome.status === 'pending' || outcome.status === 'timeout' || outcome.status === 'error') return false;
    if (outcome.status === 'acquired') acquiredCount += 1;
  }
  if (acquiredCount === outcomes.length) return true;
  for (let nodeIndex = 0; nodeIndex < outcomes.length; nodeIndex += 1) {
    const status = (outcomes[nodeIndex] as AcquireNodeOutcome).status;
    if (isFreedLater(status)) lock.fillInWhenFree(nodeIndex);
  }
  return true;
}
