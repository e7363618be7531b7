import { deepStrictEqual } from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';

/** Resolves with the rejection reason of `promise`; throws if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected the call to reject, but it resolved');
}

/** Calls `call`, throwing if it throws synchronously instead of returning a promise. */
export function callWithoutThrowing(call: () => Promise<unknown>): Promise<unknown> {
  try {
    return call();
  } catch (error) {
    throw new Error('Expected a rejected promise, but the call threw synchronously', { cause: error });
  }
}

/**
 * Waits, bounded (100 reads 20 ms apart), until `read` resolves with a value deep-equal to `expected`,
 * then asserts it once more: writes behind a quorum land a moment later on the slower nodes.
 */
export async function eventually<T>(read: () => Promise<T>, expected: T): Promise<void> {
  for (let tries = 0; tries < 100; tries += 1) {
    try {
      deepStrictEqual(await read(), expected);
      return;
    } catch {
      await delay(20);
    }
  }
  deepStrictEqual(await read(), expected);
}

/** Polls `condition` every 10 ms for at most 2 s; throws with `what` if it never holds. */
export async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let tries = 0; tries < 200 && !condition(); tries += 1) await delay(10);
  if (!condition()) throw new Error(`Timed out after 2 s waiting for ${what}`);
}
