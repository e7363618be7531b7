import { percentile } from './percentiles.js';

/**
 * Durations in milliseconds, kept exactly (a growable `Float64Array`, 8 bytes each) so percentiles are
 * exact. A sample of a few seconds holds at most a few hundred thousand values.
 */
export class LatencySamples {
  #values = new Float64Array(4096);
  #count = 0;

  get count(): number {
    return this.#count;
  }

  add(durationMs: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count] = durationMs;
    this.#count += 1;
  }

  /** The `p`-th percentiles (0-100) of the values so far, in milliseconds; `NaN` when empty. */
  percentiles(...ps: readonly number[]): number[] {
    const sorted = this.#values.slice(0, this.#count).sort();
    return ps.map((p) => percentile(sorted, p));
  }
}
