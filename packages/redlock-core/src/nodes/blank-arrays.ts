// The per-node arrays a fan-out (fan-out.ts) starts with, made once per node count and copied for each fan-out.

/** A fan-out's arrays as they start, for one node count: see {@link blankArraysFor}. */
export interface BlankArrays {
  readonly nodeCount: number;
  readonly outcomes: readonly undefined[];
  readonly flags: readonly number[];
  readonly timing: readonly number[];
}

/** The blank arrays of the latest node count asked for: nearly every process has one. */
let latestBlank: BlankArrays | undefined;

/**
 * A fan-out's arrays as they start, for `nodeCount` nodes, to be copied with `slice()`: one allocation per
 * array, of the right length and kind (packed; `timing` already holds doubles), where building each by
 * pushing grew it twice or three times on every fan-out.
 */
export function blankArraysFor(nodeCount: number): BlankArrays {
  if (latestBlank?.nodeCount === nodeCount) return latestBlank;
  const outcomes: undefined[] = [];
  const flags: number[] = [];
  const timing: number[] = [];
  for (let index = 0; index < nodeCount; index += 1) {
    outcomes.push(undefined);
    flags.push(0);
    // A double first, so the array is made of doubles (its start times and deadlines are), then zeros.
    timing.push(0.5, 0.5, 0.5, 0.5);
  }
  timing.fill(0);
  latestBlank = { nodeCount, outcomes, flags, timing };
  return latestBlank;
}
