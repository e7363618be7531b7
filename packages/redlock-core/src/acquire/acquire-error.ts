// Why an acquisition gave up, and the LockAcquireError that says so with the numbers.
import { describeAttemptCount, describeResources } from '../base/describe.js';
import { type AcquireFailureReason, LockAcquireError } from '../base/errors.js';
import { type AcquireAttempt, countByStatus, describeOutcomes } from '../base/outcomes.js';
import { failureVerdictOf } from './verdict.js';
import { defaultRetriesAdvice } from '../settings/resolve-options.js';
import type { AcquireRequest } from './request.js';
import type { AttemptLog, LoggedAttempt } from './attempt-log.js';

/**
 * The error of a call that gave up: its retries ran out, a single try failed, or `waitMs` ran out
 * (`waitMs` given). The reason is that of the last attempt in `log`; a call that gave up in the local
 * queue before any attempt was made there reports the lock as held, by the earlier call ahead of it.
 */
export function acquireErrorOf(request: AcquireRequest, log: AttemptLog, quorum: number, waitMs?: number): LockAcquireError {
  const { last, lastDecided } = log;
  let reason: AcquireFailureReason = last === undefined ? 'held-by-another-owner' : failureReasonOf(last, quorum);
  // An attempt cut off by `waitMs` or the caller's signal tells only what the nodes had answered by then:
  // when that does not decide (the nodes still silent made the difference), the latest decided one tells.
  if (reason === 'nodes-unreachable' && last?.isCutOff === true && lastDecided !== undefined) reason = failureReasonOf(lastDecided, quorum);
  const options = { resources: request.resources, attempts: log.kept(), attemptCount: log.count, reason, ...(waitMs === undefined ? {} : { waitMs }) };
  const fenced = last?.fenceNodes?.filter((node) => node.status === 'fenced').length;
  const detail =
    last === undefined
      ? ''
      : fenced !== undefined && fenced < quorum
        ? `a quorum granted, but only ${fenced} stored the fencing token: ${describeOutcomes(last.fenceNodes ?? [])}`
        : reason === 'no-validity'
          ? `a quorum agreed after ${Math.round(last.elapsedMs)} ms, leaving no validity of the ${request.ttlMs} ms TTL`
          : `${describeOutcomes(last.nodes)}, quorum is ${quorum}`;
  const advice =
    reason !== 'foreign-key'
      ? reason === 'held-by-another-owner'
        ? defaultRetriesAdvice(request, waitMs)
        : ''
      : request.fencing
        ? '; a lock or fencing counter key holds something else (another type, or a value without a TTL): give lock keys a namespace of their own, e.g. with `keyPrefix`'
        : `; ${request.resources.length === 1 ? 'the key is' : 'a key is'} not a lock (another type, such as a semaphore's or a read-write lock's, or a string without a TTL): give each lock a resource of its own, and lock keys a namespace (\`keyPrefix\`)`;
  return new LockAcquireError(gaveUpMessageOf(`Could not acquire ${describeResources(request.resources)}`, log, reason, detail, advice, waitMs), options);
}

/**
 * What the error of any acquisition that gave up says, for every kind of hold: what it could not take
 * (`what`), within which `waitMs`, after how many attempts, why (`reason`), and what its last attempt saw
 * (`detail`), then `advice`. A call that gave up in the local queue before any attempt was made there
 * reports what held it: an earlier call of this `Redlock`.
 */
export function gaveUpMessageOf(what: string, log: AttemptLog<LoggedAttempt>, reason: string, detail: string, advice: string, waitMs: number | undefined): string {
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
