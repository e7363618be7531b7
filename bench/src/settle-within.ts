/** How a promise settled within a time bound: like `PromiseSettledResult`, or not at all in time. */
export type SettledWithin<T> = PromiseSettledResult<T> | { readonly status: 'timed-out' };

/**
 * Waits at most `timeoutMs` milliseconds for `promise` to settle. It is not cancelled when the time is up
 * (nothing can cancel it): the caller decides what to do with it if it settles later.
 */
export function settleWithin<T>(promise: Promise<T>, timeoutMs: number): Promise<SettledWithin<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ status: 'timed-out' }), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve({ status: 'fulfilled', value });
      },
      (reason: unknown) => {
        clearTimeout(timer);
        resolve({ status: 'rejected', reason });
      },
    );
  });
}
