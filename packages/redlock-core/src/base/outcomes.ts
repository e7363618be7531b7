import { NodeError } from './redlock-error.js';

/**
 * What one node answered to one operation. `S` is the operation's own answers (`'acquired' | 'held' |
 * 'restarting' | 'foreign'` for acquire, `'extended' | 'missing' | 'not-held'` for extend, `'released' | 'not-held'` for release); a node
 * that did not answer in time is `'timeout'`, one that failed or replied with an error is `'error'`.
 */
export type NodeOutcome<S extends string> =
  | { readonly nodeIndex: number; readonly status: S }
  | { readonly nodeIndex: number; readonly status: 'timeout' | 'error'; readonly error: NodeError };

/**
 * A node that had not answered when the call resolved, which it did as soon as a quorum had: in
 * `lock.nodes`, `lock.extensionNodes` and a release's `nodes`. It answers later, in the background.
 */
export type PendingNodeOutcome = {
  /** Index of the node in the array passed to the `Redlock` constructor. */
  readonly nodeIndex: number;
  /** Always `'pending'`. */
  readonly status: 'pending';
};

/** One per node index, shared: a pending outcome costs nothing to report. */
const PENDING: PendingNodeOutcome[] = [];

/** Node `nodeIndex`'s {@link PendingNodeOutcome}. */
export function pendingOutcomeOf(nodeIndex: number): PendingNodeOutcome {
  return (PENDING[nodeIndex] ??= Object.freeze({ nodeIndex, status: 'pending' }));
}

/** A copy of `outcomes` as known now, with a {@link PendingNodeOutcome} for each node that has not answered. */
export function outcomesSoFar<O>(outcomes: readonly (O | undefined)[]): (O | PendingNodeOutcome)[] {
  const known: (O | PendingNodeOutcome)[] = outcomes.slice() as (O | PendingNodeOutcome)[];
  for (let nodeIndex = 0; nodeIndex < known.length; nodeIndex += 1) known[nodeIndex] ??= pendingOutcomeOf(nodeIndex);
  return known;
}

/**
 * Per-node outcome of an acquire call: `'held'` means another owner holds at least one of the keys there;
 * `'restarting'` means the node started less than `restartGraceMs` ago and grants nothing yet;
 * `'foreign'` means a key there holds something that is not a lock (another type, or a string without a
 * TTL), or with fencing a counter key something that is not a counter: it never goes away by itself.
 */
export type AcquireNodeOutcome = NodeOutcome<'acquired' | 'held' | 'restarting' | 'foreign'>;
/**
 * Per-node outcome of storing a fencing token: `'foreign'` means a counter key there holds something
 * that is not a counter, which is left alone.
 */
export type FenceNodeOutcome = NodeOutcome<'fenced' | 'foreign'>;
/**
 * Per-node outcome of an extend call: `'missing'` means some of our keys are gone there (the node
 * restarted empty, or a key expired early); `'not-held'` means another owner holds at least one of them.
 */
export type ExtendNodeOutcome = NodeOutcome<'extended' | 'missing' | 'not-held'>;
/** Per-node outcome of a release call: `'not-held'` means none of our keys was left there. */
export type ReleaseNodeOutcome = NodeOutcome<'released' | 'not-held'>;

/**
 * Per-node outcome of an inspection: `'locked'` with the key's remaining milliseconds, `'free'`, or
 * `'foreign'` when the key holds something that is not a lock (another type, or a string without a TTL):
 * no lock can be acquired there until someone deletes it.
 */
export type InspectNodeOutcome =
  | { readonly nodeIndex: number; readonly status: 'locked'; readonly remainingMs: number }
  | NodeOutcome<'free' | 'foreign'>;

/** Resolution value of `redlock.inspect()`: the quorum's view of one resource, without any token. */
export interface LockInspection {
  /** The resource, without the key prefix. */
  readonly resource: string;
  /**
   * Whether a quorum of nodes holds a lock on the resource, so that nobody else can acquire it now. Nodes
   * answering `'foreign'` hold no lock and do not count, though they refuse every acquisition too.
   */
  readonly isLocked: boolean;
  /**
   * Milliseconds until fewer than a quorum of nodes hold the lock (the quorum-th longest remaining TTL), so
   * until the lock frees if nobody extends or releases it; 0 if it is not locked.
   */
  readonly remainingMs: number;
  /**
   * The holder's label (`lock.setLabel()`) as a quorum of nodes report it, or `undefined`: not locked, not
   * labelled, or not yet labelled on a quorum. A node reports only the label its current holder set.
   */
  readonly label: string | undefined;
  /**
   * The fencing token of the lock that wrote {@link label}, as the same quorum reports it: set when that
   * lock was acquired with `fencing: true`, else `undefined` (and always without a label). An election
   * reports a label as its leader only when the label's term is this token.
   */
  readonly labelFencingToken: number | undefined;
  /** Each node's answer, by node index. */
  readonly nodes: readonly InspectNodeOutcome[];
}

/** One failed acquisition attempt: one round over all nodes. */
export interface AcquireAttempt {
  /** Each node's answer, by node index. */
  readonly nodes: readonly AcquireNodeOutcome[];
  /** With fencing, when a quorum granted but fewer stored the fencing token: each node's answer. */
  readonly fenceNodes?: readonly FenceNodeOutcome[];
  /** Milliseconds from the start of the attempt until its outcome was known, on the monotonic clock. */
  readonly elapsedMs: number;
  /**
   * `true` when `waitMs` or the caller's signal ended the attempt before the vote was decided: the nodes
   * still silent then are reported as `'timeout'`, though they may only have been slower than the wait.
   * A single try (`tryAcquire()`, `retryCount: 0`) that failed reports as soon as the nodes still silent
   * could no longer change why it failed: they are `'timeout'` outcomes whose `NodeError` says they had
   * not answered yet (`isTimeout` `false`), and `isCutOff` is not set.
   */
  readonly isCutOff?: true;
}

/**
 * What one node answered to a semaphore's permit request: `'admitted'`; `'full'` when too few of its permits are free
 * there; `'restarting'` inside the node's restart grace; `'foreign'` when the key holds something that is not a
 * semaphore (a lock, another type); `'other-limit'` when it is a semaphore whose holders agreed on another limit.
 */
export type PermitAcquireStatus = 'admitted' | 'full' | 'restarting' | 'foreign' | 'other-limit';
/** Per-node outcome of a permit request (see {@link PermitAcquireStatus}). */
export type PermitAcquireNodeOutcome = NodeOutcome<PermitAcquireStatus>;
/**
 * Per-node outcome of a permit extension (or a read-write lock's): `'missing'` when every entry of ours is
 * gone there (the node restarted empty); `'not-held'` when another holder has one, or one expired there.
 */
export type PermitExtendNodeOutcome = NodeOutcome<'extended' | 'missing' | 'not-held'>;

/**
 * Per-node outcome of a semaphore's inspection: `'semaphore'` with the limit its holders gave and the
 * slots the node holds taken (each with an opaque holder id, never a token, and its milliseconds left
 * there), `'free'` when there is no key, or `'foreign'` when the key is not a semaphore.
 */
export type SemaphoreInspectNodeOutcome =
  | {
      /** The node, by its index in the array passed to the `Redlock` constructor. */
      readonly nodeIndex: number;
      /** The key is a semaphore. */
      readonly status: 'semaphore';
      /** The limit its holders gave. */
      readonly limit: number;
      /** The slots this node holds taken, unexpired by its clock. */
      readonly slots: readonly {
        /** The slot's number, from 1 to the limit. */
        readonly slot: number;
        /** An opaque id of its holder (a hash of the token): the same on every node, and unable to release anything. */
        readonly holder: string;
        /** Milliseconds the slot has left on this node. */
        readonly remainingMs: number;
      }[];
    }
  | NodeOutcome<'free' | 'foreign'>;

/** Resolution value of `semaphore.inspect()`: the quorum's view of one semaphore, without any token. */
export interface SemaphoreInspection {
  /** The resource, without the key prefix. */
  readonly resource: string;
  /** The limit the nodes hold the semaphore with (most of those answering), `undefined` when none does. */
  readonly limit: number | undefined;
  /** How many permits are in use: slots that one holder holds on a quorum of nodes. */
  readonly permitsInUse: number;
  /** How many holders those permits belong to. */
  readonly holders: number;
  /** Each node's answer, by node index. */
  readonly nodes: readonly SemaphoreInspectNodeOutcome[];
}

/** One failed permit attempt: one round over all nodes. */
export interface PermitAttempt {
  /** Each node's answer, by node index. */
  readonly nodes: readonly PermitAcquireNodeOutcome[];
  /** Milliseconds from the start of the attempt until its outcome was known, on the monotonic clock. */
  readonly elapsedMs: number;
  /** `true` when `waitMs` or the caller's signal ended the attempt before its vote was decided (see `AcquireAttempt.isCutOff`). */
  readonly isCutOff?: true;
}

/**
 * What one node answered to a read-write lock request: `'admitted'`; `'writer-holds'` when a writer holds
 * it there; `'readers-hold'` (to a writer) when readers hold it there; `'writer-waiting'` (to a reader)
 * when a waiting writer's intent lives there; `'restarting'` inside the node's restart grace; `'foreign'`
 * when the key holds something that is not a read-write lock (a lock, a semaphore, another type).
 */
export type ReadWriteAcquireStatus = 'admitted' | 'writer-holds' | 'readers-hold' | 'writer-waiting' | 'restarting' | 'foreign';
/** Per-node outcome of a read-write lock request (see {@link ReadWriteAcquireStatus}). */
export type ReadWriteAcquireNodeOutcome = NodeOutcome<ReadWriteAcquireStatus>;

/** One failed attempt to take a read-write lock: one round over all nodes. */
export interface ReadWriteAttempt {
  /** Each node's answer, by node index. */
  readonly nodes: readonly ReadWriteAcquireNodeOutcome[];
  /** Milliseconds from the start of the attempt until its outcome was known, on the monotonic clock. */
  readonly elapsedMs: number;
  /** `true` when `waitMs` or the caller's signal ended the attempt before its vote was decided (see `AcquireAttempt.isCutOff`). */
  readonly isCutOff?: true;
}

/**
 * Per-node outcome of a read-write lock's inspection: `'read-write'` with the live entries the node holds
 * (each with an opaque holder id, never a token, and its milliseconds left there), `'free'` when there is
 * no key, or `'foreign'` when the key is not a read-write lock.
 */
export type ReadWriteInspectNodeOutcome =
  | {
      /** The node, by its index in the array passed to the `Redlock` constructor. */
      readonly nodeIndex: number;
      /** The key is a read-write lock. */
      readonly status: 'read-write';
      /** Its live entries on this node, by its clock. */
      readonly entries: readonly {
        /** `'w'` the writer, `'r'` a reader, `'i'` a waiting writer's intent. */
        readonly kind: 'w' | 'r' | 'i';
        /** An opaque id of its holder (a hash of the token): the same on every node, and unable to release anything. */
        readonly holder: string;
        /** Milliseconds the entry has left on this node. */
        readonly remainingMs: number;
      }[];
    }
  | NodeOutcome<'free' | 'foreign'>;

/** Resolution value of `readWriteLock.inspect()`: the quorum's view of one read-write lock, without any token. */
export interface ReadWriteInspection {
  /** The resource, without the key prefix. */
  readonly resource: string;
  /** Whether a writer holds it on a quorum of nodes. */
  readonly isWriteLocked: boolean;
  /** How many readers hold it on a quorum of nodes. */
  readonly readers: number;
  /**
   * Whether a waiting writer's intent lives on more nodes than a reader's quorum can do without (N − quorum):
   * new readers are refused then. An intent an earlier attempt left on fewer nodes does not count.
   */
  readonly isWriterWaiting: boolean;
  /** Each node's answer, by node index. */
  readonly nodes: readonly ReadWriteInspectNodeOutcome[];
}

/**
 * Resolution value of `lock.release()`, which resolves as soon as a quorum of nodes answered: from then
 * on no quorum holds our keys, so others can acquire. The other nodes finish in the background.
 */
export interface ReleaseResult {
  /**
   * The answers known when the release resolved, by node index: a quorum at least, `'pending'` for a node
   * that was still answering. `settled` has every node's.
   */
  readonly nodes: readonly (ReleaseNodeOutcome | PendingNodeOutcome)[];
  /** How many of those nodes deleted our keys; 0 when the lock had already expired or been released. */
  readonly releasedCount: number;
  /** How many re-entrant handles still hold the lock: 0 once the keys were released. */
  readonly holders: number;
  /**
   * Every node's answer, by node index, once the last one answered or timed out (each within its node
   * timeout). Never rejects. Wait for it when you need to know that no node keeps our keys until their TTL.
   */
  readonly settled: Promise<readonly ReleaseNodeOutcome[]>;
}

/** The node's answer in `outcome`: its status, or `undefined` for a call that timed out or failed. */
export function answerIn<S extends string>(outcome: NodeOutcome<S> | undefined): S | undefined {
  return outcome === undefined || outcome.status === 'timeout' || outcome.status === 'error' ? undefined : (outcome.status as S);
}

/**
 * The words {@link describeOutcomes} gives a `'timeout'` whose node did not time out: one not asked yet, or
 * one that had not answered when a failed single try reported.
 */
const silenceWords = new WeakMap<NodeError, string>();

/**
 * What a trace reports for a `'timeout'` whose node did not time out (see {@link silenceWords}): `'pending'`
 * for one that had not answered yet, `'not-asked'` for one not asked yet; `undefined` for any other outcome.
 */
export function unansweredStatusOf(outcome: { readonly status: string; readonly error?: NodeError }): 'pending' | 'not-asked' | undefined {
  const words = outcome.status === 'timeout' && outcome.error !== undefined ? silenceWords.get(outcome.error) : undefined;
  return words === undefined ? undefined : words === 'not asked' ? 'not-asked' : 'pending';
}

/**
 * `known`, with a `'timeout'` for each node that has no outcome; `silence(nodeIndex)` gives its error's
 * message, and the words for {@link silenceWords} when the node did not time out (`isTimeout` `false`).
 */
function withSilentAsTimeouts<S extends string>(
  known: readonly (NodeOutcome<S> | undefined)[],
  silence: (nodeIndex: number) => readonly [message: string, words?: string],
): NodeOutcome<S>[] {
  return known.map((outcome, nodeIndex) => {
    if (outcome !== undefined) return outcome;
    const [message, words] = silence(nodeIndex);
    const error = new NodeError(message, { nodeIndex, isTimeout: words === undefined, cause: undefined });
    if (words !== undefined) silenceWords.set(error, words);
    return { nodeIndex, status: 'timeout', error };
  });
}

/**
 * The outcomes of an attempt cut off after `elapsedMs`: the answers known then, and a timeout for each node
 * still silent, or not asked yet (`calls.wasSent` false: a woken attempt asks the node that woke it first).
 */
export function outcomesAtCutOff<S extends string>(
  known: readonly (NodeOutcome<S> | undefined)[],
  elapsedMs: number,
  calls: { wasSent(nodeIndex: number): boolean },
): NodeOutcome<S>[] {
  const after = `when the wait ended, after ${Math.round(elapsedMs)} ms`;
  return withSilentAsTimeouts(known, (nodeIndex) =>
    calls.wasSent(nodeIndex) ? [`Node ${nodeIndex} had not answered ${after}`] : [`Node ${nodeIndex} was not asked yet ${after}`, 'not asked'],
  );
}

/**
 * The outcomes of a failed attempt that reports before every node answered, `elapsedMs` after its start: the
 * answers known, and for each node still silent a `'timeout'` whose `NodeError` says it had not answered
 * (`isTimeout` `false`: it did not time out, its answer came too late to matter).
 */
export function outcomesOfSettledFailure<S extends string>(known: readonly (NodeOutcome<S> | undefined)[], elapsedMs: number): NodeOutcome<S>[] {
  const message = (nodeIndex: number): string => `Node ${nodeIndex} had not answered when the attempt's failure was settled, after ${Math.round(elapsedMs)} ms`;
  return withSilentAsTimeouts(known, (nodeIndex) => [message(nodeIndex), 'not answered yet']);
}

/** Counts outcomes by status, e.g. `{ acquired: 2, held: 3 }`. */
export function countByStatus(nodes: readonly { readonly status: string }[]): Readonly<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const node of nodes) counts[node.status] = (counts[node.status] ?? 0) + 1;
  return counts;
}

const STATUS_WORDS: Readonly<Record<string, string>> = {
  held: 'held by another owner',
  'not-held': 'not holding our token',
  missing: 'missing our keys',
  restarting: 'restarted recently',
  foreign: 'holding a foreign key',
  full: 'with too few permits free',
  'other-limit': 'holding a semaphore of another limit',
  'writer-holds': 'held by a writer',
  'readers-hold': 'held by readers',
  'writer-waiting': 'with a writer waiting',
  timeout: 'timed out',
  error: 'failed',
};

/** Describes outcomes for a message, most common first: `3 held by another owner, 1 acquired, 1 timed out`. */
export function describeOutcomes(nodes: readonly NodeOutcome<string>[]): string {
  const statuses = nodes.map((node) => ({ status: ('error' in node ? silenceWords.get(node.error) : undefined) ?? node.status }));
  return Object.entries(countByStatus(statuses))
    .sort(([, a], [, b]) => b - a)
    .map(([status, count]) => `${count} ${STATUS_WORDS[status] ?? status}`)
    .join(', ');
}
