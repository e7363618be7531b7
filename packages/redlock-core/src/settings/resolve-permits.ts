// The arguments of a semaphore or a read-write lock and of their calls, checked before any node is called.
import { MAX_PERMIT_LIMIT } from '../scripts/permit-acquire.js';
import { resolveResources } from './resolve-resources.js';
import { checkExtensionLimits, resolveRetries, type RetryDefaults, type WaitSettings } from './resolve-options.js';
import { checkInteger, checkSignal, checkType, checkOptionsObject } from './value-checks.js';

/** A read-write lock after validation: its resource and its key on every node. */
export interface ReadWriteSettings {
  /** The resource, without the key prefix. */
  readonly resource: string;
  /** Its key on every node: the key prefix and the resource. */
  readonly key: string;
}

/** A semaphore after validation: one resource and its key, as a read-write lock's, and its limit. */
export interface SemaphoreSettings extends ReadWriteSettings { readonly limit: number }

/** One call of a semaphore's `acquire()`, `tryAcquire()` or `using()` after validation. */
export interface PermitSettings extends WaitSettings {
  readonly permits: number;
  readonly signal: AbortSignal | undefined;
  readonly autoExtend: boolean;
  /** The limits of automatic extension (`autoExtend`, or `using()`). */
  readonly limits: ReturnType<typeof checkExtensionLimits>;
}

/** Validates `redlock.semaphore()`'s arguments: one resource, as a lock's, and its limit. */
export function resolveSemaphore(resource: unknown, options: unknown, keyPrefix: string): SemaphoreSettings {
  const resolved = resolveReadWriteLock(resource, keyPrefix);
  if (options === undefined) throw new TypeError('Expected the options of `redlock.semaphore()` with a `limit`, got `undefined`');
  const { limit } = checkOptionsObject(options, 'semaphore');
  if (limit === undefined) throw new TypeError('Expected the options of `redlock.semaphore()` to set `limit`, how many permits may be held at once');
  checkInteger('limit', limit, 1, MAX_PERMIT_LIMIT);
  return { ...resolved, limit };
}

/** Validates `redlock.readWriteLock()`'s argument: one resource, as a lock's. */
export function resolveReadWriteLock(resource: unknown, keyPrefix: string): ReadWriteSettings {
  checkType('resource', resource, 'string');
  const { keys } = resolveResources(resource, keyPrefix);
  return { resource, key: keys[0] as string };
}

/**
 * The calls whose options {@link resolvePermitOptions} checks: a semaphore's `acquire()`, `tryAcquire()` (which refuses
 * the retry options) or `using()`, or a read-write lock's (which take no `permits`: 1, with a `limit` of 1).
 */
export type PermitScope = 'acquirePermits' | 'tryAcquirePermits' | 'usingPermits' | 'acquireReadWrite' | 'tryAcquireReadWrite' | 'usingReadWrite';

/** Validates the options of the call `scope`, filling in the `Redlock`'s retry defaults. */
export function resolvePermitOptions(options: unknown, limit: number, defaults: RetryDefaults & { readonly waitMs: number }, scope: PermitScope): PermitSettings {
  const given = checkOptionsObject(options, scope);
  const { permits = 1, signal, autoExtend = false } = given;
  checkInteger('permits', permits, 1, limit);
  checkSignal(signal);
  checkType('autoExtend', autoExtend, 'boolean');
  // `using()` always extends, and takes no `autoExtend`.
  const isUsing = scope === 'usingPermits' || scope === 'usingReadWrite';
  const limits = checkExtensionLimits({ maxExtensions: given['maxExtensions'], maxHoldMs: given['maxHoldMs'] }, isUsing ? undefined : autoExtend);
  return { permits, signal, autoExtend, limits, ...resolveRetries(given, defaults) };
}
