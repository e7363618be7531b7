/** How long and how often one scenario samples each contender. */
export interface SamplePlan {
  /** Samples per contender; the report shows the median over them. */
  readonly rounds: number;
  /** How long one sample runs, in milliseconds. */
  readonly sampleMs: number;
  /** The untimed sample each contender runs before round 1, in milliseconds; 0 skips it. */
  readonly warmupMs: number;
}

/**
 * How S3's workers reach Redis: each with its own clients and lock instance, as separate processes would
 * (`own`, the default), or all through one instance and one set of clients, as concurrent jobs of one
 * process would (`shared`, with `--s3-shared-clients`).
 */
export type S3Clients = 'own' | 'shared';

/** Everything that makes a run quick or full. */
export interface BenchPlan {
  readonly name: 'quick' | 'full';
  readonly s3Clients: S3Clients;
  readonly s1: SamplePlan;
  readonly s2: SamplePlan;
  readonly s3Defaults: SamplePlan;
  readonly s3Tuned: SamplePlan;
  readonly s4: SamplePlan;
  /** S5: acquire/release cycles per contender (after a warm-up of a tenth as many). */
  readonly s5Cycles: number;
  /** S6: the samples of each topology. */
  readonly s6: SamplePlan;
  /**
   * S6: how long one acquire or one release may take before the bench stops waiting for it, in
   * milliseconds: a library waiting for a node that never answers must not stall the run. Longer than
   * node-redlock's 11 attempts at its defaults (about 2.2 s), so a library that gives up is counted as an
   * error, not as a timeout.
   */
  readonly s6OpTimeoutMs: number;
}

/** The run behind bench/RESULTS.md: a few minutes. */
export const FULL_PLAN: BenchPlan = {
  name: 'full',
  s3Clients: 'own',
  // Many short rounds rather than a few long ones: the targets compare contenders round by round, and the
  // interval around the median ratio narrows with the number of rounds (31: between the 10th and 22nd of
  // the sorted ratios), while noise on this machine is as large over 0.35 s as over 1.5 s.
  s1: { rounds: 31, sampleMs: 350, warmupMs: 500 },
  s2: { rounds: 31, sampleMs: 350, warmupMs: 500 },
  // Long enough for a waiter at the defaults to use up all its retries (node-redlock: 11 attempts, ~2.2 s).
  s3Defaults: { rounds: 3, sampleMs: 5_000, warmupMs: 500 },
  s3Tuned: { rounds: 3, sampleMs: 3_000, warmupMs: 500 },
  s4: { rounds: 31, sampleMs: 350, warmupMs: 500 },
  s5Cycles: 100_000,
  // Latency-bound: a few dozen cycles per sample at 70-280 ms each are enough for a p50.
  s6: { rounds: 3, sampleMs: 2_500, warmupMs: 1_000 },
  s6OpTimeoutMs: 4_000,
};

/** `--quick`: every scenario once or twice, short samples, under a minute in all; figures are rougher. */
export const QUICK_PLAN: BenchPlan = {
  name: 'quick',
  s3Clients: 'own',
  // Only S1 and S2 warm up: the later scenarios run code (and scripts on the nodes) that is already warm.
  s1: { rounds: 2, sampleMs: 200, warmupMs: 100 },
  s2: { rounds: 2, sampleMs: 200, warmupMs: 100 },
  s3Defaults: { rounds: 1, sampleMs: 1_200, warmupMs: 0 },
  s3Tuned: { rounds: 1, sampleMs: 600, warmupMs: 0 },
  s4: { rounds: 1, sampleMs: 250, warmupMs: 0 },
  s5Cycles: 500,
  // A warm-up even here: the first call to each node of a fresh topology loads the scripts.
  s6: { rounds: 1, sampleMs: 600, warmupMs: 300 },
  s6OpTimeoutMs: 4_000,
};
