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
  /**
   * Not in node-redlock. What a node that failed votes against with, in `ExecutionStats.votesAgainst` and
   * the `"error"` events: `'node-redlock'`, the client's own error, as node-redlock (`Connection is
   * closed.`; a copy without the command's arguments, which carry the lock's value, when the client put
   * them on it); `'redlock-core'`, the core's `NodeError`, which names the node (`nodeIndex`) and has the
   * client's error as its `cause`. A node that timed out or is left alone as silent has no error of the
   * client's: it votes with the `NodeError` either way. Given to the constructor, it also says how a node
   * whose client has no connection (its server is down) is treated: `'node-redlock'`, called at every
   * attempt, each waiting for the client to fail the command; `'redlock-core'`, counted as down after its
   * first such failure and not called until its client connects again, so that a call with most nodes
   * down gives up at the pace of its retries.
   * @defaultValue `'node-redlock'`
   */
  readonly errors?: CompatBehaviour;
  /**
   * Not in node-redlock. What `acquire()` does when keys that are not locks (a value without a TTL,
   * another type) deny a quorum: `'node-redlock'`, it retries `retryCount` times, as node-redlock;
   * `'redlock-core'`, it fails after that attempt, as such a key never goes away by itself (the
   * `ExecutionError`'s `cause` is the core's `LockAcquireError`, with reason `'foreign-key'`).
   * @defaultValue `'node-redlock'`
   */
  readonly foreignKeys?: CompatBehaviour;
  /**
   * Not in node-redlock. Which durations the calls take: `'node-redlock'`, any integer number of
   * milliseconds from the core's shortest (53 ms with the default timeouts) up to
   * `Number.MAX_SAFE_INTEGER`, centuries included, each sent to Redis as it is; `'redlock-core'`, at
   * most 2³¹−1 ms (24.8 days), the core's longest, and a `RangeError` above. See the README, "Durations
   * longer than 24.8 days".
   * @defaultValue `'node-redlock'`
   */
  readonly durations?: CompatBehaviour;
}

/**
 * Which library a setting of this package's own follows: node-redlock 5, the default, or redlock-core,
 * where the core is stricter.
 */
export type CompatBehaviour = 'node-redlock' | 'redlock-core';

/** node-redlock 5's defaults. */
export const DEFAULT_SETTINGS: Settings = {
  driftFactor: 0.01,
  retryCount: 10,
  retryDelay: 200,
  retryJitter: 100,
  automaticExtensionThreshold: 500,
};

/** The settings that are numbers: node-redlock's. */
const NUMBER_NAMES = Object.keys(DEFAULT_SETTINGS) as readonly NumberName[];
type NumberName = 'driftFactor' | 'retryCount' | 'retryDelay' | 'retryJitter' | 'automaticExtensionThreshold';
/** The settings of this package's own, each a {@link CompatBehaviour}; absent from `redlock.settings` unless given. */
const BEHAVIOUR_NAMES = ['errors', 'foreignKeys', 'durations'] as const satisfies readonly (keyof Settings)[];
const SETTING_NAMES: readonly (keyof Settings)[] = [...NUMBER_NAMES, ...BEHAVIOUR_NAMES];
const BEHAVIOURS: readonly CompatBehaviour[] = ['node-redlock', 'redlock-core'];

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
      throw new TypeError(`Unknown setting \`${name}\` in ${where}: the settings are ${SETTING_NAMES.map((known) => `\`${known}\``).join(', ')}`);
    }
  }
  const merged: { -readonly [Name in keyof Settings]: Settings[Name] } = { ...base };
  for (const name of SETTING_NAMES) {
    const value = settings[name];
    if (value !== undefined) (merged as Record<string, unknown>)[name] = value;
  }
  for (const name of BEHAVIOUR_NAMES) {
    const value: unknown = merged[name];
    if (value !== undefined && !(BEHAVIOURS as readonly unknown[]).includes(value)) {
      throw new TypeError(`Expected \`${name}\` in ${where} to be 'node-redlock' or 'redlock-core', got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
    }
  }
  for (const name of NUMBER_NAMES) {
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

/** Whether `a` and `b` have the same names, each with the same value. */
export function isSameSettings(a: Settings, b: Settings): boolean {
  const names = Object.keys(a) as (keyof Settings)[];
  return names.length === Object.keys(b).length && names.every((name) => a[name] === b[name]);
}

/** node-redlock's drift for a duration: `round(duration × driftFactor) + 2` milliseconds. */
export function driftOf(duration: number, driftFactor: number): number {
  return Math.round(duration * driftFactor) + 2;
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
