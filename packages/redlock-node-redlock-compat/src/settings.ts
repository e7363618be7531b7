// node-redlock's settings, their defaults, and what they become in redlock-core's options.
import type { AcquireOptions, RedlockOptions } from 'redlock-core';

/** The settings of a `Redlock` and of each of its calls, as in node-redlock 5. */
export interface Settings {
  /**
   * The share of the duration allowed for clock drift between nodes: a lock's `expiration` is its start
   * plus its duration minus `round(duration × driftFactor) + 2` ms. A number in [0, 1). Set it on the
   * `Redlock`: a different value for one call is refused (see the migration guide).
   * @defaultValue `0.01`
   */
  readonly driftFactor: number;
  /**
   * How many more attempts `acquire()` and `extend()` make after the first fails; `-1` (or `Infinity`)
   * retries until the lock is acquired.
   * @defaultValue `10`
   */
  readonly retryCount: number;
  /**
   * The pause between attempts, in milliseconds, before jitter.
   * @defaultValue `200`
   */
  readonly retryDelay: number;
  /**
   * The largest random change to `retryDelay`, in milliseconds, either way.
   * @defaultValue `100`
   */
  readonly retryJitter: number;
  /**
   * In `using()`, how many milliseconds before the lock's `expiration` it is extended. A lock's duration
   * must be at least 100 ms longer.
   * @defaultValue `500`
   */
  readonly automaticExtensionThreshold: number;
}

/** node-redlock 5's defaults. */
export const DEFAULT_SETTINGS: Settings = {
  driftFactor: 0.01,
  retryCount: 10,
  retryDelay: 200,
  retryJitter: 100,
  automaticExtensionThreshold: 500,
};

const SETTING_NAMES = Object.keys(DEFAULT_SETTINGS) as readonly (keyof Settings)[];

/**
 * `settings` over `base`, checked: an unknown name or a value that is not a finite number of the right
 * range is a `TypeError` or `RangeError` here, before any node is called (node-redlock silently used its
 * default for a value that is not a number). A setting given as `undefined` keeps `base`'s, as node-redlock's
 * constructor does (`{ retryCount: config.retryCount }` with nothing configured).
 */
export function settingsOf(settings: Partial<Settings> | undefined, base: Settings, where: string): Settings {
  if (settings === undefined || settings === base) return base;
  if (typeof settings !== 'object' || settings === null) {
    throw new TypeError(`Expected the settings of ${where} to be an object, got ${String(settings)}`);
  }
  for (const name of Object.keys(settings)) {
    if (!(SETTING_NAMES as readonly string[]).includes(name)) {
      throw new TypeError(`Unknown setting \`${name}\` in ${where}: node-redlock's settings are ${SETTING_NAMES.map((known) => `\`${known}\``).join(', ')}`);
    }
  }
  const merged: { -readonly [Name in keyof Settings]: Settings[Name] } = { ...base };
  for (const name of SETTING_NAMES) {
    const value = settings[name];
    if (value !== undefined) merged[name] = value;
  }
  for (const name of SETTING_NAMES) {
    const value: unknown = merged[name];
    // `retryCount: Infinity` retries for ever, as `-1` does (node-redlock's loop never ends either).
    if (name === 'retryCount' && value === Infinity) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new TypeError(`Expected \`${name}\` in ${where} to be a finite number, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
    }
  }
  if (!(merged.driftFactor >= 0 && merged.driftFactor < 1)) throw new RangeError(`Expected \`driftFactor\` in ${where} to be in [0, 1), got ${merged.driftFactor}`);
  if ((!Number.isInteger(merged.retryCount) && merged.retryCount !== Infinity) || merged.retryCount < -1) {
    throw new RangeError(`Expected \`retryCount\` in ${where} to be an integer ≥ 0, or -1 (or Infinity) to retry until the lock is acquired, got ${merged.retryCount}`);
  }
  for (const name of ['retryDelay', 'retryJitter', 'automaticExtensionThreshold'] as const) {
    if (merged[name] < 0) throw new RangeError(`Expected \`${name}\` in ${where} to be ≥ 0, got ${merged[name]}`);
  }
  return merged;
}

/** Whether `a` and `b` hold the same value for every setting, and `a` no other name. */
export function isSameSettings(a: Settings, b: Settings): boolean {
  return Object.keys(a).length === SETTING_NAMES.length && SETTING_NAMES.every((name) => a[name] === b[name]);
}

/** node-redlock's `retryCount`, where `-1` means for ever, as redlock-core's (`Infinity`). */
function coreRetryCountOf(settings: Settings): number {
  return settings.retryCount === -1 ? Infinity : settings.retryCount;
}

/** The options of the core `Redlock` behind a compat `Redlock` with `settings`. */
export function coreOptionsOf(settings: Settings): RedlockOptions {
  return { driftFactor: settings.driftFactor, ...acquireOptionsOf(settings) };
}

/** The per-call options of a core `acquire()` with `settings`. */
export function acquireOptionsOf(settings: Settings): AcquireOptions {
  // node-redlock waits fractional milliseconds as its timer does (`100 * 1.1`); the core takes whole ones.
  return { retryCount: coreRetryCountOf(settings), retryDelayMs: Math.round(settings.retryDelay), retryJitterMs: Math.round(settings.retryJitter) };
}
