// The acquisition of a semaphore's permits or a read-write lock: attempts over the nodes until one wins a
// quorum, with retries, waits and wakes.
import { type Clock, recheckDelayMs } from '../base/clock.js';
import { PermitError } from '../base/claim-errors.js';
import { describeAttemptCount } from '../base/describe.js';
import { describeOutcomes } from '../base/outcomes.js';
import { KEPT_LATEST_ATTEMPTS } from '../acquire/attempt-log.js';
import { retryDelayMs, startWaitDeadline, WaitExpired, wokenRestMs } from '../acquire/retry.js';
import type { NodeSet } from '../nodes/node-state.js';
import { longestNodeTimeoutMs } from '../nodes/node-latency.js';
import { quorumOf } from '../nodes/quorum.js';
import { leadNodeIndexIn } from '../nodes/lead-node.js';
import { type KeyWatch, type ReleaseNotifications, type ReleaseSource, waitForRetry, waitUntilListening } from '../nodes/release-notifications.js';
import { defaultRetriesAdvice } from '../settings/resolve-options.js';
import type { PermitSettings, SemaphoreSettings } from '../settings/resolve-permits.js';
import { type FailedPermitAttempt, runPermitAttempt } from './permit-attempt.js';
import { describePermits, Permit } from './permit.js';

/** One validated call of a semaphore's `acquire()` or `tryAcquire()`. */
export interface PermitRequest extends PermitSettings {
  readonly ttlMs: number;
}

/** What the loop reads of a validated call. */
type ClaimRequest = Pick<PermitRequest, 'ttlMs' | 'signal' | 'waitMs' | 'retryCount' | 'retryDelayMs' | 'retryJitterMs'>;

/** A failed attempt, as the loop reads it. */
interface FailedClaimAttempt {
  readonly nodes: readonly { readonly status: string }[];
  readonly isCutOff?: true;
}

/** What the loop of {@link acquireClaim} needs of one kind of claim: a semaphore's permits, a read-write lock. */
export interface ClaimAcquisition<H, F extends FailedClaimAttempt> {
  readonly key: string;
  /** One attempt; with `leadNodeIndex` (a woken attempt) it may ask that node alone first: `'full-at-lead'`. */
  attempt(attemptNumber: number, signal: AbortSignal, leadNodeIndex: number | undefined): Promise<H | F | 'full-at-lead'>;
  isHeld(result: H | F): result is H;
  /** Whether a failed attempt ends the call at once: retrying cannot mend it. */
  isFinal(failure: F): boolean;
  /**
   * Whether a node told a failed attempt that others hold what it asked for: only then is a release worth
   * listening for (nodes that cannot be reached announce nothing, and subscribing there would only wait).
   */
  isTaken(failure: F): boolean;
  /** The error of a call whose attempts failed, or that `waitMs` ended. */
  errorOf(attempts: readonly F[], attemptCount: number, waitMs?: number): Error;
}

/**
 * Runs attempts until one wins a quorum: timed retries after `retryDelayMs` ± jitter, counted by
 * `retryCount`, and between them an extra attempt whenever a release is announced on the key, which uses
 * up no retry and never postpones a timed one, and asks the lead node alone first (see
 * `runPermitAttempt`) while it answers; once it failed, the watch covers every node. After a woken
 * attempt that failed, announcements rest for `wokenRestMs` (4 ms or 9 × its duration, longer when many
 * processes wait): anyone who can PUBLISH on a node can send one. When the watch begins, the loop waits
 * for its subscriptions (no longer than a release heard meanwhile or the timed retry) and looks once more,
 * at no cost to the retries: a release may have come before it listened (as a lock's queue does, see
 * `Acquisitions`). Ends at once for a final failure (a foreign key, another limit), at `signal` (or
 * `waitMs`), and at `close()`.
 */
export async function acquireClaim<H, F extends FailedClaimAttempt>(
  set: NodeSet,
  notifications: ReleaseNotifications | undefined,
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
  const attempts: F[] = [];
  let attemptCount = 0;
  let watch: KeyWatch | undefined;
  try {
    let timedTries = 0;
    let retryAt = 0;
    let isWoken = false;
    /** Whether the woken attempt is the look once listening, which no announcement asked for: no rest follows it. */
    let isLook = false;
    /** Whether woken attempts ask the lead node first: while it answered the latest full attempt. */
    let isLeadAnswering = true;
    let wakes: ClaimWakes | undefined;
    // The node a woken attempt asks first: the one waiters watch, where a release shows soonest.
    const leadNodeIndex = leadNodeIndexIn(set, [claim.key]);
    for (;;) {
      const startedAt = clock.now();
      const result: H | F | 'full-at-lead' = await claim.attempt(attemptCount + 1, signal, isWoken && isLeadAnswering ? leadNodeIndex : undefined);
      if (result !== 'full-at-lead' && claim.isHeld(result)) return result;
      // Found taken at the lead node, a woken attempt asked no other node: no attempt to count or report.
      const failure = result === 'full-at-lead' ? undefined : (result as F);
      if (failure !== undefined) {
        attemptCount += 1;
        keepAttempt(attempts, failure);
      }
      signal.throwIfAborted();
      if (failure !== undefined && claim.isFinal(failure)) throw claim.errorOf(attempts, attemptCount);
      if (failure !== undefined) {
        // As a lock's queue notes its lead node's answer (see `WaitQueue.noteLeadAnswer`).
        const leadStatus = failure.nodes[leadNodeIndex]?.status;
        const isAnswering = leadStatus !== 'timeout' && leadStatus !== 'error';
        if (!isAnswering && isLeadAnswering) watch?.watchEveryNode();
        isLeadAnswering = isAnswering;
      }
      const now = clock.now();
      if (isWoken) {
        // As a lock's waiters rest (see `WaitQueue.restWakes`), the crowd's rest included.
        if (wakes !== undefined && !isLook) wakes.restUntil = now + wokenRestMs(now - startedAt, watch?.crowdRestMs(request.retryDelayMs) ?? 0);
      } else {
        timedTries += 1;
        if (timedTries > request.retryCount) throw claim.errorOf(attempts, attemptCount);
        retryAt = now + retryDelayMs(request.retryDelayMs, request.retryJitterMs);
      }
      // As a lock's queue does: listen for releases once the resource was found taken.
      if (watch === undefined && (failure === undefined || claim.isTaken(failure))) {
        watch = watchReleases(set, notifications, claim.key, request.ttlMs, leadNodeIndex);
        if (watch !== undefined) {
          if (!isLeadAnswering) watch.watchEveryNode();
          wakes = new ClaimWakes(watch, clock);
          // The holder may have released before we listened: look once more when listening, at no cost to
          // the retries; a release heard meanwhile or the timed retry does not wait for that, and the look
          // then comes when the subscriptions are in place.
          const listening = await waitUntilListening(watch, wakes, clock, retryAt, signal);
          if (listening !== 'ready') wakes.lookWhenReady();
          isWoken = listening !== 'timer';
          isLook = listening === 'ready';
          continue;
        }
      }
      isWoken = (await waitForRetry(clock, Math.max(0, retryAt - clock.now()), wakes, signal)) === 'release';
      isLook = isWoken && wakes?.wasLook === true;
    }
  } catch (error) {
    if (error instanceof WaitExpired) throw claim.errorOf(attempts, attemptCount, request.waitMs);
    throw error;
  } finally {
    watch?.close();
    deadline?.stop();
    callSignal?.dispose();
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

/** Runs a semaphore's attempts until one wins a quorum: see {@link acquireClaim}. */
export function acquirePermits(set: NodeSet, notifications: ReleaseNotifications | undefined, semaphore: SemaphoreSettings, request: PermitRequest): Promise<Permit> {
  return acquireClaim<Permit, FailedPermitAttempt>(set, notifications, request, {
    key: semaphore.key,
    attempt: (attemptNumber, signal, leadNodeIndex) => runPermitAttempt(set, semaphore, request.permits, request.ttlMs, attemptNumber, signal, leadNodeIndex),
    isHeld: (result): result is Permit => result instanceof Permit,
    isFinal: (failure) => failure.reason === 'foreign-key' || failure.reason === 'limit-mismatch',
    isTaken: (failure) => failure.nodes.some((node) => node.status === 'full'),
    errorOf: (attempts, attemptCount, waitMs) => permitAcquireError(semaphore, request, attempts, attemptCount, waitMs),
  });
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

/**
 * Watches the release announcements of `key` (on its lead node and announce node), where the nodes can
 * notify, giving the subscriptions the longest node timeout, as a lock's waiter does: the announce node may
 * be a far one.
 */
function watchReleases(set: NodeSet, notifications: ReleaseNotifications | undefined, key: string, ttlMs: number, leadNodeIndex: number): KeyWatch | undefined {
  if (notifications === undefined) return undefined;
  return notifications.watch([key], longestNodeTimeoutMs(set.nodes, set.options, ttlMs), leadNodeIndex);
}

/** Keeps the first attempt and the latest {@link KEPT_LATEST_ATTEMPTS}. */
function keepAttempt<F>(attempts: F[], attempt: F): void {
  attempts.push(attempt);
  if (attempts.length > KEPT_LATEST_ATTEMPTS + 1) attempts.splice(1, 1);
}

/**
 * What wakes a claim's waiter: `watch`'s announcements, each held back until {@link restUntil} on the clock
 * (one during the rest comes at its end), and the look once the watch is listening, when the waiter
 * stopped waiting for that before it was ({@link lookWhenReady}), which no rest holds back.
 */
class ClaimWakes implements ReleaseSource {
  /** Before this time on the clock, announcements wait for it (after a woken attempt that failed). */
  restUntil = -Infinity;
  readonly #watch: KeyWatch;
  readonly #clock: Clock;
  /** Whether the watch became ready, with the look still to come. */
  #isLookDue = false;
  /** Fires the pending {@link onNextRelease} callback, for the look. */
  #onLook: (() => void) | undefined;
  /** Whether the last wake handed out was a look, which no announcement asked for (see {@link wasLook}). */
  #wasLook = false;

  constructor(watch: KeyWatch, clock: Clock) {
    this.#watch = watch;
    this.#clock = clock;
    // A subscription that came in late is a look of the waiter's own, not an announced release.
    watch.setLateLook(() => this.#look());
  }

  /** Whether the last wake was a look: the attempt it starts rests no announcement after it. */
  get wasLook(): boolean {
    return this.#wasLook;
  }

  /** Wakes the waiter once, when the watch is ready. */
  lookWhenReady(): void {
    void this.#watch.ready.then(() => this.#look());
  }

  #look(): void {
    this.#isLookDue = true;
    this.#onLook?.();
  }

  onNextRelease(callback: () => void): () => void {
    if (this.#isLookDue) {
      this.#isLookDue = false;
      this.#wasLook = true;
      // Never from within this call, as a watch's own pending release: the caller has not its canceller yet.
      queueMicrotask(callback);
      return () => undefined;
    }
    let timer: unknown;
    let isDone = false;
    let cancelWatch: (() => void) | undefined;
    const cancel = (): void => {
      isDone = true;
      cancelWatch?.();
      this.#clock.clearTimeout(timer);
      if (this.#onLook === onLook) this.#onLook = undefined;
    };
    const fire = (): void => {
      if (isDone) return;
      cancel();
      callback();
    };
    const onLook = (): void => {
      if (isDone) return;
      this.#isLookDue = false;
      this.#wasLook = true;
      fire();
    };
    this.#onLook = onLook;
    const fireRelease = (): void => {
      if (isDone) return;
      this.#wasLook = false;
      fire();
    };
    cancelWatch = this.#watch.onNextRelease(() => {
      const restMs = this.restUntil - this.#clock.now();
      if (restMs <= 0) fireRelease();
      else timer = this.#clock.setTimeout(fireRelease, recheckDelayMs(restMs));
    });
    return cancel;
  }
}
