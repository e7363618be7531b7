import { defaultNodeTimeoutMs, NODE_TIMEOUT_MS_PER_KEY } from '../settings/defaults.js';
import type { ResolvedOptions } from '../settings/resolve-options.js';

/** The longest a node timeout may grow to by itself, in milliseconds: enough for a node across an ocean. */
export const ADAPTIVE_TIMEOUT_MAX_MS = 1_000;

/**
 * The largest share of the TTL a node timeout may grow to by itself: 1 s for a 10 s TTL. The spec wants
 * the timeout small compared to the TTL, so that waiting for a node cannot eat the validity.
 */
export const ADAPTIVE_TIMEOUT_MAX_TTL_SHARE = 0.1;

/**
 * The largest share of the TTL a node's timeout may take when its measured pace needs more than
 * {@link ADAPTIVE_TIMEOUT_MAX_TTL_SHARE}: a node 120 ms away cannot answer within a tenth of a 1 s TTL.
 * Only a measured pace reaches this far: a first contact and the calls after a timeout stay within the
 * tenth (a node that stopped answering must not hold every call up for half the TTL).
 */
export const ADAPTIVE_TIMEOUT_MAX_PACE_TTL_SHARE = 0.5;

/** The least margin over the covered round trip, in milliseconds: a steady link's answers are all alike. */
export const ADAPTIVE_TIMEOUT_MIN_MARGIN_MS = 10;

/**
 * The share of the covered round trip a node timeout adds to it. On a 70 ms link with an exponential tail
 * (mean 20 ms), 1.9 % of calls timed out spuriously with this margin, 3.2 % with RFC 6298's rule, 4.2 %
 * with a tenth, 0.6 % with half; see the evaluation in node-latency.test.ts.
 */
export const ADAPTIVE_TIMEOUT_MARGIN_SHARE = 0.25;

/**
 * How many of a node's latest measured round trips its timeout looks at. More remember a slow phase
 * longer and make jitter time out less often: on the link above, 4.2 % of calls timed out with 8, 1.9 %
 * with 16, 1.1 % with 24.
 */
export const RTT_WINDOW_SIZE = 16;

/**
 * The least time between the starts of two calls whose round trips are taken, in milliseconds: calls
 * closer together travel the same path at nearly the same moment, and measuring each costs a clock
 * reading per answer (TCP likewise times one segment per round trip). After a timeout, every answer is taken.
 */
export const RTT_SAMPLE_SPACING_MS = 4;

/**
 * A node's round trip as its answers show it, and the timeout that follows from it: the timeout covers
 * the slower of the latest round trip and the second-slowest of the last {@link RTT_WINDOW_SIZE}, plus
 * {@link ADAPTIVE_TIMEOUT_MARGIN_SHARE} and {@link ADAPTIVE_TIMEOUT_MIN_MARGIN_MS}. So a single slow answer
 * is covered for the next call only, a step up from its first late answer on, and a step down once fewer
 * than two slow answers are left in the window (RFC 6298's mean and deviation, used before, took about
 * 18 answers to come down after one slow answer). The floor is the fixed default (`defaultNodeTimeoutMs`),
 * the ceiling `ttlMs × 0.1`, at most 1 s, or for a measured pace {@link ADAPTIVE_TIMEOUT_MAX_PACE_TTL_SHARE}.
 * Before its first answer, and after a timeout until it answers again, a node gets the ceiling: too short
 * would misjudge a node that stepped farther away (a vote waits for such a probe only {@link paceTimeoutMs}).
 * The smoothed round trip and its deviation (RFC 6298's SRTT and RTTVAR) are kept for `nodeHealth()` only.
 *
 * State: unmeasured ──answer──▶ measured ──timeout──▶ silent ──answer──▶ measured.
 */
export class NodeLatency {
  /** The smoothed round trip; meaningless before the first answer ({@link #recentCount} 0). Always a number, so that V8 keeps it unboxed. */
  #smoothedMs = 0;
  #deviationMs = 0;
  /** The last {@link RTT_WINDOW_SIZE} round trips taken, oldest overwritten first, in milliseconds. */
  readonly #recentMs = new Float64Array(RTT_WINDOW_SIZE);
  #recentCount = 0;
  /** The round trip the timeout covers, from {@link #recentMs}; -1 before the first answer. */
  #coveredMs = -1;
  /** Whether a call timed out since the node last answered. */
  #isSilent = false;
  /** The bounds and timeout last worked out, for a TTL and key count (-1 before the first): nearly always the next asked. */
  #boundsTtlMs = -1;
  #boundsKeyCount = 0;
  #floorMs = 0;
  #ceilingMs = 0;
  /** How far a measured pace may take the timeout: see {@link ADAPTIVE_TIMEOUT_MAX_PACE_TTL_SHARE}. */
  #paceCeilingMs = 0;
  #perKeyMs = 0;
  #lastTimeoutMs = 0;
  /** The timeout as if the node answered: {@link #lastTimeoutMs} but while silent (see {@link paceTimeoutMs}). */
  #paceTimeoutMs = 0;
  /** When the call whose round trip was taken last started, on the clock; `-Infinity` before the first. */
  #lastSampleStartMs = -Infinity;

  /** The smoothed round trip in milliseconds, or `undefined` before the node's first answer. */
  get smoothedRttMs(): number | undefined {
    return this.#recentCount === 0 ? undefined : this.#smoothedMs;
  }

  /** The mean deviation of the round trip from {@link smoothedRttMs}, in milliseconds. */
  get rttDeviationMs(): number {
    return this.#deviationMs;
  }

  /** Whether to take the round trip of a call started at `startedAtMs`: while silent, or {@link RTT_SAMPLE_SPACING_MS} after the last. */
  wantsRoundTripOf(startedAtMs: number): boolean {
    return this.#isSilent || Math.abs(startedAtMs - this.#lastSampleStartMs) >= RTT_SAMPLE_SPACING_MS;
  }

  /** Takes the round trip of one answer to a call started at `startedAtMs`, on time or late: both are what the node takes. */
  recordAnswer(rttMs: number, startedAtMs: number): void {
    this.#lastSampleStartMs = startedAtMs;
    const smoothed = this.#smoothedMs;
    if (this.#recentCount === 0) {
      this.#smoothedMs = rttMs;
      this.#deviationMs = rttMs / 2;
    } else {
      // RFC 6298's gains: 1/4 for the deviation (updated first, from the old mean), 1/8 for the mean.
      this.#deviationMs = 0.75 * this.#deviationMs + 0.25 * Math.abs(smoothed - rttMs);
      this.#smoothedMs = 0.875 * smoothed + 0.125 * rttMs;
    }
    this.#recentMs[this.#recentCount % RTT_WINDOW_SIZE] = rttMs;
    this.#recentCount += 1;
    this.#coveredMs = Math.max(rttMs, this.#secondSlowestRecentMs());
    this.#isSilent = false;
    this.#updateTimeout();
  }

  /** Notes a call that timed out: the node's next calls get the ceiling, until it answers again. */
  recordTimeout(): void {
    if (this.#isSilent) return;
    this.#isSilent = true;
    this.#updateTimeout();
  }

  /**
   * The timeout the node's pace calls for, for the TTL and key count {@link timeoutMs} was last asked for:
   * the same as that timeout, except while the node is silent, where it is what the node took when it
   * answered (the ceiling before its first answer). A vote waits for a silent node's probe no longer than
   * this (see `FanOut.send`): the probe keeps the ceiling to tell whether the node answers at all.
   */
  get paceTimeoutMs(): number {
    return this.#paceTimeoutMs;
  }

  /** The timeout for a call over `keyCount` keys with a TTL of `ttlMs`, in whole milliseconds. */
  timeoutMs(ttlMs: number, keyCount: number): number {
    if (ttlMs === this.#boundsTtlMs && keyCount === this.#boundsKeyCount) return this.#lastTimeoutMs;
    const floorMs = defaultNodeTimeoutMs(ttlMs);
    this.#boundsTtlMs = ttlMs;
    this.#boundsKeyCount = keyCount;
    this.#floorMs = floorMs;
    this.#ceilingMs = Math.max(floorMs, Math.min(ADAPTIVE_TIMEOUT_MAX_MS, Math.round(ttlMs * ADAPTIVE_TIMEOUT_MAX_TTL_SHARE)));
    this.#paceCeilingMs = Math.max(this.#ceilingMs, Math.min(ADAPTIVE_TIMEOUT_MAX_MS, Math.round(ttlMs * ADAPTIVE_TIMEOUT_MAX_PACE_TTL_SHARE)));
    this.#perKeyMs = Math.ceil((keyCount - 1) * NODE_TIMEOUT_MS_PER_KEY);
    this.#updateTimeout();
    return this.#lastTimeoutMs;
  }

  /**
   * The second-slowest of the recent round trips (the only one, after the first answer): the slowest may
   * be a one-off, two slow answers among the last few are the node's pace.
   */
  #secondSlowestRecentMs(): number {
    const count = Math.min(this.#recentCount, RTT_WINDOW_SIZE);
    let slowestMs = -Infinity;
    let secondMs = -Infinity;
    for (let index = 0; index < count; index += 1) {
      const rttMs = this.#recentMs[index]!;
      if (rttMs > slowestMs) {
        secondMs = slowestMs;
        slowestMs = rttMs;
      } else if (rttMs > secondMs) secondMs = rttMs;
    }
    return count === 1 ? slowestMs : secondMs;
  }

  /**
   * Works the timeout out again: the ceiling before the first answer and while silent, else the pace (the
   * covered round trip with its margin) within the bounds.
   */
  #updateTimeout(): void {
    const coveredMs = this.#coveredMs;
    const ceilingMs = this.#ceilingMs + this.#perKeyMs;
    if (coveredMs < 0) this.#paceTimeoutMs = ceilingMs;
    else {
      const paceMs = coveredMs * (1 + ADAPTIVE_TIMEOUT_MARGIN_SHARE) + ADAPTIVE_TIMEOUT_MIN_MARGIN_MS;
      this.#paceTimeoutMs = Math.ceil(Math.min(Math.max(this.#floorMs, paceMs), this.#paceCeilingMs)) + this.#perKeyMs;
    }
    this.#lastTimeoutMs = this.#isSilent ? ceilingMs : this.#paceTimeoutMs;
  }
}

/** A node as its timeout is worked out: its own timeout, if any, and its latency. */
type TimedNode = { readonly timeoutMs: number | undefined; readonly latency: NodeLatency };

/**
 * How long one call over `keyCount` keys to `node` may take for a TTL: the node's own timeout, else the
 * Redlock's, else the one its measured latency calls for (see {@link NodeLatency}).
 */
export function nodeTimeoutMsFor(node: TimedNode, options: ResolvedOptions, ttlMs: number, keyCount = 1): number {
  return node.timeoutMs ?? options.nodeTimeoutMs ?? node.latency.timeoutMs(ttlMs, keyCount);
}

/**
 * The longest of {@link nodeTimeoutMsFor} over `nodes`: how long a waiter gives its subscriptions to be in
 * place, so that a far node that answers is not taken for one that cannot subscribe.
 */
export function longestNodeTimeoutMs(nodes: readonly TimedNode[], options: ResolvedOptions, ttlMs: number, keyCount = 1): number {
  let longestMs = 0;
  for (const node of nodes) longestMs = Math.max(longestMs, nodeTimeoutMsFor(node, options, ttlMs, keyCount));
  return longestMs;
}
