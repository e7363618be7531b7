// Why an attempt failed, for every kind of hold (a lock, a semaphore's permits, a read-write lock), and
// when the refusals known of it already settle that.
import { countByStatus } from '../base/outcomes.js';
import { quorumOf } from '../nodes/quorum.js';

/** Why an attempt failed, in words common to every kind of hold: `'taken'` is each kind's own (held, full, locked). */
export type FailureVerdict = 'no-validity' | 'foreign-key' | 'limit-mismatch' | 'taken' | 'nodes-unreachable';

type Answered = { readonly status: string };

/**
 * Why an attempt failed, from its nodes' outcomes:
 * - `'no-validity'`: a quorum granted (`hasQuorum`), too late for any validity to remain;
 * - `'foreign-key'`: keys that are not the hold's deny a quorum on their own; `'limit-mismatch'`: keys
 *   that hold a semaphore with another limit do. Either ends the call: no retry changes them. A node or two
 *   left over from an earlier configuration are refusals like a taken node's, while a quorum agrees;
 * - `'taken'`: the nodes that refused (`isTaken`: others hold it there; or a foreign key, another limit)
 *   deny a quorum on their own, or every node answered and still no quorum agreed (permits' contenders took
 *   different slots on different nodes);
 * - `'nodes-unreachable'` otherwise: nodes that timed out, failed or were inside their restart grace made
 *   the difference.
 */
export function failureVerdictOf(nodes: readonly Answered[], hasQuorum: boolean, isTaken: (status: string) => boolean): FailureVerdict {
  if (hasQuorum) return 'no-validity';
  const counts = countByStatus(nodes);
  const denying = nodes.length - quorumOf(nodes.length);
  const foreign = counts['foreign'] ?? 0;
  const otherLimit = counts['other-limit'] ?? 0;
  if (foreign > denying) return 'foreign-key';
  if (otherLimit > denying) return 'limit-mismatch';
  if (nodes.filter(({ status }) => isTaken(status)).length + foreign + otherLimit > denying) return 'taken';
  const unreachable = (counts['timeout'] ?? 0) + (counts['error'] ?? 0) + (counts['restarting'] ?? 0);
  return unreachable === 0 ? 'taken' : 'nodes-unreachable';
}

/**
 * Whether the refusals known of a failed vote settle its {@link failureVerdictOf} whatever the nodes still
 * silent (`undefined`) answer: foreign keys or another limit already deny a quorum, or the refusals do and
 * neither can any more. A failure that nodes which timed out, failed or restarted may have caused is never
 * settled before every node answered: its report names them all.
 */
export function isSettledByRefusals(outcomes: readonly (Answered | undefined)[], quorum: number, isTaken: (status: string) => boolean): boolean {
  const tolerated = outcomes.length - quorum;
  let silent = 0;
  let foreign = 0;
  let otherLimit = 0;
  let refused = 0;
  for (const outcome of outcomes) {
    if (outcome === undefined) {
      silent += 1;
      continue;
    }
    const { status } = outcome;
    if (status === 'foreign') foreign += 1;
    else if (status === 'other-limit') otherLimit += 1;
    else if (!isTaken(status)) continue;
    refused += 1;
  }
  return foreign > tolerated || otherLimit > tolerated || (refused > tolerated && foreign + silent <= tolerated && otherLimit + silent <= tolerated);
}
