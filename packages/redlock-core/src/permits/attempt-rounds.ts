// What the attempts of a semaphore and of a read-write lock share: where a won claim was written, and the
// end of a failed attempt, whose rounds' writes are freed as `cleanUpFailedAttempt` (lock/cleanup.ts) frees a lock's keys.
import { type NodeOutcome, outcomesAtCutOff } from '../base/outcomes.js';
import { type Release, releaseAndRetry } from '../lock/cleanup.js';
import type { FanOut } from '../nodes/fan-out.js';
import type { NodeSet } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { hashReleaseRunOf } from './claim.js';

/** By node index, whether any of an attempt's `rounds` sent its request there: where its claim's release goes. */
export function writtenBy(rounds: readonly { wasSent(nodeIndex: number): boolean }[], nodeCount: number): boolean[] {
  const written = new Array<boolean>(nodeCount);
  for (let nodeIndex = 0; nodeIndex < nodeCount; nodeIndex += 1) written[nodeIndex] = rounds.some((round) => round.wasSent(nodeIndex));
  return written;
}

/**
 * Ends an attempt whose rounds (`rounds`, its fan-outs in order) won nothing, `elapsedMs` after its start:
 * frees what they wrote with `token`, and resolves with the last round's outcomes. Cut off by its signal
 * (`isCutOff`: before it had a quorum), it reports the answers known at that moment: later ones did not count.
 *
 * The release announces nothing: the rounds freed nothing anyone waits for. Every node that did not refuse
 * in each round it was sent is sent the release (with re-sends); a node that timed out is sent it again if
 * it answers late that it admitted, and `onLateAnswer` hears any late answer. Waits for each node's first
 * release, except on a node whose call timed out: as for a lock's failed attempt (see
 * `cleanUpFailedAttempt` in `lock/cleanup.ts`), that release would likely time out too and hold the caller
 * up for a second timeout, and it goes out on the node's connection behind the request it frees. Nodes it
 * does not wait for at all (a probe, or a first contact once refusals settled the failure; not after a
 * cut-off) are reported as not answered.
 */
export async function endFailedAttempt<S extends string>(
  set: NodeSet,
  rounds: readonly FanOut<S>[],
  written: { readonly key: string; readonly token: string; readonly ttlMs: number },
  isRefusal: (status: S | 'timeout' | 'error') => boolean,
  onLateAnswer: ((nodeIndex: number, answer: S | undefined) => void) | undefined,
  isCutOff: boolean,
  elapsedMs: number,
): Promise<{ readonly nodes: NodeOutcome<S>[]; readonly elapsedMs: number; readonly isCutOff?: true }> {
  const { key, token, ttlMs } = written;
  const last = rounds[rounds.length - 1] as FanOut<S>;
  const cutOff = isCutOff ? outcomesAtCutOff(last.outcomes, elapsedMs, last) : undefined;
  // Not waited for, as a lock's failed attempt does not wait for them (see `Attempt`): a silent node's
  // probe still pending, and, once the refusals of the last round settle why the attempt failed, a first
  // contact still pending.
  let refusals = 0;
  for (const outcome of last.outcomes) if (outcome !== undefined && outcome.status !== 'timeout' && outcome.status !== 'error' && isRefusal(outcome.status)) refusals += 1;
  const isSettled = cutOff === undefined && refusals > set.nodes.length - quorumOf(set.nodes.length);
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
  if (cutOff !== undefined) return { nodes: cutOff, elapsedMs, isCutOff: true };
  return { nodes: await last.settledExcept(isLeftOut, elapsedMs), elapsedMs };
}
