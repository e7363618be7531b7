import { setTimeout as delay } from 'node:timers/promises';

/** How often {@link eventually} reads again, in milliseconds. */
const POLL_INTERVAL_MS = 20;

/**
 * Reads `read()` every 20 ms until `isDone` accepts its value or `limitMs` passed, and resolves with the
 * last value read, for the test to assert on: work that finishes in the background (the last nodes of a
 * release, a cleanup sent again) gets a bounded time to show, and a failure shows what was there.
 */
export async function eventually<T>(read: () => Promise<T> | T, isDone: (value: T) => boolean, limitMs: number): Promise<T> {
  const deadline = performance.now() + limitMs;
  let value = await read();
  while (!isDone(value) && performance.now() < deadline) {
    await delay(POLL_INTERVAL_MS);
    value = await read();
  }
  return value;
}
