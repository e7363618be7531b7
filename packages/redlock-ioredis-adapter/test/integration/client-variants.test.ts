import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from '@jest/globals';
import { Redis as Redis5 } from 'ioredis-v5';
import { Redis as Valkey } from 'iovalkey';
import { type AdapterFactory, describeAdapterContract, describeRedlockSuite, type TestFunctions, useTestNodes } from 'redlock-adapter-test-kit';
import { IoredisAdapter, type IoredisClient } from '../../src/index.js';

// The shared kit against the other clients the adapter supports: ioredis 5 and iovalkey, each in the
// adapter's default setup (release notifications over its own subscriber connection). ioredis 6 runs the
// same suites in ioredis-adapter.test.ts and redlock.test.ts.
const test: TestFunctions = { describe, it, beforeAll, afterAll, beforeEach, afterEach };

/** What the factory does with a client besides wrapping it. */
type TestClient = IoredisClient & {
  ping(): Promise<unknown>;
  disconnect(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
};

/** A client of `Client` per node, ready before the tests use it, in a default IoredisAdapter closed with it. */
function factoryOf(Client: new (url: string, options: { maxRetriesPerRequest: number }) => TestClient): AdapterFactory {
  return async (url) => {
    const client = new Client(url, { maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    await client.ping();
    const adapter = new IoredisAdapter(client);
    return {
      adapter,
      close: async () => {
        await adapter.close();
        client.disconnect();
      },
    };
  };
}

const variants = [
  ['ioredis 5', factoryOf(Redis5)],
  ['iovalkey', factoryOf(Valkey)],
] as const;

describe('IoredisAdapter contract over other clients', () => {
  const nodes = useTestNodes(test, 1);
  for (const [name, connect] of variants) describeAdapterContract({ name: `IoredisAdapter over ${name}`, test, nodes, connect });
});

describe('Redlock over IoredisAdapters of other clients', () => {
  const nodes = useTestNodes(test, 5);
  for (const [name, connect] of variants) describeRedlockSuite({ name: `IoredisAdapter over ${name}`, test, nodes, connect });
});
