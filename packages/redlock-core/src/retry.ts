/**
 * The pause before the next attempt, in milliseconds: `baseMs` plus a uniform random jitter in
 * `[−jitterMs, +jitterMs]`, never below zero. The jitter spreads out clients that failed together, so
 * they do not collide again on the next attempt.
 */
export function retryDelayMs(baseMs: number, jitterMs: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(baseMs + (random() * 2 - 1) * jitterMs));
}
