import type fc from 'fast-check';

/**
 * fast-check parameters for one simulation property, from the environment:
 * - `SIM_RUNS=<n>` runs n worlds instead of `defaultRuns` (CI keeps the default, locally run thousands);
 * - `SIM_SEED=<seed>` (and `SIM_PATH=<path>`) replays what a failure printed, exactly.
 * Without `SIM_SEED` the seed is random, and printed, so every CI run explores new worlds.
 */
export function simulationParameters<T = unknown>(defaultRuns: number): fc.Parameters<T> & { readonly seed: number; readonly numRuns: number } {
  const env = process.env;
  const numRuns = env['SIM_RUNS'] === undefined ? defaultRuns : Number(env['SIM_RUNS']);
  if (!Number.isInteger(numRuns) || numRuns < 1) throw new RangeError(`Expected SIM_RUNS to be a positive integer, got ${env['SIM_RUNS']}`);
  const seed = env['SIM_SEED'] === undefined ? (Date.now() ^ Math.floor(Math.random() * 0x100000000)) | 0 : Number(env['SIM_SEED']);
  if (!Number.isInteger(seed)) throw new RangeError(`Expected SIM_SEED to be an integer, got ${env['SIM_SEED']}`);
  const path = env['SIM_PATH'];
  return { numRuns, seed, ...(path === undefined || path === '' ? {} : { path }) };
}

/**
 * The Jest timeout of a simulation test, in milliseconds: room for a loaded CI machine with the default
 * runs, an hour when SIM_RUNS or SIM_SHRINK asks for a long local run.
 */
export const SIMULATION_TIMEOUT_MS = process.env['SIM_RUNS'] !== undefined || process.env['SIM_SHRINK'] === '1' ? 3_600_000 : 60_000;
