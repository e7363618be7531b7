import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from '@jest/globals';
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

// Both suites share the same five nodes.
const nodes = useTestNodes(test, 5);
describeRedlockSuite({ name: 'IoredisAdapter over Redis', test, connect: ioredisFactory(false), nodes });
describeRedlockSuite({ name: 'IoredisAdapter with a subscriber', test, connect: ioredisFactory(true), nodes });
