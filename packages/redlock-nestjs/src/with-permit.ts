import { MAX_PERMIT_LIMIT, type PermitUsingOptions } from 'redlock-core';
import { checkDurations, checkInteger, checkOptionNames, checkResource, placeOf } from './decorator-checks.js';
import { type GuardedMethodDecorator, guardMethod } from './guarded-method.js';

/** {@link WithPermit}'s options: the semaphore's limit, the permits' TTL, and `semaphore.using()`'s options but a per-call `signal`. */
export interface WithPermitOptions extends Omit<PermitUsingOptions, 'signal'> {
  /** How many permits the semaphore has: at most this many calls (of every instance) run at once. An integer from 1 to 1,000. */
  readonly limit: number;
  /**
   * How long the nodes keep the permits, in milliseconds, between extensions: they are extended while the
   * method runs, so this bounds how long a crashed holder keeps them.
   */
  readonly ttlMs: number;
}

const OPTION_NAMES: readonly (keyof WithPermitOptions)[] = ['limit', 'ttlMs', 'permits', 'waitMs', 'retryCount', 'retryDelayMs', 'retryJitterMs', 'maxExtensions', 'maxHoldMs'];

/**
 * Runs the method under a permit of a counting semaphore, through `redlock.semaphore(resource, { limit
 * }).using()` with the module's `Redlock`: at most `limit` calls hold a permit at once, across every
 * instance of the application; the others wait as the options say. Otherwise as {@link WithLock}: the
 * method keeps its `this`, arguments and result, must return a promise, and its `@LockSignal()`
 * parameter gets the permits' signal.
 *
 * @param resource - The semaphore's resource, or a function of the method's arguments that returns it.
 * @param options - The limit, the TTL, and `using()`'s options: see {@link WithPermitOptions}.
 * @throws `TypeError` or `RangeError` when the class is defined: a resource that is not a non-empty
 *   string (or a function), a `limit` that is not an integer from 1 to 1,000, `permits` above it, a bad
 *   `ttlMs` or `waitMs`, an unknown option, or a static method. Each call rejects as `semaphore.using()`
 *   does: `PermitError` when no permit could be acquired (the method does not run), `LockLostError` when
 *   the permits were lost while it ran, `RedlockClosedError` after the application's shutdown, and
 *   whatever the method throws.
 *
 * @example
 * ```ts
 * @WithPermit('partner-api', { limit: 3, ttlMs: 10_000, waitMs: 30_000 })
 * async callPartner(request: PartnerRequest, @LockSignal() signal?: AbortSignal): Promise<PartnerReply> {
 *   return this.partner.send(request, { signal });
 * }
 * ```
 */
export function WithPermit<Args extends unknown[]>(resource: string | ((...args: Args) => string), options: WithPermitOptions): GuardedMethodDecorator {
  return (target, key, descriptor) => {
    const place = placeOf('WithPermit', target, key);
    checkResource(place, resource, false);
    checkOptionNames(place, options, OPTION_NAMES);
    checkInteger(place, 'limit', options.limit, 1, MAX_PERMIT_LIMIT);
    if (options.permits !== undefined) checkInteger(place, 'permits', options.permits, 1, options.limit);
    checkDurations(place, options);
    const { limit, ttlMs, ...usingOptions } = options;
    guardMethod(place, target, key, descriptor, (redlock, self, args, body) => {
      const name = typeof resource === 'function' ? resource.apply(self, args as Args) : resource;
      return redlock.semaphore(name, { limit }).using(ttlMs, body, usingOptions);
    });
  };
}
