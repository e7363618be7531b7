import { UsageError } from './input-errors.js';

/** Milliseconds per duration unit accepted on the command line. */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** A decimal number followed by a unit, e.g. `500ms`, `1.5s`, `2m`. */
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** A whole number without a unit, such as `60`: seconds to flock and timeout, milliseconds to Redis. */
const BARE_INTEGER_PATTERN = /^\d+$/;

/**
 * Parses a duration given on the command line into whole milliseconds: a number with a unit (`500ms`,
 * `30s`, `1.5s`, `2m`, `1h`), or `0`. A bare number other than 0 is refused rather than guessed: flock and
 * timeout read seconds where a Redis user may mean milliseconds (`--ttl 60` is a minute to the one and 60
 * ms to the other), and the message offers both.
 *
 * @param text - The value as typed.
 * @param optionName - The option it belongs to, for the message (e.g. `--ttl`).
 * @param bounds - The smallest and largest accepted value, in milliseconds.
 * @throws {@link UsageError} if it does not parse, is not a whole number of milliseconds, or is out of bounds.
 *
 * @example
 * ```ts
 * parseDurationMs('1.5s', '--ttl', { minMs: 1, maxMs: 60_000 }); // 1500
 * ```
 */
export function parseDurationMs(text: string, optionName: string, bounds: { readonly minMs: number; readonly maxMs: number }): number {
  const ms = text === '0' ? 0 : msOf(text);
  if (ms === undefined || !Number.isSafeInteger(ms)) {
    const advice = BARE_INTEGER_PATTERN.test(text) ? `: a number needs a unit, \`${text}s\` for seconds or \`${text}ms\` for milliseconds` : '';
    throw new UsageError(
      `Expected \`${optionName}\` to be a duration in whole milliseconds such as 500ms, 30s or 2m, got \`${text}\`${advice}`,
    );
  }
  if (ms < bounds.minMs || ms > bounds.maxMs) {
    throw new UsageError(
      `Expected \`${optionName}\` to be from ${formatDurationMs(bounds.minMs)} to ${formatDurationMs(bounds.maxMs)}, got \`${text}\``,
    );
  }
  return ms;
}

function msOf(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text);
  if (match === null) return undefined;
  const [, amount = '', unit = ''] = match;
  // Multiplying first keeps 1.1s at 1100 ms, where the float product is 1100.0000000000002.
  const ms = Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  const rounded = Math.round(ms);
  return Math.abs(ms - rounded) < 1e-6 ? rounded : Number.NaN;
}

/** Writes a duration in milliseconds for people: `250 ms`, `1.5 s`, `2 min 30 s`, `3 h 5 min`. */
export function formatDurationMs(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${Number((ms / 1_000).toFixed(1))} s`;
  const totalSeconds = Math.round(ms / 1_000);
  const hours = Math.floor(totalSeconds / 3_600);
  const minutes = Math.floor((totalSeconds % 3_600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  return seconds > 0 ? `${minutes} min ${seconds} s` : `${minutes} min`;
}
