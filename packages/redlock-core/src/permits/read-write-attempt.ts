// One attempt to take a read-write lock over every node: the vote, the handle it wins, or the cleanup of a failed one.
import type { ReadWriteFailureReason } from '../base/claim-errors.js';
import { validityMs } from '../base/clock.js';
import { countByStatus, type NodeOutcome, type ReadWriteAcquireStatus, type ReadWriteAttempt } from '../base/outcomes.js';
import { createLockToken } from '../base/token.js';
import { FanOut } from '../nodes/fan-out.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { parseReadWriteAcquireReply, readWriteAcquireArgsOf, readWriteAcquireScript, readWriteFieldOf, type ReadWriteMode, type WriterIntent } from '../scripts/read-write-acquire.js';
import type { ReadWriteSettings } from '../settings/resolve-permits.js';
import { endFailedAttempt, writtenBy } from './attempt-rounds.js';
import { ReadWriteHandle } from './read-write-handle.js';

/** A failed attempt, with why it failed: see `ReadWriteFailureReason`. */
export interface FailedReadWriteAttempt extends ReadWriteAttempt {
  readonly reason: Exclude<ReadWriteFailureReason, 'not-held'>;
}

/** Whether a node refused because the lock is taken there: the script then changed nothing but a writer's intent. */
export function isTakenThere(status: string): boolean {
  return status === 'writer-holds' || status === 'readers-hold' || status === 'writer-waiting';
}

/** Whether a node refused the request: the script then wrote nothing of this attempt's token there. */
function isRefusal(status: string): boolean {
  return isTakenThere(status) || status === 'restarting' || status === 'foreign';
}

/**
 * Asks every node at once to admit a reader or the writer (`mode`) for `ttlMs` with a fresh token, and
 * resolves with the {@link ReadWriteHandle} the moment a quorum admitted it with validity left. Otherwise it
 * frees what the attempt wrote (on every node that did not refuse, and on a node that timed out once it
 * answers that it admitted) and resolves with the failed attempt. A writer whose attempt finds readers
 * leaves its intent (`intent`) there, which this cleanup keeps: it stops new readers while the writer
 * waits. `signal` cuts the vote short. With `leadNodeIndex` (a woken attempt), the lead node is asked
 * alone first: `'full-at-lead'` when the lock is taken there, and no other node was asked. A failed
 * attempt's node that answers only after its timeout is told to `onLateAnswer`.
 */
export async function runReadWriteAttempt(
  set: NodeSet,
  lock: ReadWriteSettings,
  mode: ReadWriteMode,
  intent: WriterIntent,
  ttlMs: number,
  attemptNumber: number,
  signal: AbortSignal | undefined,
  leadNodeIndex?: number,
  onLateAnswer?: (nodeIndex: number, answer: ReadWriteAcquireStatus | undefined) => void,
): Promise<ReadWriteHandle | FailedReadWriteAttempt | 'full-at-lead'> {
  const { clock, driftFactor, restartGraceMs } = set.options;
  const { key, resource } = lock;
  const token = createLockToken();
  const start = clock.now();
  const reader = new ScriptReader<ReadWriteAcquireStatus>(readWriteAcquireScript, [key], readWriteAcquireArgsOf(token, ttlMs, mode, restartGraceMs, intent), parseReadWriteAcquireReply);
  const rounds: FanOut<ReadWriteAcquireStatus>[] = [];
  let probe: FanOut<ReadWriteAcquireStatus> | undefined;
  let leadOutcome: NodeOutcome<ReadWriteAcquireStatus> | undefined;
  if (leadNodeIndex !== undefined) {
    // A woken attempt asks the lead node alone first: when a release wakes every waiting client, all but
    // one find the lock taken again there, at the cost of one call and no cleanup.
    probe = new FanOut<ReadWriteAcquireStatus>(set, 'acquire');
    probe.send(leadNodeIndex, nodeTimeoutMsFor(set.nodes[leadNodeIndex] as NodeState, set.options, ttlMs), reader);
    leadOutcome = await probe.outcomeUnlessCut(leadNodeIndex, signal);
    if (leadOutcome !== undefined && isTakenThere(leadOutcome.status)) return 'full-at-lead';
    rounds.push(probe);
  }
  // Cut off while the lead node had not answered: no other node is asked, and the probe is the last round.
  const isCut = probe !== undefined && signal?.aborted === true;
  const calls = isCut ? (probe as FanOut<ReadWriteAcquireStatus>) : sendRound(set, ttlMs, reader, leadOutcome?.status === 'admitted' ? leadOutcome : undefined);
  if (!isCut) rounds.push(calls);
  const hasQuorum = isCut ? false : await calls.decided(signal);
  const elapsedMs = clock.now() - start;
  const validity = validityMs({ ttlMs, elapsedMs, driftFactor });
  const field = readWriteFieldOf(mode, token);
  if (hasQuorum && validity > 0 && set.servers.configurationError === undefined) {
    const written = writtenBy(rounds, set.nodes.length);
    const handle = new ReadWriteHandle({
      set,
      resource,
      key,
      token,
      mode,
      fields: [field],
      alsoFrees: intent.id,
      attempts: attemptNumber,
      ttlMs,
      // Validity is what is left now, at the decision: it runs from here, not from the start.
      validUntil: start + elapsedMs + validity,
      expiresAt: Math.floor(clock.wallNow() + validity),
      keysExpireAt: clock.now() + ttlMs,
      written,
    });
    // A node that admits (or leaves a writer's intent) after the lock was released holds it for nothing: it
    // is freed there.
    for (const round of rounds) {
      for (let nodeIndex = 0; nodeIndex < written.length; nodeIndex += 1) {
        if (round.wasSent(nodeIndex)) round.onAnswerOf(nodeIndex, (answer) => handle.settleAnswer(nodeIndex, answer));
      }
    }
    return handle;
  }
  const failed = await endFailedAttempt(set, rounds, { key, token, ttlMs }, isRefusal, onLateAnswer, !hasQuorum && signal?.aborted === true, elapsedMs);
  return { ...failed, reason: failureOf(failed.nodes, hasQuorum) };
}

/** Why an attempt without the lock failed. */
function failureOf(nodes: ReadWriteAttempt['nodes'], hasQuorum: boolean): FailedReadWriteAttempt['reason'] {
  if (hasQuorum) return 'no-validity';
  const counts = countByStatus(nodes);
  const denying = nodes.length - quorumOf(nodes.length);
  const foreign = counts['foreign'] ?? 0;
  if (foreign > denying) return 'foreign-key';
  const taken = (counts['writer-holds'] ?? 0) + (counts['readers-hold'] ?? 0) + (counts['writer-waiting'] ?? 0);
  return taken + foreign > denying ? 'locked' : 'nodes-unreachable';
}

/**
 * Sends the attempt's round to every node, but to the lead node when it admitted the probe
 * (`admittedAtLead`): it holds the lock for our token, and its answer counts in this round's vote.
 */
function sendRound(
  set: NodeSet,
  ttlMs: number,
  reader: ScriptReader<ReadWriteAcquireStatus>,
  admittedAtLead: NodeOutcome<ReadWriteAcquireStatus> | undefined,
): FanOut<ReadWriteAcquireStatus> {
  const calls = new FanOut<ReadWriteAcquireStatus>(set, 'acquire', 'admitted');
  if (admittedAtLead === undefined) return calls.sendToEveryNode(ttlMs, 1, reader);
  const startedAt = set.options.clock.now();
  for (let nodeIndex = 0; nodeIndex < set.nodes.length; nodeIndex += 1) {
    if (nodeIndex === admittedAtLead.nodeIndex) calls.skip(nodeIndex, admittedAtLead);
    else calls.send(nodeIndex, nodeTimeoutMsFor(set.nodes[nodeIndex] as NodeState, set.options, ttlMs, 1), reader, 'call', startedAt);
  }
  return calls;
}
