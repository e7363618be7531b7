// One round of a permit request over every node: the vote on slots, the permit it wins, or the cleanup of a failed round.
import { validityMs } from '../base/clock.js';
import type { PermitFailureReason } from '../base/claim-errors.js';
import { countByStatus, type NodeOutcome, type PermitAcquireStatus, type PermitAttempt } from '../base/outcomes.js';
import { createLockToken } from '../base/token.js';
import { FanOut } from '../nodes/fan-out.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import type { NodeSet, NodeState } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { ScriptReader } from '../scripts/lua-script.js';
import { parsePermitAcquireReply, permitAcquireArgsOf, permitAcquireScript, type PermitAcquireReply } from '../scripts/permit-acquire.js';
import type { WriterIntent } from '../scripts/read-write-acquire.js';
import type { SemaphoreSettings } from '../settings/resolve-permits.js';
import { endFailedAttempt, writtenBy } from './attempt-rounds.js';
import { Permit } from './permit.js';

/** A failed round, with why it failed: see `PermitFailureReason`. */
export interface FailedPermitAttempt extends PermitAttempt {
  readonly reason: Exclude<PermitFailureReason, 'not-held'>;
  /** For `'limit-mismatch'`: the limit a node holds the semaphore with. */
  readonly recordedLimit?: number;
}

/** Whether a node refused the request: the script then changed nothing there. */
function isRefusal(status: string): boolean {
  return status === 'full' || status === 'restarting' || status === 'foreign' || status === 'other-limit';
}

/** One round of an attempt: its calls, and what each node answered as they come. */
interface Round {
  readonly calls: FanOut<PermitAcquireStatus>;
  readonly answers: (PermitAcquireReply | undefined)[];
}

/**
 * Asks every node at once to give a holder `permits` free slots of `semaphore` for `ttlMs`, with a fresh
 * token, each node looking at the slots from one random slot on (see `permitAcquireScript`), and resolves
 * with the {@link Permit} the moment a quorum of nodes gave the same slots with validity left; the slots
 * another node gave are freed there at once. When the nodes gave different slots (contenders reached them
 * in different orders, or their free slots differ) while their answers show slots free on a quorum, a
 * second round asks every node for exactly those. Otherwise it frees what the rounds took (on every node
 * that did not refuse, and on a node that timed out once it answers that it admitted) and resolves with
 * the failed attempt. A node that has too few free keeps the request's `intent` there (see
 * `permitAcquireScript`), which this cleanup keeps: the permit's release frees it, or the caller withdraws
 * it. `signal` cuts the vote short. With `leadNodeIndex` (a woken attempt), the lead node is asked alone
 * first: `'full-at-lead'` when it has too few free, and no other node was asked. A failed attempt's node
 * that answers only after its timeout is told to `onLateAnswer`.
 */
export async function runPermitAttempt(
  set: NodeSet,
  semaphore: SemaphoreSettings,
  permits: number,
  intent: WriterIntent,
  ttlMs: number,
  attemptNumber: number,
  signal: AbortSignal | undefined,
  leadNodeIndex?: number,
  onLateAnswer?: (nodeIndex: number, answer: PermitAcquireStatus | undefined) => void,
): Promise<Permit | FailedPermitAttempt | 'full-at-lead'> {
  const { clock, driftFactor, restartGraceMs } = set.options;
  const { key, limit } = semaphore;
  const nodeCount = set.nodes.length;
  const token = createLockToken();
  const start = clock.now();
  /**
   * Sends a round to every node, or to node `onlyNodeIndex` alone. `admitted` (a node that admitted exactly
   * `slots` in an earlier round of this attempt) is not asked again: its answer counts in this round.
   */
  const sendRound = (firstSlot: number, slots?: readonly number[], onlyNodeIndex?: number, admitted?: { readonly nodeIndex: number; readonly round: Round }): Round => {
    const args = permitAcquireArgsOf(token, ttlMs, permits, limit, restartGraceMs, firstSlot, intent, slots);
    const answers: (PermitAcquireReply | undefined)[] = new Array(nodeCount);
    const readers = Array.from(
      { length: nodeCount },
      (_, nodeIndex) =>
        new ScriptReader<PermitAcquireStatus>(permitAcquireScript, [key], args, (reply) => {
          const answer = parsePermitAcquireReply(reply, permits, limit);
          answers[nodeIndex] = answer;
          return answer.status;
        }),
    );
    const calls = new FanOut<PermitAcquireStatus>(set, 'acquire');
    const sentAt = clock.now();
    for (let nodeIndex = 0; nodeIndex < nodeCount; nodeIndex += 1) {
      if (onlyNodeIndex !== undefined && nodeIndex !== onlyNodeIndex) continue;
      if (nodeIndex === admitted?.nodeIndex) {
        answers[nodeIndex] = admitted.round.answers[nodeIndex];
        calls.skip(nodeIndex, admitted.round.calls.outcomes[nodeIndex] as NodeOutcome<PermitAcquireStatus>);
        continue;
      }
      const reader = readers[nodeIndex] as ScriptReader<PermitAcquireStatus>;
      calls.send(nodeIndex, nodeTimeoutMsFor(set.nodes[nodeIndex] as NodeState, set.options, ttlMs), reader, 'call', sentAt);
    }
    return { calls, answers };
  };
  const firstSlot = 1 + Math.floor(Math.random() * limit);
  const rounds: Round[] = [];
  /** The slots the lead node gave a woken attempt: what every node is then asked for. */
  let givenAtLead: readonly number[] | undefined;
  let admittedAtLead: { readonly nodeIndex: number; readonly round: Round } | undefined;
  if (leadNodeIndex !== undefined) {
    // A woken attempt asks the lead node alone first: when a release wakes every waiting client, all but
    // one find the permit taken again there, at the cost of one call and no cleanup.
    const probe = sendRound(firstSlot, undefined, leadNodeIndex);
    const leadStatus = (await probe.calls.outcomeUnlessCut(leadNodeIndex, signal))?.status;
    if (leadStatus === 'full') return 'full-at-lead';
    rounds.push(probe);
    givenAtLead = probe.answers[leadNodeIndex]?.slots;
    // The lead node holds the slots it gave for our token: its answer counts in the next round, which
    // then asks only the other nodes.
    if (leadStatus === 'admitted' && givenAtLead !== undefined) admittedAtLead = { nodeIndex: leadNodeIndex, round: probe };
  }
  // Cut off while the lead node had not answered: no other node is asked (the probe's round is the last).
  if (leadNodeIndex === undefined || signal?.aborted !== true) rounds.push(givenAtLead === undefined ? sendRound(firstSlot) : sendRound(0, givenAtLead, undefined, admittedAtLead));
  let slots = await slotsWithQuorum(rounds.at(-1) as Round, signal);
  // Nodes that hold the semaphore with another limit give no slots: the second round counts without them.
  if (slots === undefined && signal?.aborted !== true) {
    const planned = slotsFreeOnQuorum((rounds.at(-1) as Round).answers, permits);
    if (planned !== undefined) {
      rounds.push(sendRound(0, planned));
      slots = await slotsWithQuorum(rounds.at(-1) as Round, signal);
    }
  }
  const fanOuts = rounds.map((round) => round.calls);
  const elapsedMs = clock.now() - start;
  const validity = validityMs({ ttlMs, elapsedMs, driftFactor });
  if (slots !== undefined && validity > 0 && set.servers.configurationError === undefined) {
    const written = writtenBy(fanOuts, nodeCount);
    const permit = new Permit({
      set,
      resource: semaphore.resource,
      key,
      token,
      permits,
      slots,
      limit,
      alsoFrees: intent.id,
      attempts: attemptNumber,
      ttlMs,
      // Validity is what is left now, at the decision: it runs from here, not from the start.
      validUntil: start + elapsedMs + validity,
      expiresAt: Math.floor(clock.wallNow() + validity),
      keysExpireAt: clock.now() + ttlMs,
      written,
    });
    // A node that gave other slots, now or in a late answer, holds them for nothing: they are freed there;
    // so is an intent left after the release. The permit's own release reaches every node that was sent
    // the request.
    for (const { calls, answers } of rounds) {
      for (let nodeIndex = 0; nodeIndex < nodeCount; nodeIndex += 1) {
        // An answer read already, before the release was sent, needs nothing unless it gave other slots.
        const known = answers[nodeIndex];
        if (!calls.wasSent(nodeIndex) || (known !== undefined && (known.status !== 'admitted' || isSameSet(known.slots, slots)))) continue;
        calls.onAnswerOf(nodeIndex, (answer) => {
          if (answer === 'admitted') permit.settleGrant(nodeIndex, answers[nodeIndex]?.slots ?? []);
          else if (answer === 'full') permit.settleLeftBehind(nodeIndex);
        });
      }
    }
    return permit;
  }

  const failed = await endFailedAttempt(set, fanOuts, { key, token, ttlMs }, isRefusal, onLateAnswer, slots === undefined && signal?.aborted === true, elapsedMs);
  const reason = failureOf(failed.nodes, slots !== undefined);
  const recordedLimit = reason === 'limit-mismatch' ? (rounds.at(-1) as Round).answers.find((answer) => answer?.recordedLimit !== undefined)?.recordedLimit : undefined;
  return { ...failed, reason, ...(recordedLimit === undefined ? {} : { recordedLimit }) };
}

/** Whether `given` holds the same slots as `slots`. */
function isSameSet(given: readonly number[] | undefined, slots: readonly number[]): boolean {
  return given !== undefined && given.length === slots.length && given.every((slot) => slots.includes(slot));
}

/**
 * The `permits` slots that the answers show free (or given to us) on a quorum of nodes at once, for a
 * second round; `undefined` when there are none: the semaphore is full, or too few nodes answered.
 */
function slotsFreeOnQuorum(answers: readonly (PermitAcquireReply | undefined)[], permits: number): number[] | undefined {
  const quorum = quorumOf(answers.length);
  // Array.from, not map: the answers of nodes still silent are holes, which map would keep.
  const available = Array.from(answers, (answer) => new Set([...(answer?.slots ?? []), ...(answer?.free ?? [])]));
  const nodesBySlot = new Map<number, number>();
  for (const slots of available) for (const slot of slots) nodesBySlot.set(slot, (nodesBySlot.get(slot) ?? 0) + 1);
  const chosen = [...nodesBySlot]
    .filter(([, count]) => count >= quorum)
    .sort(([slotA, a], [slotB, b]) => b - a || slotA - slotB)
    .slice(0, permits)
    .map(([slot]) => slot);
  if (chosen.length < permits) return undefined;
  const nodesWithAll = available.filter((slots) => chosen.every((slot) => slots.has(slot))).length;
  return nodesWithAll >= quorum ? chosen.sort((a, b) => a - b) : undefined;
}

/**
 * Counts the slots the nodes give as they answer, and resolves with them the moment a quorum of nodes gave
 * the same slots (nodes that see the same slots free do); with `undefined` once that is not possible any
 * more, or when `signal` aborts. Asking for the same set on a quorum, rather than a quorum for each slot,
 * keeps an extension simple: it needs a quorum of nodes where every slot is still ours.
 */
function slotsWithQuorum({ calls, answers }: Round, signal: AbortSignal | undefined): Promise<readonly number[] | undefined> {
  const nodeCount = answers.length;
  const quorum = quorumOf(nodeCount);
  return new Promise((resolve) => {
    let isDecided = false;
    const decide = (slots: readonly number[] | undefined): void => {
      if (isDecided) return;
      isDecided = true;
      signal?.removeEventListener('abort', onAbort);
      resolve(slots);
    };
    const onAbort = (): void => decide(undefined);
    if (signal?.aborted === true) return decide(undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    /** How many nodes gave each set of slots, by the set in order (`"2,3"`), or its one slot. */
    const grants = new Map<string | number, number>();
    let silent = nodeCount;
    calls.listen((outcome) => {
      silent -= 1;
      if (isDecided) return;
      const given = outcome.status === 'admitted' ? answers[outcome.nodeIndex]?.slots : undefined;
      let most = 0;
      if (given !== undefined) {
        const slots = given.length === 1 ? given : [...given].sort((a, b) => a - b);
        const id = slots.length === 1 ? (slots[0] as number) : slots.join();
        const count = (grants.get(id) ?? 0) + 1;
        if (count >= quorum) return decide(slots);
        grants.set(id, count);
      }
      for (const count of grants.values()) most = Math.max(most, count);
      if (most + silent < quorum) decide(undefined);
    });
  });
}

/**
 * Why a round without a permit failed. Keys that are not the semaphore's (`'foreign-key'`), or that hold it
 * with another limit (`'limit-mismatch'`), end the call only when they alone deny a quorum: a node or two
 * left over from an earlier configuration are refusals like a full node's, while a quorum agrees.
 */
function failureOf(nodes: PermitAttempt['nodes'], hasQuorum: boolean): FailedPermitAttempt['reason'] {
  if (hasQuorum) return 'no-validity';
  const counts = countByStatus(nodes);
  const denying = nodes.length - quorumOf(nodes.length);
  const foreign = counts['foreign'] ?? 0;
  const otherLimit = counts['other-limit'] ?? 0;
  if (foreign > denying) return 'foreign-key';
  if (otherLimit > denying) return 'limit-mismatch';
  if ((counts['full'] ?? 0) + foreign + otherLimit > denying) return 'no-permits-free';
  // Every node answered, yet no slot got a quorum: contenders took different slots on different nodes.
  const unreachable = (counts['timeout'] ?? 0) + (counts['error'] ?? 0) + (counts['restarting'] ?? 0);
  return unreachable === 0 ? 'no-permits-free' : 'nodes-unreachable';
}
