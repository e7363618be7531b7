// The calls of a semaphore and a read-write lock, written once for both: argument checks, the trace, `using()`,
// and a claim's intent around the acquisition every hold shares (acquire/acquisitions.ts); and what each kind
// of claim tells them.
import { runUnderLock } from '../acquire/using.js';
import type { Acquisitions } from '../acquire/acquisitions.js';
import { gaveUpOf } from '../acquire/acquire-error.js';
import type { AttemptLog } from '../acquire/attempt-log.js';
import type { QueueTicket } from '../acquire/queue-ticket.js';
import type { Contender, FailedAttempt } from '../acquire/wait-loop.js';
import { ClaimError, PermitError, ReadWriteLockError } from '../base/claim-errors.js';
import type { HoldTraceContext } from '../base/diagnostics.js';
import { atCaller, closedErrorOf } from '../base/errors.js';
import type { ClosedCall } from '../base/lifecycle.js';
import { createLockToken } from '../base/token.js';
import { traceHold } from '../base/tracing.js';
import type { NodeSet } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { permitIntentOf } from '../scripts/permit-acquire.js';
import { NO_INTENT, type ReadWriteMode, type WriterIntent, writerIntentOf } from '../scripts/read-write-acquire.js';
import { type PermitScope, type PermitSettings, type ReadWriteSettings, resolvePermitOptions, type SemaphoreSettings } from '../settings/resolve-permits.js';
import { checkAcquireTtl } from '../settings/ttl.js';
import { Claim, withdrawIntent } from './claim.js';
import { type ClaimAttemptCall, type FailedPermitAttempt, type FailedReadWriteAttempt, isTakenThere, runPermitAttempt, runReadWriteAttempt } from './claim-attempt.js';
import { describePermits, Permit } from './permit.js';
import { describeReadWrite, ReadWriteHandle } from './read-write-handle.js';

/** One validated call of a semaphore's or a read-write lock's `acquire…()`, `tryAcquire…()` or `using…()`. */
export interface PermitRequest extends PermitSettings {
  readonly ttlMs: number;
}

/** What a semaphore's or a read-write lock's calls check their options with: see `resolvePermitOptions`. */
type ClaimScopes = Readonly<Record<'acquire' | 'tryAcquire' | 'using', PermitScope>>;

const PERMIT_SCOPES: ClaimScopes = { acquire: 'acquirePermits', tryAcquire: 'tryAcquirePermits', using: 'usingPermits' };
const READ_WRITE_SCOPES: ClaimScopes = { acquire: 'acquireReadWrite', tryAcquire: 'tryAcquireReadWrite', using: 'usingReadWrite' };

/** The `using…()` call of each kind of claim, as a TTL too short to keep extended names it. */
const USING_NAMES = { permits: '`using()`', read: '`usingRead()`', write: '`usingWrite()`' } as const;

/**
 * One kind of claim (a semaphore's permits, a read-write lock's read or write lock), made once with its
 * primitive: what its calls check, what the wait loop sees of it (see `Contender`), and its attempts.
 */
export interface ClaimAcquisition<H extends Claim, F extends FailedAttempt & { readonly reason: string }> extends Omit<Contender<H, F>, 'attempt' | 'errorOf'> {
  /** What the traces and `close()`'s error say it takes: a read-write lock's mode, `undefined` for permits. */
  readonly mode: HoldTraceContext['mode'];
  /** The most permits a call may ask for: the semaphore's limit, 1 for a read-write lock. */
  readonly limit: number;
  readonly scopes: ClaimScopes;
  /** Why an attempt fails when others hold the claim: a single try then resolves with `undefined`. */
  readonly takenReason: F['reason'];
  /**
   * The intent every attempt of a call leaves or refreshes where the claim is taken, so that what holds
   * it cannot starve the call (`NO_INTENT` for none): see `writerIntentOf`.
   */
  intentOf(request: PermitRequest): WriterIntent;
  /** The status with which a node says it keeps the intent (too few permits free, readers hold): a late answer's. */
  readonly intentStatus: string;
  /** Whether a failed attempt may have left the intent on a node: one kept it there, or did not answer. */
  mayHaveLeftIntent(failure: F): boolean;
  /** One attempt: see `runClaimAttempt`. */
  attempt(call: ClaimAttemptCall): Promise<H | F | 'taken-where-woken'>;
  /** The error of a call whose attempts failed, or that `waitMs` ended. */
  errorOf(request: PermitRequest, log: AttemptLog<F>, waitMs?: number): Error;
}

/**
 * The calls every claim primitive makes the same way, for `Semaphore` and `ReadWriteLock`: the argument
 * checks, the trace and `using()`, around the acquisition every kind of hold shares (`Acquisitions.acquireHold`).
 */
export class ClaimCalls {
  constructor(
    readonly set: NodeSet,
    /** The acquisitions of the `Redlock`, shared with its locks. */
    readonly acquisitions: Acquisitions,
    readonly resource: string,
    readonly primitive: HoldTraceContext['primitive'],
  ) {
    const closedCall = (operation: string): ClosedCall => ({ operation, resources: [resource], when: ' while the call ran' });
    this.#closed = { permits: closedCall('acquire permits of'), read: closedCall('take the read lock on'), write: closedCall('take the write lock on') };
  }

  /** What a call rejects with when `close()` cuts it short, by what it takes. */
  readonly #closed: Record<'permits' | ReadWriteMode, ClosedCall>;

  /** The latest request of each scope made without options: the next such call with its TTL reuses it. */
  readonly #withoutOptions: Partial<Record<PermitScope, PermitRequest>> = {};

  /**
   * An `acquire…()` call: see `#acquireClaim`. Each call of this class is what the public method
   * returns, so that its caller awaits it and an error's stack can show the caller's line (see `atCaller`).
   */
  async acquire<H extends Claim, F extends FailedAttempt & { readonly reason: string }>(claim: ClaimAcquisition<H, F>, ttlMs: unknown, options: unknown): Promise<H> {
    const request = this.#resolve(ttlMs, options, claim, 'acquire');
    try {
      return await this.#traced('acquire', claim.mode, request, () => this.#acquireClaim(request, claim));
    } catch (error) {
      throw atCaller(error, ClaimCalls.prototype.acquire);
    }
  }

  /**
   * A `tryAcquire…()` call: an acquisition of one attempt (see `#acquireClaim`), which resolves with
   * `undefined` where it failed for `takenReason` (a single try asks every node, no node alone first).
   */
  async tryAcquire<H extends Claim, F extends FailedAttempt & { readonly reason: string }>(claim: ClaimAcquisition<H, F>, ttlMs: unknown, options: unknown): Promise<H | undefined> {
    const request = this.#resolve(ttlMs, options, claim, 'tryAcquire');
    const once: PermitRequest = { ...request, retryCount: 0, waitMs: Infinity };
    try {
      return await this.#traced('tryAcquire', claim.mode, request, () =>
        this.#acquireClaim(once, claim).catch((error: unknown) => {
          if (error instanceof ClaimError && error.reason === claim.takenReason) return undefined;
          throw error;
        }),
      );
    } catch (error) {
      throw atCaller(error, ClaimCalls.prototype.tryAcquire);
    }
  }

  /** A `using…()` call: takes the claim as `acquire…()` does (after checking `routine`) and runs `routine` under it. */
  async using<T, H extends Claim, F extends FailedAttempt & { readonly reason: string }>(
    claim: ClaimAcquisition<H, F>,
    ttlMs: unknown,
    routine: (signal: AbortSignal, held: H) => Promise<T> | T,
    options: unknown,
  ): Promise<T> {
    const request = this.#resolve(ttlMs, options, claim, 'using');
    if (typeof routine !== 'function') throw new TypeError(`Expected \`routine\` to be a function, got \`${typeof routine}\``);
    let held: H;
    try {
      held = await this.#traced('using', claim.mode, request, () => this.#acquireClaim(request, claim));
    } catch (error) {
      throw atCaller(error, ClaimCalls.prototype.using);
    }
    return runUnderLock(this.set, held, request.ttlMs, request.signal, request.limits, routine, held.what);
  }

  /**
   * Checks the arguments of a `call` of `claim` before any node is called (up to its limit of permits, a TTL
   * of at least `shortTtlMs` when kept extended), and that the `Redlock` is open.
   */
  #resolve(ttlMs: unknown, options: unknown, claim: { readonly limit: number; readonly scopes: ClaimScopes; readonly mode: HoldTraceContext['mode'] }, call: keyof ClaimScopes): PermitRequest {
    const { nodes, options: defaults, lifecycle } = this.set;
    const scope = claim.scopes[call];
    const cached = options === undefined ? this.#withoutOptions[scope] : undefined;
    const settings = cached ?? resolvePermitOptions(options, claim.limit, defaults, scope);
    const extendedBy = call === 'using' ? USING_NAMES[claim.mode ?? 'permits'] : settings.autoExtend ? '`autoExtend`' : undefined;
    const checkedTtlMs = checkAcquireTtl(ttlMs, nodes, defaults, quorumOf(nodes.length), 1, extendedBy);
    if (lifecycle.isClosed) throw closedErrorOf(this.primitive === 'semaphore' ? 'acquire permits of' : 'take the read-write lock on', [this.resource]);
    if (cached?.ttlMs === checkedTtlMs) return cached;
    const request = { ...settings, ttlMs: checkedTtlMs };
    if (options === undefined) this.#withoutOptions[scope] = request;
    return request;
  }

  /** Runs one acquisition (`run`) of a semaphore's permits or of a read-write lock in `mode`, traced on `redlock-core.hold.acquire` when someone listens. */
  #traced<H extends Claim | undefined>(operation: 'acquire' | 'tryAcquire' | 'using', mode: HoldTraceContext['mode'], request: PermitRequest, run: () => Promise<H>): Promise<H> {
    const { set, resource, primitive } = this;
    const nodeCount = set.nodes.length;
    const context = () => ({ primitive, operation, resource, mode, holdId: undefined, permits: request.permits, ttlMs: request.ttlMs, quorum: quorumOf(nodeCount), nodeCount }) as const;
    return traceHold('acquire', context, run);
  }

  /**
   * Acquires a claim as every hold is acquired (see `Acquisitions.acquireHold`: the wait loop, or one attempt
   * with `retryCount: 0`, guarded against `close()`, timed by `waitMs`), ending at once for a final failure (a
   * foreign key, another limit).
   *
   * The claim's intent, where a failed attempt may have left it (a node kept it, or did not answer), is
   * freed by the claim's release, sent to every node for that, or withdrawn when the call gives up; a node
   * that answers late that it kept the intent is settled the same way.
   */
  #acquireClaim<H extends Claim, F extends FailedAttempt & { readonly reason: string }>(request: PermitRequest, claim: ClaimAcquisition<H, F>): Promise<H> {
    return this.acquisitions.acquireHold(request, request.signal, new ClaimContender(this.set, request, claim), this.#closed[claim.mode ?? 'permits']);
  }
}

/** A claim's side of the wait loop (see `Contender`), one per call: its kind's, and the call's intent. */
class ClaimContender<H extends Claim, F extends FailedAttempt & { readonly reason: string }> implements Contender<H, F> {
  readonly queueKeys: readonly string[];
  readonly keys: readonly string[];
  readonly isExclusive: boolean;
  readonly #set: NodeSet;
  readonly #request: PermitRequest;
  readonly #claim: ClaimAcquisition<H, F>;
  /**
   * One intent for every attempt of the call: each attempt refreshes it. A single try leaves none: no later
   * attempt of its own could use the permits or the readers' pause it would keep.
   */
  readonly #intent: WriterIntent;
  readonly #onLateAnswer: ((nodeIndex: number, answer: string | undefined) => void) | undefined;
  #mayHaveLeftIntent = false;
  /** How the call ended, for a late answer that left the intent after the fact. */
  #ended: H | 'gave-up' | undefined;

  constructor(set: NodeSet, request: PermitRequest, claim: ClaimAcquisition<H, F>) {
    this.queueKeys = claim.queueKeys;
    this.keys = claim.keys;
    this.isExclusive = claim.isExclusive;
    this.#set = set;
    this.#request = request;
    this.#claim = claim;
    const intent = request.retryCount === 0 ? NO_INTENT : claim.intentOf(request);
    this.#intent = intent;
    this.#onLateAnswer = intent.id === '' ? undefined : (nodeIndex, answer) => {
      if (answer !== claim.intentStatus) return;
      const ended = this.#ended;
      if (ended === 'gave-up') withdrawIntent(set, claim.keys[0] as string, intent.id, intent.ttlMs, [nodeIndex]);
      else ended?.settleLeftBehind(nodeIndex);
    };
  }

  attempt(attemptNumber: number, wokenBy: number | undefined, ticket: QueueTicket | undefined, signal: AbortSignal): Promise<H | F | 'taken-where-woken'> {
    const { permits, ttlMs, retryCount } = this.#request;
    const claim = this.#claim;
    const intent = this.#intent;
    const attempt = claim.attempt({ set: this.#set, permits, intent, ttlMs, attemptNumber, signal, isSingleTry: retryCount === 0, wokenBy, ticket: ticket?.text ?? '', onLateAnswer: this.#onLateAnswer });
    if (intent.id === '') return attempt;
    return attempt.then((result) => {
      if (result === 'taken-where-woken' || (!claim.isHeld(result) && claim.mayHaveLeftIntent(result))) this.#mayHaveLeftIntent = true;
      return result;
    });
  }

  isHeld(result: H | F): result is H {
    return this.#claim.isHeld(result);
  }

  isFinal(failure: F): boolean {
    return this.#claim.isFinal(failure);
  }

  isTaken(failure: F): boolean {
    return this.#claim.isTaken(failure);
  }

  errorOf(log: AttemptLog<F>, waitMs?: number): Error {
    return this.#claim.errorOf(this.#request, log, waitMs);
  }

  won(held: H): void {
    // Earlier attempts may have left the intent on nodes the winning one did not ask: its release goes there too.
    if (this.#mayHaveLeftIntent) held.releaseOnEveryNode();
    this.#ended = held;
  }

  gaveUp(): void {
    this.#ended = 'gave-up';
    const intent = this.#intent;
    if (this.#mayHaveLeftIntent) withdrawIntent(this.#set, this.keys[0] as string, intent.id, intent.ttlMs);
  }
}

/**
 * A semaphore's permits: see `ClaimCalls`. A request for more than 1 permit leaves one intent for
 * all its attempts where too few are free (see `permitAcquireScript`).
 */
export function permitsOf(semaphore: SemaphoreSettings): ClaimAcquisition<Permit, FailedPermitAttempt> {
  const { key, resource, limit } = semaphore;
  return {
    queueKeys: [`permits ${key}`],
    keys: [key],
    // Others may take the permits left.
    isExclusive: false,
    mode: undefined,
    limit,
    scopes: PERMIT_SCOPES,
    takenReason: 'no-permits-free',
    intentOf: (request) => permitIntentOf(request.permits, request.ttlMs, request.retryDelayMs, request.retryJitterMs),
    intentStatus: 'full',
    // Any failed attempt: a first round's node may have kept the intent, and answered otherwise in the last.
    mayHaveLeftIntent: () => true,
    attempt: (call) => runPermitAttempt(semaphore, call),
    isHeld: (result): result is Permit => result instanceof Permit,
    isFinal: (failure) => failure.reason === 'foreign-key' || failure.reason === 'limit-mismatch',
    isTaken: (failure) => failure.nodes.some((node) => node.status === 'full'),
    errorOf: (request, log, waitMs) => {
      const { reported, reason, details, message } = gaveUpOf(request, log, waitMs, `Could not acquire ${describePermits(request.permits, limit, resource)}`, reasonOf, 'no-permits-free', (failed) =>
        failed.reason === 'limit-mismatch' ? `; held with limit ${failed.recordedLimit}, and every client of a semaphore must give the same limit` : undefined,
      );
      const recordedLimit = reported?.recordedLimit;
      return new PermitError(message, { ...details, operation: 'acquire', resource, permits: request.permits, reason, ...(recordedLimit === undefined ? {} : { recordedLimit }) });
    },
  };
}

/**
 * A read-write lock taken in `mode`: see `ClaimCalls`. A writer that finds readers leaves one
 * intent for all its attempts, which keeps new readers out (see `readWriteAcquireScript`).
 */
export function readWriteOf(lock: ReadWriteSettings, mode: ReadWriteMode): ClaimAcquisition<ReadWriteHandle, FailedReadWriteAttempt> {
  const { key, resource } = lock;
  return {
    queueKeys: [`${mode} ${key}`],
    keys: [key],
    // Readers share: the next reader of this process tries at once; a writer keeps the others out.
    isExclusive: mode === 'write',
    mode,
    limit: 1,
    scopes: READ_WRITE_SCOPES,
    takenReason: 'locked',
    intentOf: (request) => (mode === 'write' ? writerIntentOf(createLockToken(), request.ttlMs, request.retryDelayMs, request.retryJitterMs) : NO_INTENT),
    intentStatus: 'readers-hold',
    mayHaveLeftIntent: (failure) => failure.nodes.some(({ status }) => status === 'readers-hold' || status === 'timeout' || status === 'error'),
    attempt: (call) => runReadWriteAttempt(lock, mode, call),
    isHeld: (result): result is ReadWriteHandle => result instanceof ReadWriteHandle,
    isFinal: (failure) => failure.reason === 'foreign-key',
    isTaken: (failure) => failure.nodes.some((node) => isTakenThere(node.status)),
    errorOf: (request, log, waitMs) => {
      const { reason, details, message } = gaveUpOf(request, log, waitMs, `Could not take ${describeReadWrite(mode, resource)}`, reasonOf, 'locked');
      return new ReadWriteLockError(message, { ...details, operation: 'acquire', resource, mode, reason });
    },
  };
}

/** Why a claim's attempt failed: its kind's attempt says. */
const reasonOf = <R extends string>(failed: { readonly reason: R }): R => failed.reason;
