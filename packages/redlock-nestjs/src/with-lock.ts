import type { UsingOptions } from 'redlock-core';
import { checkDurations, checkOptionNames, checkResource, placeOf } from './decorator-checks.js';
import { type GuardedMethodDecorator, guardMethod } from './guarded-method.js';

/** {@link WithLock}'s options: the lock's TTL, and `redlock.using()`'s options but a per-call `signal` or `reentrant`. */
export interface WithLockOptions extends Omit<UsingOptions, 'signal' | 'reentrant'> {
  /**
   * How long the nodes keep the lock, in milliseconds, between extensions: the lock is extended while
   * the method runs (when half of it is left), so this bounds how long others wait after a crash.
   */
  readonly ttlMs: number;
}

const OPTION_NAMES: readonly (keyof WithLockOptions)[] = ['ttlMs', 'waitMs', 'retryCount', 'retryDelayMs', 'retryJitterMs', 'fencing', 'fair', 'maxExtensions', 'maxHoldMs'];

/**
 * Runs the method under a lock, through `redlock.using()` with the module's `Redlock`: each call
 * acquires the lock (waiting as the options say), keeps it extended while the method runs, and releases
 * it when the method settles. The method keeps its `this`, arguments and result; it must return a promise
 * (be `async`). Its `@LockSignal()` parameter gets the lock's signal. The class must be a provider (or
 * controller) of a module that can inject `Redlock`.
 *
 * @param resource - The resource to lock (or several, locked together), or a function of the method's
 *   arguments (called with the same `this`) that returns it: `(orderId: string) => \`orders:${orderId}\``.
 * @param options - The TTL, and `using()`'s options: see {@link WithLockOptions}.
 * @throws `TypeError` or `RangeError` when the class is defined: a resource that is not a non-empty
 *   string (or a non-empty list of them, or a function), a `ttlMs` or `waitMs` that is not a positive
 *   integer of milliseconds, an unknown option, or a static method. Each call rejects as
 *   `redlock.using()` does: `LockAcquireError` when the lock could not be acquired (the method does not
 *   run); `LockLostError` when the method returned but the lock was lost meanwhile; `RedlockClosedError`
 *   after the application's shutdown; whatever the method throws; and a `TypeError` when no `Redlock`
 *   was injected into the instance.
 *
 * @example
 * ```ts
 * @Injectable()
 * export class ReportsService {
 *   @WithLock('reports:daily', { ttlMs: 30_000, waitMs: 5_000 })
 *   async writeDaily(@LockSignal() signal?: AbortSignal): Promise<void> {
 *     const rows = await this.loadRows({ signal });
 *     await this.write(rows, { signal });
 *   }
 * }
 * ```
 */
export function WithLock<Args extends unknown[]>(
  resource: string | readonly string[] | ((...args: Args) => string | readonly string[]),
  options: WithLockOptions,
): GuardedMethodDecorator {
  return (target, key, descriptor) => {
    const place = placeOf('WithLock', target, key);
    checkResource(place, resource, true);
    checkOptionNames(place, options, OPTION_NAMES);
    checkDurations(place, options);
    const { ttlMs, ...usingOptions } = options;
    guardMethod(place, target, key, descriptor, (redlock, self, args, body) => {
      const resources = typeof resource === 'function' ? resource.apply(self, args as Args) : resource;
      return redlock.using(resources, ttlMs, body, usingOptions);
    });
  };
}
