import type { SampleValues } from './sample-values.js';
import { median } from './percentiles.js';

/**
 * One contender's figure over another's, round by round: both ran in every round within seconds of each
 * other, so a slow spell of the machine hits both sides of a ratio alike, where it would move one median
 * but not the other.
 */
export interface PairedRatio {
  /** The median of the per-round ratios. */
  readonly median: number;
  /**
   * A 95% confidence interval for that median (distribution-free, from the order statistics of the
   * ratios); `NaN` bounds with fewer than 6 rounds, too few for one.
   */
  readonly low: number;
  readonly high: number;
  /** Rounds in which both contenders measured the figure. */
  readonly rounds: number;
}

/** How a paired ratio compares with a threshold: above it, below it, or not told apart from it by the run. */
export type Comparison = 'above' | 'below' | 'level';

/** The confidence the interval of {@link PairedRatio} is built for. */
const CONFIDENCE = 0.95;

/** `numerator[key] / denominator[key]` in each round both measured, summarised as a {@link PairedRatio}. */
export function pairedRatio(numerator: readonly SampleValues[], denominator: readonly SampleValues[], key: string): PairedRatio {
  const ratios = numerator
    .map((values, round) => (values[key] ?? Number.NaN) / (denominator[round]?.[key] ?? Number.NaN))
    .filter((ratio) => Number.isFinite(ratio))
    .sort((a, b) => a - b);
  const rank = lowerRankOfMedianInterval(ratios.length);
  return {
    median: median(ratios),
    low: rank === 0 ? Number.NaN : (ratios[rank - 1] as number),
    high: rank === 0 ? Number.NaN : (ratios[ratios.length - rank] as number),
    rounds: ratios.length,
  };
}

/**
 * Where `ratio` stands against `threshold`: `above` or `below` when its whole interval is on that side,
 * `level` when the interval holds the threshold. Without an interval (too few rounds) the median decides.
 */
export function compare(ratio: PairedRatio, threshold: number): Comparison {
  if (Number.isNaN(ratio.low)) return ratio.median > threshold ? 'above' : 'below';
  if (ratio.low > threshold) return 'above';
  if (ratio.high < threshold) return 'below';
  return 'level';
}

/** `1.02× (0.98-1.05, 21 rounds)`, for a report. */
export function formatPairedRatio(ratio: PairedRatio): string {
  const interval = Number.isNaN(ratio.low) ? 'too few rounds for an interval' : `95% CI ${ratio.low.toFixed(2)}-${ratio.high.toFixed(2)}`;
  return `${ratio.median.toFixed(2)}× (${interval}, ${ratio.rounds} ${ratio.rounds === 1 ? 'round' : 'rounds'})`;
}

/**
 * The largest rank `k` such that the `k`-th smallest and the `k`-th largest of `count` values bound their
 * median with at least 95% confidence: the chance that fewer than `k` of them fall below the median,
 * `P(Binomial(count, 1/2) < k)`, is at most 2.5%. 0 when no such rank exists (fewer than 6 values).
 */
function lowerRankOfMedianInterval(count: number): number {
  const tail = (1 - CONFIDENCE) / 2;
  let cumulative = 0;
  let probability = 0.5 ** count;
  for (let rank = 0; rank < count; rank += 1) {
    // `cumulative` is P(X <= rank - 1); adding P(X = rank) gives P(X <= rank).
    if (cumulative + probability > tail) return rank;
    cumulative += probability;
    probability *= (count - rank) / (rank + 1);
  }
  return 0;
}
