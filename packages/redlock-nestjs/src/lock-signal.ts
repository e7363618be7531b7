/** The index of each decorated method's `@LockSignal()` parameter, by class prototype and method name. */
const SIGNAL_INDEXES = new WeakMap<object, Map<string | symbol, number>>();

/**
 * Marks the parameter of a `@WithLock()` or `@WithPermit()` method that receives the lock's `AbortSignal`:
 * it aborts, with a `LockLostError` as its `reason`, when the lock can no longer be relied on (an extension
 * failed, or the `Redlock` closed). Pass it to whatever the method waits on, or check `signal.aborted`
 * between steps. The caller's value for that parameter is replaced; declare it optional (`signal?:
 * AbortSignal`) so that callers need not pass one.
 *
 * @example
 * ```ts
 * @WithLock((orderId: string) => `orders:${orderId}`, { ttlMs: 10_000 })
 * async charge(orderId: string, @LockSignal() signal?: AbortSignal): Promise<void> {
 *   await this.payments.charge(orderId, { signal });
 * }
 * ```
 */
export function LockSignal(): ParameterDecorator {
  return (target, key, index) => {
    if (key === undefined) throw new TypeError('@LockSignal() marks a parameter of a method, not of a constructor');
    const indexes = SIGNAL_INDEXES.get(target) ?? new Map<string | symbol, number>();
    indexes.set(key, index);
    SIGNAL_INDEXES.set(target, indexes);
  };
}

/**
 * The index of the method's `@LockSignal()` parameter, if it has one. Parameter decorators run before
 * the method's own, so `@WithLock()` finds it whichever line it is written on.
 */
export function lockSignalIndexOf(target: object, key: string | symbol): number | undefined {
  return SIGNAL_INDEXES.get(target)?.get(key);
}
