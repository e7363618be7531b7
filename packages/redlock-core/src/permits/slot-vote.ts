// The slot vote of a claim's attempt: a quorum of nodes must give the same slots (a semaphore's), or admit
// with none (a read-write lock's); where the nodes gave different ones, the slots free on a quorum that a
// second round asks for.
import type { FanOut } from '../nodes/fan-out.js';
import { quorumOf } from '../nodes/quorum.js';
import { freeSlotsOf, type PermitAcquireReply } from '../scripts/permit-acquire.js';

/** What a node answered, with the slots it gave when it admitted (none for a read-write lock). */
export type Answer<S extends string> = Pick<PermitAcquireReply, 'slots' | 'reply' | 'freeFrom' | 'recordedLimit'> & { readonly status: S };

/**
 * Counts what the nodes give as they answer, and tells `decide` the slots the moment a quorum of nodes gave
 * the same ones (nodes that see the same slots free do; a read-write lock's nodes admit with none); tells it
 * `undefined` once that is not possible any more, or when `signal` aborts. Asking for the same set on a
 * quorum, rather than a quorum for each slot, keeps an extension simple: it needs a quorum of nodes where
 * every slot is still ours.
 */
export function voteOnSlots<S extends string>(
  calls: FanOut<S>,
  answers: readonly (Answer<S> | undefined)[],
  signal: AbortSignal | undefined,
  decide: (slots: readonly number[] | undefined) => void,
): void {
  const nodeCount = answers.length;
  const quorum = quorumOf(nodeCount);
  let isDecided = false;
  const decideOnce = (slots: readonly number[] | undefined): void => {
    if (isDecided) return;
    isDecided = true;
    signal?.removeEventListener('abort', onAbort);
    decide(slots);
  };
  const onAbort = (): void => decideOnce(undefined);
  if (signal?.aborted === true) return decideOnce(undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  /** How many nodes gave each set of slots, by the set in order (`"2,3"`), or its one slot. */
  const grants = new Map<string | number, number>();
  /** The most nodes that gave one set so far: counts only grow, so the largest is kept as they do. */
  let most = 0;
  let silent = nodeCount;
  calls.listen((outcome) => {
    silent -= 1;
    if (isDecided) return;
    const given = outcome.status === 'admitted' ? answers[outcome.nodeIndex]?.slots : undefined;
    if (given !== undefined) {
      const slots = given.length <= 1 ? given : [...given].sort((a, b) => a - b);
      const id = slots.length === 1 ? (slots[0] as number) : slots.join();
      const count = (grants.get(id) ?? 0) + 1;
      if (count >= quorum) return decideOnce(slots);
      grants.set(id, count);
      if (count > most) most = count;
    }
    if (most + silent < quorum) decideOnce(undefined);
  });
}

/**
 * The `permits` slots that the answers show free (or given to us) on a quorum of nodes at once, for a
 * second round; `undefined` when there are none: the semaphore is full, or too few nodes answered.
 */
export function slotsFreeOnQuorum(answers: readonly (Answer<string> | undefined)[], permits: number): number[] | undefined {
  const quorum = quorumOf(answers.length);
  // Array.from, not map: the answers of nodes still silent are holes, which map would keep.
  const available = Array.from(answers, (answer) => new Set([...(answer?.slots ?? []), ...(answer === undefined ? [] : freeSlotsOf(answer))]));
  const nodesBySlot = new Map<number, number>();
  for (const slots of available) for (const slot of slots) nodesBySlot.set(slot, (nodesBySlot.get(slot) ?? 0) + 1);
  const ranked = [...nodesBySlot].filter(([, count]) => count >= quorum).sort(([slotA, a], [slotB, b]) => b - a || slotA - slotB);
  // A loop, not `map()`: the slots go on to other functions (see `endFailedAttempt`).
  const chosen: number[] = [];
  for (let index = 0; index < ranked.length && index < permits; index += 1) chosen.push((ranked[index] as [number, number])[0]);
  if (chosen.length < permits) return undefined;
  const nodesWithAll = available.filter((slots) => chosen.every((slot) => slots.has(slot))).length;
  return nodesWithAll >= quorum ? chosen.sort((a, b) => a - b) : undefined;
}

/** Whether a node gave exactly `slots`, in any order. */
export function isSameSet(given: readonly number[] | undefined, slots: readonly number[]): boolean {
  return given !== undefined && given.length === slots.length && given.every((slot) => slots.includes(slot));
}
