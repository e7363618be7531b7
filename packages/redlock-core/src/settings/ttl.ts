// The check of a TTL, for an acquisition or an extension: it must leave more validity than one node timeout,
// and one under `shortTtlMs` (seconds, as a rule) is refused when it is kept extended and warned of when not.
import { validityMs } from '../base/clock.js';
import { warnOnce } from '../base/warnings.js';
import { defaultNodeTimeoutMs, MAX_TTL_MS } from './defaults.js';
import type { ResolvedNode } from './resolve-nodes.js';
import type { ResolvedOptions } from './resolve-options.js';
import { checkDurationMs } from './value-checks.js';

/** Whether a node has a timeout of its own; a loop rather than `every()`: it runs for every acquisition. */
function hasOwnTimeout(nodes: readonly ResolvedNode[]): boolean {
  for (const node of nodes) if (node.timeoutMs !== undefined) return true;
  return false;
}

/**
 * Validates the TTL of an acquisition or an extension: a positive integer up to {@link MAX_TTL_MS} that
 * leaves more validity (after the drift allowance) than the time an attempt may take to hear from a
 * quorum, the `quorum`-th shortest node timeout for a call over `keyCount` keys (for adaptive timeouts,
 * their lower bound). A lock with less could be granted with no validity left by nodes that answer within
 * their timeout, so it could never be relied on; with the default timeouts (at least 50 ms) that is a TTL
 * under 53 ms, which is almost always seconds written as milliseconds, and the message says so.
 *
 * A TTL that passes but is under the `Redlock`'s `shortTtlMs` (1 s by default) may be seconds written as
 * milliseconds too: a `RangeError` when `extendedBy` keeps the hold extended (see {@link checkExtendedTtl}),
 * else a process warning, once per process (see `warnOfShortTtl`).
 *
 * @param extendedBy - What keeps the hold extended, as the error names it (`` `using()` ``,
 *   `` `autoExtend` ``); `undefined` for a hold nothing extends, and for an extension.
 * @throws `TypeError` for a TTL that is not a number; `RangeError` for one out of range or too short.
 */
export function checkAcquireTtl(
  ttlMs: unknown,
  nodes: readonly ResolvedNode[],
  options: ResolvedOptions,
  quorum: number,
  keyCount: number,
  extendedBy?: string,
): number {
  checkDurationMs('ttlMs', ttlMs, 1);
  const validity = validityMs({ ttlMs, elapsedMs: 0, driftFactor: options.driftFactor });
  const isDefaultTimeout = options.nodeTimeoutMs === undefined && !hasOwnTimeout(nodes);
  // Usually every node has the same timeout: no list to sort on the path of every call.
  const decisionMs = isDefaultTimeout
    ? defaultNodeTimeoutMs(ttlMs, keyCount)
    : (nodes
        // An adaptive timeout is never below the default: the shortest an attempt may take to hear a quorum.
        .map((node) => node.timeoutMs ?? options.nodeTimeoutMs ?? defaultNodeTimeoutMs(ttlMs, keyCount))
        .sort((a, b) => a - b)[quorum - 1] as number);
  if (validity < decisionMs) {
    const advice = isDefaultTimeout && ttlMs * 1000 <= MAX_TTL_MS ? inSecondsAdvice(ttlMs) : 'the unit is milliseconds: use a longer TTL, or shorter node timeouts';
    throw new RangeError(
      `Expected \`ttlMs\` to leave more validity than one node timeout (${decisionMs} ms), got \`${ttlMs}\` ms, which leaves ${Math.max(0, validity)} ms after the clock drift allowance: ${advice}`,
    );
  }
  const { shortTtlMs } = options;
  if (ttlMs >= shortTtlMs) return ttlMs;
  if (extendedBy !== undefined) checkExtendedTtl(ttlMs, shortTtlMs, extendedBy);
  else warnOfShortTtl(ttlMs, shortTtlMs);
  return ttlMs;
}

/**
 * The code of the process warning for a TTL under `shortTtlMs` that nothing extends, which whoever means
 * such TTLs silences with a lower `shortTtlMs`, or hides with `node --disable-warning=REDLOCK_SHORT_TTL`.
 */
const SHORT_TTL_WARNING_CODE = 'REDLOCK_SHORT_TTL';

/**
 * Refuses a TTL under `shortTtlMs` (see `RedlockOptions.shortTtlMs`) for a hold that `extendedBy` keeps
 * extended, named in the message (`` `using()` ``, `` `autoExtend` ``, `an election`): extending so
 * often gains nothing, and such a TTL is almost surely seconds, which the message says in milliseconds.
 *
 * @throws `RangeError` for a TTL under `shortTtlMs`.
 */
export function checkExtendedTtl(ttlMs: number, shortTtlMs: number, extendedBy: string): void {
  if (ttlMs >= shortTtlMs) return;
  throw new RangeError(
    `Expected \`ttlMs\` to be at least ${shortTtlMs} ms (\`shortTtlMs\`) when ${extendedBy} keeps it extended, got \`${ttlMs}\` ms, which would extend it about every ${Math.round(ttlMs / 2)} ms: ${inSecondsAdvice(ttlMs)}`,
  );
}

/**
 * Warns of a TTL under `shortTtlMs` that nothing extends, once per process: it may be meant (a lock of
 * 100-500 ms around a short write is legitimate) or be seconds (`acquire('job', 60)`, a lock that ends
 * after 60 ms while the job runs on unprotected), and nothing tells them apart. So a process warning (type
 * `RedlockWarning`, code {@link SHORT_TTL_WARNING_CODE}) rather than an error that would refuse legitimate
 * locks, and once, so that a process that means such TTLs logs one line.
 */
function warnOfShortTtl(ttlMs: number, shortTtlMs: number): void {
  warnOnce(
    process,
    SHORT_TTL_WARNING_CODE,
    `\`ttlMs\` ${ttlMs} without automatic extension lets the lock expire within ${ttlMs} ms: ${inSecondsAdvice(ttlMs)} Warned once per process, for a TTL under \`shortTtlMs\` (${shortTtlMs} ms): lower that option where such TTLs are meant`,
  );
}

/** The end of the message about a TTL that looks like seconds: `the unit is milliseconds: did you mean 60_000 (60 s)?` */
function inSecondsAdvice(ttlMs: number): string {
  const inSeconds = ttlMs * 1000;
  if (inSeconds > MAX_TTL_MS) return 'the unit is milliseconds';
  return `the unit is milliseconds: did you mean ${inSeconds.toLocaleString('en-US').replaceAll(',', '_')} (${ttlMs} s)?`;
}
