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

/** Polls `condition` every 10 ms for at most `limitMs` (2 s by default); throws with `what` if it never holds. */
export async function waitFor(condition: () => boolean, what: string, limitMs = 2_000): Promise<void> {
  for (let tries = 0; tries < limitMs / 10 && !condition(); tries += 1) await delay(10);
  if (!condition()) throw new Error(`Timed out after ${limitMs / 1000} s waiting for ${what}`);
}

/**
 * Asserts that `reply` deep-equals `expected`, arrays compared by their elements whatever realm made them:
 * a client whose replies come from a native addon (Valkey GLIDE) builds its arrays with the main realm's
 * `Array`, which a test runner that runs tests in a `vm` context (Jest) sees as another class. The core
 * tests replies with `Array.isArray`, which sees through realms too.
 */
export function equalReply(reply: unknown, expected: unknown): void {
  deepStrictEqual(inThisRealm(reply), expected);
}

/** `value` with every array, however deep, copied into an array of this realm. */
function inThisRealm(value: unknown): unknown {
  return Array.isArray(value) ? Array.from(value as unknown[], inThisRealm) : value;
}

/**
 * A pattern for a server error reply with code `code` and text `text` as clients show it: `CODE text`
 * (node-redis, ioredis), or `CODE: text` (Valkey GLIDE, which puts a colon after the code). The core reads
 * no code from messages but NOSCRIPT, which it recognises in either form.
 */
export function serverErrorPattern(code: string, text = ''): RegExp {
  const escape = (part: string): string => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${escape(code)}:? ${escape(text)}`);
}
