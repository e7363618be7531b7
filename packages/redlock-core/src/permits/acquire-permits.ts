// The acquisition of a semaphore's permits or a read-write lock: the wait loop (acquire/wait-loop.ts) over
// a claim's attempts, guarded against `close()` and timed by `waitMs`.
import { PermitError } from '../base/claim-errors.js';
import { describeAttemptCount } from '../base/describe.js';
import { describeOutcomes } from '../base/outcomes.js';
import { AttemptLog } from '../acquire/attempt-log.js';
import { startWaitDeadline, WaitExpired } from '../acquire/retry.js';
import { type Contender, type FailedAttempt, waitForHold } from '../acquire/wait-loop.js';
import type { WaitQueues } from '../acquire/wait-queue.js';
import type { NodeSet } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import type { ReleaseNotifications } from '../nodes/release-notifications.js';
import { defaultRetriesAdvice } from '../settings/resolve-options.js';
import { permitIntentOf } from '../scripts/permit-acquire.js';
import type { PermitSettings, SemaphoreSettings } from '../settings/resolve-permits.js';
import { withdrawIntent } from './claim.js';
import { type FailedPermitAttempt, runPermitAttempt } from './permit-attempt.js';
import { describePermits, Permit } from './permit.js';

/** One validated call of a semaphore's `acquire()` or `tryAcquire()`. */
export interface PermitRequest extends PermitSettings {
  readonly ttlMs: number;
}

/** What the wait loop reads of a validated call. */
type ClaimRequest = Pick<PermitRequest, 'ttlMs' | 'signal' | 'waitMs' | 'retryCount' | 'retryDelayMs' | 'retryJitterMs'>;

/** One kind of claim as the wait loop sees it (a semaphore's permits, a read-write lock's read or write lock): see `Contender`. */
export interface ClaimAcquisition<H, F extends FailedAttempt> extends Omit<Contender<H, F>, 'attempt' | 'errorOf'> {
  /** One attempt; with `leadNodeIndex` (a woken attempt) it may ask that node alone first: `'full-at-lead'`. */
  attempt(attemptNumber: number, signal: AbortSignal, leadNodeIndex: number | undefined): Promise<H | F | 'full-at-lead'>;
  /** The error of a call whose attempts failed, or that `waitMs` ended. */
  errorOf(attempts: readonly F[], attemptCount: number, waitMs?: number): Error;
}

/**
 * Acquires a claim in the wait loop (see `waitForHold`: the turn among this process's waiters, timed
 * retries, a woken attempt at each release heard), or in one attempt with `retryCount: 0`. Ends at once for
 * a final failure (a foreign key, another limit), at `signal` (or `waitMs`), and at `close()`. Hands the
 * claim back with its release waking this process's next waiter.
 */
export async function acquireClaim<H extends { afterRelease(callback: () => void): void }, F extends FailedAttempt>(
  set: NodeSet,
  notifications: ReleaseNotifications | undefined,
  queues: WaitQueues,
  request: ClaimRequest,
  claim: ClaimAcquisition<H, F>,
): Promise<H> {
  const { clock } = set.options;
  const { lifecycle } = set;
  request.signal?.throwIfAborted();
  const callSignal = request.signal === undefined ? undefined : lifecycle.signalWith(request.signal);
  const baseSignal = callSignal?.signal ?? lifecycle.signal;
  const deadline = request.waitMs === Infinity ? undefined : startWaitDeadline(clock, request.waitMs, baseSignal);
  const signal = deadline?.signal ?? baseSignal;
  const contender: Contender<H, F> = {
    queueKeys: claim.queueKeys,
    keys: claim.keys,
    isExclusive: claim.isExclusive,
    attempt: (attemptNumber, leadNodeIndex) => claim.attempt(attemptNumber, signal, leadNodeIndex),
    isHeld: (result): result is H => claim.isHeld(result),
    isFinal: (failure) => claim.isFinal(failure),
    isTaken: (failure) => claim.isTaken(failure),
    errorOf: (log, waitMs) => claim.errorOf(log.kept(), log.count, waitMs),
  };
  try {
    const held = request.retryCount === 0 ? await attemptOnce(contender, signal) : await waitForHold(set, notifications, queues, { ...request, signal }, contender);
    held.afterRelease(() => queues.wake(claim.queueKeys));
    return held;
  } finally {
    deadline?.stop();
    callSignal?.dispose();
  }
}

/** One attempt, for a call with `retryCount: 0`: no queue, no lead node first. */
async function attemptOnce<H, F extends FailedAttempt>(contender: Contender<H, F>, signal: AbortSignal): Promise<H> {
  const log = new AttemptLog<F>();
  try {
    const result = await contender.attempt(1, undefined);
    if (typeof result !== 'string' && contender.isHeld(result)) return result;
    if (typeof result !== 'string') log.add(result);
    signal.throwIfAborted();
    throw contender.errorOf(log);
  } catch (error) {
    if (error instanceof WaitExpired) throw contender.errorOf(log, error.waitMs);
    throw error;
  }
}

/**
 * Runs one acquisition of a claim (`run`) guarded against `close()` (see `Lifecycle.guard`): the caller gets
 * a {@link RedlockClosedError} at once, `close()` waits for the attempt in flight and its cleanup, and
 * releases the hold it still yields. `operation` names the call in the error: `'acquire permits of'`.
 */
export function guardedAcquisition<H extends { release(): Promise<unknown> } | undefined>(set: NodeSet, operation: string, resource: string, run: () => Promise<H>): Promise<H> {
  return set.lifecycle.guard({ operation, resources: [resource], when: ' while the call ran' }, run, releaseAbandoned);
}

function releaseAbandoned(held: { release(): Promise<unknown> } | undefined): Promise<unknown> {
  return held === undefined ? Promise.resolve() : held.release();
}

/**
 * Runs a semaphore's attempts until one wins a quorum: see {@link acquireClaim}. A request for more than 1
 * permit leaves one intent for all its attempts where too few are free (see `permitAcquireScript`): the
 * permit's release frees it, and it is withdrawn when the call gives up.
 */
export async function acquirePermits(
  set: NodeSet,
  notifications: ReleaseNotifications | undefined,
  queues: WaitQueues,
  semaphore: SemaphoreSettings,
  request: PermitRequest,
): Promise<Permit> {
  const { key } = semaphore;
  const { permits, ttlMs } = request;
  // One intent id for every attempt of this call: each attempt refreshes the same intent.
  const intent = permitIntentOf(permits, ttlMs, request.retryDelayMs, request.retryJitterMs);
  let mayHaveLeftIntent = false;
  /** How the call ended, for a late answer that left the intent after the fact: see `onLateAnswer`. */
  let ended: Permit | 'gave-up' | undefined;
  // A node that timed out may run the request later and leave the intent then: the permit's release frees
  // it (or frees it there at once, once released); after a give-up it is withdrawn there.
  const onLateAnswer = (nodeIndex: number, answer: string | undefined): void => {
    if (answer !== 'full') return;
    if (ended === 'gave-up') withdrawIntent(set, key, intent.id, intent.ttlMs, [nodeIndex]);
    else ended?.settleLeftBehind(nodeIndex);
  };
  try {
    const held = await acquireClaim<Permit, FailedPermitAttempt>(set, notifications, queues, request, {
      queueKeys: [`permits ${key}`],
      keys: [key],
      // Others may take the permits left.
      isExclusive: false,
      attempt: async (attemptNumber, signal, leadNodeIndex) => {
        const result = await runPermitAttempt(set, semaphore, permits, intent, ttlMs, attemptNumber, signal, leadNodeIndex, intent.id === '' ? undefined : onLateAnswer);
        // Any failed attempt may have left the intent: where it found too few free, or did not hear back.
        if (intent.id !== '' && !(result instanceof Permit)) mayHaveLeftIntent = true;
        return result;
      },
      isHeld: (result): result is Permit => result instanceof Permit,
      isFinal: (failure) => failure.reason === 'foreign-key' || failure.reason === 'limit-mismatch',
      isTaken: (failure) => failure.nodes.some((node) => node.status === 'full'),
      errorOf: (attempts, attemptCount, waitMs) => permitAcquireError(semaphore, request, attempts, attemptCount, waitMs),
    });
    // Earlier attempts may have left the intent on nodes the winning one did not ask: its release goes there too.
    if (mayHaveLeftIntent) held.releaseOnEveryNode();
    ended = held;
    return held;
  } catch (error) {
    ended = 'gave-up';
    if (mayHaveLeftIntent) withdrawIntent(set, key, intent.id, intent.ttlMs);
    throw error;
  }
}

/** The error of an acquisition whose attempts failed, or that `waitMs` ended. */
export function permitAcquireError(
  semaphore: SemaphoreSettings,
  request: PermitSettings,
  attempts: readonly FailedPermitAttempt[],
  attemptCount: number,
  waitMs?: number,
): PermitError {
  // An attempt cut off by `waitMs` decides nothing: the latest that ran to its vote says why.
  const last = [...attempts].reverse().find((attempt) => attempt.isCutOff !== true) ?? attempts.at(-1);
  const what = describePermits(request.permits, semaphore.limit, semaphore.resource);
  const reason = last?.reason ?? 'no-permits-free';
  const whenWaitRanOut = waitMs === undefined ? '' : `, when \`waitMs\` (${waitMs} ms) ran out`;
  let why: string;
  if (last === undefined) why = `\`waitMs\` (${waitMs} ms) ran out before any attempt`;
  else if (reason === 'limit-mismatch') why = `${describeOutcomes(last.nodes)}, quorum is ${quorumOf(last.nodes.length)}: held with limit ${last.recordedLimit}, and every client of a semaphore must give the same limit`;
  else why = `${describeOutcomes(last.nodes)}, quorum is ${quorumOf(last.nodes.length)}${whenWaitRanOut}${reason === 'no-permits-free' ? defaultRetriesAdvice(request, waitMs) : ''}`;
  const after = last === undefined ? '' : ` ${describeAttemptCount(attemptCount, attempts.length)}`;
  return new PermitError(`Could not acquire ${what}${after}: ${why}`, {
    operation: 'acquire',
    resource: semaphore.resource,
    permits: request.permits,
    reason,
    attempts,
    attemptCount,
    ...(waitMs === undefined ? {} : { waitMs }),
    ...(last?.recordedLimit === undefined ? {} : { recordedLimit: last.recordedLimit }),
  });
}
