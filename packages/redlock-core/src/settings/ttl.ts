// The check of a TTL: it must leave more validity than one node timeout, for an acquisition or an extension.
import { validityMs } from '../base/clock.js';
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
 * @throws `TypeError` for a TTL that is not a number; `RangeError` for one out of range or too short.
 */
export function checkAcquireTtl(ttlMs: unknown, nodes: readonly ResolvedNode[], options: ResolvedOptions, quorum: number, keyCount: number): number {
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
  if (validity >= decisionMs) return ttlMs;
  const inSeconds = ttlMs * 1000;
  const advice =
    isDefaultTimeout && inSeconds <= MAX_TTL_MS
      ? `the unit is milliseconds: did you mean ${inSeconds.toLocaleString('en-US').replaceAll(',', '_')} (${ttlMs} s)?`
      : 'the unit is milliseconds: use a longer TTL, or shorter node timeouts';
  throw new RangeError(
    `Expected \`ttlMs\` to leave more validity than one node timeout (${decisionMs} ms), got \`${ttlMs}\` ms, which leaves ${Math.max(0, validity)} ms after the clock drift allowance: ${advice}`,
  );
}
