import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { type AdapterFactory, describeRedlockSuite, type TestFunctions, useTestNodes } from 'redlock-adapter-test-kit';
import { IoredisAdapter } from '../../src/index.js';

const test: TestFunctions = { describe, it, beforeAll, afterAll, beforeEach, afterEach };

/** An ioredis client per node, with a subscriber connection when `withSubscriber`, ready before the tests use it. */
function ioredisFactory(withSubscriber: boolean): AdapterFactory {
  return async (url) => {
    const client = new Redis(url);
    const subscriber = withSubscriber ? new Redis(url, { maxRetriesPerRequest: null }) : undefined;
    for (const each of [client, subscriber]) each?.on('error', () => undefined);
    await Promise.all([client.ping(), subscriber?.ping()]);
    return {
      adapter: new IoredisAdapter(client, subscriber === undefined ? {} : { subscriber }),
      close: async () => {
        for (const each of [client, subscriber]) each?.disconnect();
      },
    };
  };
}

// The kit's own short TTLs say they are meant: an adapter author's run prints no REDLOCK_SHORT_TTL warning
// (counted at process.emitWarning, which Node calls whatever `--disable-warning` later hides).
const shortTtlWarnings: unknown[] = [];
const emitWarning = process.emitWarning.bind(process);
beforeAll(() => {
  process.emitWarning = ((warning: string | Error, options?: unknown, ...rest: unknown[]) => {
    const code = typeof options === 'object' && options !== null ? (options as { readonly code?: unknown }).code : undefined;
    if (code === 'REDLOCK_SHORT_TTL') shortTtlWarnings.push(String(warning));
    (emitWarning as (...args: unknown[]) => void)(warning, options, ...rest);
  }) as typeof process.emitWarning;
});
afterAll(() => {
  process.emitWarning = emitWarning;
  expect(shortTtlWarnings).toEqual([]);
});

// Both suites share the same five nodes.
const nodes = useTestNodes(test, 5);
describeRedlockSuite({ name: 'IoredisAdapter over Redis', test, connect: ioredisFactory(false), nodes });
describeRedlockSuite({ name: 'IoredisAdapter with a subscriber', test, connect: ioredisFactory(true), nodes });
