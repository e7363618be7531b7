// The options of a `Redlock` and of one call, checked once and filled in with the defaults.
import { type Clock, SYSTEM_CLOCK } from '../base/clock.js';
import { DEFAULT_OPTIONS, MAX_TTL_MS } from './defaults.js';
import { checkDurationMs, checkInteger, checkSignal, checkType, checkOptionsObject, formatValue } from './value-checks.js';

/** The options of a `Redlock` after validation, with defaults filled in. */
export interface ResolvedOptions extends WaitSettings {
  readonly driftFactor: number;
  readonly nodeTimeoutMs: number | undefined;
  readonly keyPrefix: string;
  readonly restartGraceMs: number;
  readonly refuseEvictingNodes: boolean;
  readonly shortTtlMs: number;
  readonly clock: Clock;
}

/** Options as given, each read as `unknown` until its check narrows it. */
type GivenOptions = { readonly [name: string]: unknown };

function isClock(value: unknown): value is Clock {
  return ['now', 'wallNow', 'setTimeout', 'clearTimeout'].every((method) => typeof Reflect.get(Object(value), method) === 'function');
}

/** Validates a `Redlock`'s options and fills in the defaults. */
export function resolveOptions(options: unknown): ResolvedOptions {
  const given = checkOptionsObject(options, 'Redlock');
  const { driftFactor = DEFAULT_OPTIONS.driftFactor, keyPrefix = DEFAULT_OPTIONS.keyPrefix, clock = SYSTEM_CLOCK, nodeTimeoutMs } = given;
  const { restartGraceMs = DEFAULT_OPTIONS.restartGraceMs, refuseEvictingNodes = DEFAULT_OPTIONS.refuseEvictingNodes, shortTtlMs = DEFAULT_OPTIONS.shortTtlMs } = given;
  checkType('driftFactor', driftFactor, 'number');
  if (!(driftFactor >= 0 && driftFactor < 1)) {
    throw new RangeError(`Expected \`driftFactor\` to be a number in [0, 1), got ${formatValue(driftFactor)}`);
  }
  checkType('keyPrefix', keyPrefix, 'string');
  // As for resources: a client sends a lone surrogate as U+FFFD, so two prefixes would share every key.
  if (!keyPrefix.isWellFormed()) {
    throw new RangeError(`Expected \`keyPrefix\` to be well-formed Unicode, got ${formatValue(keyPrefix)} with a lone surrogate`);
  }
  if (!isClock(clock)) {
    throw new TypeError(`Expected \`clock\` to implement now, wallNow, setTimeout and clearTimeout, got ${formatValue(clock)}`);
  }
  if (nodeTimeoutMs !== undefined) checkDurationMs('nodeTimeoutMs', nodeTimeoutMs, 1);
  checkDurationMs('restartGraceMs', restartGraceMs, 0);
  checkType('refuseEvictingNodes', refuseEvictingNodes, 'boolean');
  checkDurationMs('shortTtlMs', shortTtlMs, 0);
  return { restartGraceMs, refuseEvictingNodes, shortTtlMs, ...resolveRetries(given, DEFAULT_OPTIONS), driftFactor, keyPrefix, clock, nodeTimeoutMs };
}

/** The retry settings of one call: its own where given, else the `Redlock`'s. */
export interface RetrySettings {
  /** A non-negative integer, or `Infinity`. */
  readonly retryCount: number;
  readonly retryDelayMs: number;
  readonly retryJitterMs: number;
}

/** The retry settings and time limit of one call: its own where given, else the `Redlock`'s. */
export interface WaitSettings extends RetrySettings {
  /** A positive integer, or `Infinity` for no time limit. */
  readonly waitMs: number;
  /** Whether no `retryCount` was given, on the call or the `Redlock` (see {@link resolveRetries}). */
  readonly isRetryCountDefault: boolean;
}

/** The `Redlock`'s settings that a call's retry settings default to. */
export interface RetryDefaults extends RetrySettings {
  readonly waitMs?: number;
  /** Whether the `Redlock` was given no `retryCount`: then a call that says how long to wait retries until then (see {@link resolveRetries}). */
  readonly isRetryCountDefault?: boolean;
}

/** The per-call settings of `acquire()` and `using()` after validation; `reentrant` is checked by the caller. */
export interface AcquireSettings extends WaitSettings {
  readonly signal: AbortSignal | undefined;
  readonly fencing: boolean;
  readonly fair: boolean;
  readonly reentrant: unknown;
  readonly autoExtend: boolean;
  /** As given, read with the other options and checked after them, by {@link checkExtensionLimits}. */
  readonly maxExtensions: unknown;
  /** As given, like {@link maxExtensions}. */
  readonly maxHoldMs: unknown;
}

/** Validates per-call options of `acquire()`, `tryAcquire()` (which the name check keeps to its own) and `using()`. */
export function resolveAcquireOptions(options: unknown, defaults: RetryDefaults, scope: 'acquire' | 'tryAcquire' | 'using' = 'acquire'): AcquireSettings {
  const given = checkOptionsObject(options, scope);
  const { signal, fencing, fair, reentrant, autoExtend, maxExtensions, maxHoldMs } = given;
  checkSignal(signal);
  if (fencing !== undefined) checkType('fencing', fencing, 'boolean');
  if (fair !== undefined) checkType('fair', fair, 'boolean');
  if (autoExtend !== undefined) checkType('autoExtend', autoExtend, 'boolean');
  const { retryCount, retryDelayMs, retryJitterMs, waitMs, isRetryCountDefault } = resolveRetries(given, defaults);
  return { retryCount, retryDelayMs, retryJitterMs, waitMs, isRetryCountDefault, signal, fencing: fencing ?? false, fair: fair ?? false, reentrant, autoExtend: autoExtend ?? false, maxExtensions, maxHoldMs };
}

/** Limits on how long automatic extension keeps a lock; see `AcquireOptions.maxExtensions` and `maxHoldMs`. */
export interface ExtensionLimits { readonly maxExtensions: number | undefined; readonly maxHoldMs: number | undefined }

const NO_LIMITS = { maxExtensions: undefined, maxHoldMs: undefined } as const;

/**
 * Validates the limits of automatic extension (`using()`, or `acquire()` with `autoExtend`), as read with the
 * other options of the call (see {@link AcquireSettings.maxExtensions}): the options are read once. With
 * `autoExtend` `false` (a call that could extend but does not), a limit is a mistake.
 */
export function checkExtensionLimits(settings: Pick<AcquireSettings, 'maxExtensions' | 'maxHoldMs'>, autoExtend?: boolean): ExtensionLimits {
  const { maxExtensions, maxHoldMs } = settings;
  if (maxExtensions === undefined && maxHoldMs === undefined) return NO_LIMITS;
  if (maxExtensions !== undefined) checkInteger('maxExtensions', maxExtensions, 0, Number.MAX_SAFE_INTEGER);
  if (maxHoldMs !== undefined) checkDurationMs('maxHoldMs', maxHoldMs, 1);
  if (autoExtend === false) {
    const name = maxExtensions !== undefined ? 'maxExtensions' : 'maxHoldMs';
    throw new TypeError(`Expected \`autoExtend: true\` with \`${name}\`, which limits automatic extension, got \`autoExtend: false\``);
  }
  return { maxExtensions, maxHoldMs };
}

/**
 * Validates the retry settings given and fills in the others from `defaults`, which are valid already. A call that says
 * how long to wait (its own `waitMs`, `Infinity` included, or the `Redlock`'s time limit) and has no `retryCount`
 * anywhere retries until then: it means it, where the default count alone would give up after some 2 s of retries.
 */
export function resolveRetries(given: GivenOptions, defaults: RetryDefaults): WaitSettings {
  const { retryCount, retryDelayMs, retryJitterMs, waitMs } = given;
  if (retryCount !== undefined) {
    // `-1` is node-redlock's "for ever": see `RedlockOptions.retryCount`.
    const advice = retryCount === -1 ? ': to retry until the lock is acquired, `signal` aborts or `waitMs` runs out, write `Infinity`' : '';
    checkInteger('retryCount', retryCount, 0, Number.MAX_SAFE_INTEGER, true, advice);
  }
  if (retryDelayMs !== undefined) checkDurationMs('retryDelayMs', retryDelayMs, 0);
  if (retryJitterMs !== undefined) checkDurationMs('retryJitterMs', retryJitterMs, 0);
  if (waitMs !== undefined) checkInteger('waitMs', waitMs, 1, MAX_TTL_MS, true, waitMs === 0 ? ': for a single attempt without waiting, use `tryAcquire()`' : '');
  const resolvedWaitMs = waitMs === undefined ? (defaults.waitMs ?? Infinity) : waitMs;
  let resolvedRetryCount = retryCount === undefined ? defaults.retryCount : retryCount;
  // Only for a call: the `Redlock`'s own options (resolved over defaults without the flag) keep the default
  // count, for the calls that say nothing of how long to wait.
  if (retryCount === undefined && defaults.isRetryCountDefault === true && (waitMs !== undefined || resolvedWaitMs !== Infinity)) resolvedRetryCount = Infinity;
  return {
    retryCount: resolvedRetryCount,
    retryDelayMs: retryDelayMs === undefined ? defaults.retryDelayMs : retryDelayMs,
    retryJitterMs: retryJitterMs === undefined ? defaults.retryJitterMs : retryJitterMs,
    waitMs: resolvedWaitMs,
    isRetryCountDefault: retryCount === undefined && defaults.isRetryCountDefault !== false,
  };
}

/**
 * What the error of an acquisition that gave up on a resource held by others adds when its default retries ran out
 * (neither `retryCount` nor `waitMs` was given, or the retries would not run out): how to wait longer. Empty otherwise.
 */
export function defaultRetriesAdvice(settings: Pick<WaitSettings, 'retryCount' | 'isRetryCountDefault'>, waitMs: number | undefined): string {
  if (waitMs !== undefined || !settings.isRetryCountDefault || settings.retryCount === Infinity) return '';
  return `; its ${settings.retryCount} retries (the default) ran out: give \`waitMs\` to wait longer`;
}
