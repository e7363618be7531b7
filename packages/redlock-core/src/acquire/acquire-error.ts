// Why an acquisition gave up, and the LockAcquireError that says so with the numbers.
import { describeAttemptCount, describeResources } from '../base/describe.js';
import { type AcquireFailureReason, LockAcquireError } from '../base/errors.js';
import { type AcquireAttempt, countByStatus, describeOutcomes, type NodeOutcome } from '../base/outcomes.js';
import { quorumOf } from '../nodes/quorum.js';
import { failureVerdictOf } from './verdict.js';
import { defaultRetriesAdvice, type WaitSettings } from '../settings/resolve-options.js';
import type { AcquireRequest } from './request.js';
import type { AttemptLog, LoggedAttempt } from './attempt-log.js';

/**
 * The error of a lock's call that gave up: its retries ran out, a single try failed, or `waitMs` ran out
 * (`waitMs` given); see {@link gaveUpOf}. A call that gave up in the local queue before any attempt was
 * made there reports the lock as held, by the earlier call ahead of it.
 */
export function acquireErrorOf(request: AcquireRequest, log: AttemptLog, quorum: number, waitMs?: number): LockAcquireError {
  const { resources, fencing } = request;
  const detailOf = (last: AcquireAttempt): string | undefined => {
    const fenced = last.fenceNodes?.filter((node) => node.status === 'fenced').length;
    return fenced !== undefined && fenced < quorum ? `a quorum granted, but only ${fenced} stored the fencing token: ${describeOutcomes(last.fenceNodes ?? [])}` : undefined;
  };
  const adviceOf = (_reported: AcquireAttempt, reason: AcquireFailureReason): string | undefined => {
    if (reason !== 'foreign-key') return undefined;
    if (fencing) return '; a lock or fencing counter key holds something else (another type, or a value without a TTL): give lock keys a namespace of their own, e.g. with `keyPrefix`';
    return `; ${resources.length === 1 ? 'the key is' : 'a key is'} not a lock (another type, such as a semaphore's or a read-write lock's, or a string without a TTL): give each lock a resource of its own, and lock keys a namespace (\`keyPrefix\`)`;
  };
  const what = `Could not acquire ${describeResources(resources)}`;
  const { reason, message, details } = gaveUpOf(request, log, waitMs, what, (attempt) => failureReasonOf(attempt, quorum), 'held-by-another-owner', adviceOf, detailOf);
  return new LockAcquireError(message, { resources, ...details, reason });
}

/** An attempt as the error of its call reads it. */
type ReportedAttempt = LoggedAttempt & { readonly nodes: readonly NodeOutcome<string>[]; readonly elapsedMs: number };

/**
 * What the error of any acquisition that gave up says, for every kind of hold: its reason, that of the last
 * attempt in `log` (`reasonOf`), or of the latest decided one when the last was cut off by the wait and could
 * not tell (its nodes still silent made the difference), `takenReason` when no attempt ran; the attempt that
 * reason is of (`reported`); its message (see {@link gaveUpMessageOf}), whose detail (the last attempt's
 * outcomes, or the validity a late quorum left) `detailOf` and advice (`waitMs` to wait longer than the
 * default retries) `adviceOf` may word otherwise; and the error's fields.
 */
export function gaveUpOf<F extends ReportedAttempt, R extends string>(
  request: Pick<WaitSettings, 'retryCount' | 'isRetryCountDefault'> & { readonly ttlMs: number },
  log: AttemptLog<F>,
  waitMs: number | undefined,
  what: string,
  reasonOf: (attempt: F) => R,
  takenReason: R,
  adviceOf?: (reported: F, reason: R) => string | undefined,
  detailOf?: (last: F) => string | undefined,
): { readonly reported: F | undefined; readonly reason: R; readonly message: string; readonly details: { attempts: readonly F[]; attemptCount: number; waitMs?: number } } {
  const { last, lastDecided } = log;
  let reported = last;
  let reason = last === undefined ? takenReason : reasonOf(last);
  if (reason === 'nodes-unreachable' && last?.isCutOff === true && lastDecided !== undefined) {
    reported = lastDecided;
    reason = reasonOf(lastDecided);
  }
  const detail =
    last === undefined
      ? ''
      : (detailOf?.(last) ??
        (reason === 'no-validity'
          ? `a quorum agreed after ${Math.round(last.elapsedMs)} ms, leaving no validity of the ${request.ttlMs} ms TTL`
          : `${describeOutcomes(last.nodes)}, quorum is ${quorumOf(last.nodes.length)}`));
  const advice = (reported === undefined ? undefined : adviceOf?.(reported, reason)) ?? (reason === takenReason ? defaultRetriesAdvice(request, waitMs) : '');
  const details = { attempts: log.kept(), attemptCount: log.count, ...(waitMs === undefined ? {} : { waitMs }) };
  return { reported, reason, details, message: gaveUpMessageOf(what, log, reason, detail, advice, waitMs) };
}

/**
 * What the error of any acquisition that gave up says, for every kind of hold: what it could not take
 * (`what`), within which `waitMs`, after how many attempts, why (`reason`), and what its last attempt saw
 * (`detail`), then `advice`. A call that gave up in the local queue before any attempt was made there
 * reports what held it: an earlier call of this `Redlock`.
 */
function gaveUpMessageOf(what: string, log: AttemptLog<LoggedAttempt>, reason: string, detail: string, advice: string, waitMs: number | undefined): string {
  const within = waitMs === undefined ? '' : ` within \`waitMs\` (${waitMs} ms),`;
  const { last } = log;
  const words = reason.replaceAll('-', ' ');
  if (last === undefined) return `${what}${within} after no attempt of its own: ${words} (an earlier call of this Redlock on the same resources was ahead of it in the local queue)`;
  return `${what}${within} ${describeAttemptCount(log.count, log.kept().length)}: ${words} (last attempt${last.isCutOff === true ? ', cut off by the wait' : ''}: ${detail})${advice}`;
}

/**
 * Why a lock's attempt failed, the rule `tryAcquire()` decides by: with fencing, `'foreign-key'` when
 * foreign counter keys deny a quorum, and `'nodes-unreachable'` when a quorum granted but too few nodes
 * stored the fencing token; else the verdict every kind of hold shares (see `failureVerdictOf`), `'taken'`
 * being `'held-by-another-owner'`.
 */
function failureReasonOf(attempt: AcquireAttempt, quorum: number): AcquireFailureReason {
  if (isBlockedByForeignKeys(attempt, quorum)) return 'foreign-key';
  const fenced = attempt.fenceNodes?.filter((node) => node.status === 'fenced').length;
  if (fenced !== undefined && fenced < quorum) return 'nodes-unreachable';
  const hasQuorum = (countByStatus(attempt.nodes)['acquired'] ?? 0) >= quorum;
  const verdict = failureVerdictOf(attempt.nodes, hasQuorum, isHeld);
  // A lock's node never answers `'other-limit'`, so never `'limit-mismatch'`.
  return verdict === 'taken' || verdict === 'limit-mismatch' ? 'held-by-another-owner' : verdict;
}

/** Whether a lock's node refused because another owner holds the lock there. */
export const isHeld = (status: string): boolean => status === 'held';

/**
 * Whether foreign keys alone deny a quorum, in the acquire round or in storing the fencing token: more
 * than N − quorum nodes answered `'foreign'`, and no retry can change that.
 */
export function isBlockedByForeignKeys(attempt: AcquireAttempt, quorum: number): boolean {
  const tolerated = attempt.nodes.length - quorum;
  const foreignIn = (nodes: readonly { readonly status: string }[]): number => nodes.filter((node) => node.status === 'foreign').length;
  return foreignIn(attempt.nodes) > tolerated || foreignIn(attempt.fenceNodes ?? []) > tolerated;
}
