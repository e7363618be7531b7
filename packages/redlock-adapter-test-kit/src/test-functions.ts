/**
 * The functions of your test runner that the kit registers its suites with. Jest's and Vitest's
 * globals fit as they are (`import { describe, it, beforeAll, afterAll, beforeEach, afterEach } from
 * '@jest/globals'` or `'vitest'`); for `node:test` use {@link fromNodeTest}. The kit asserts with
 * `node:assert`, whose `AssertionError` every runner reports, so it needs no `expect`.
 *
 * Times are in milliseconds: the kit passes each test and hook the timeout it needs (up to 20 s for a
 * test that kills nodes, 60 s for a hook that starts a cluster).
 */
export interface TestFunctions {
  readonly describe: (name: string, body: () => void) => void;
  readonly it: (name: string, body: () => Promise<void>, timeoutMs?: number) => void;
  readonly beforeAll: (body: () => Promise<void>, timeoutMs?: number) => void;
  readonly afterAll: (body: () => Promise<void>, timeoutMs?: number) => void;
  readonly beforeEach: (body: () => Promise<void>, timeoutMs?: number) => void;
  readonly afterEach: (body: () => Promise<void>, timeoutMs?: number) => void;
}

/** The functions of `node:test` that {@link fromNodeTest} adapts, typed structurally. */
export interface NodeTestFunctions {
  readonly describe: (name: string, body: () => void) => unknown;
  readonly it: (name: string, options: { timeout?: number }, body: () => Promise<void>) => unknown;
  readonly before: (body: () => Promise<void>, options: { timeout?: number }) => unknown;
  readonly after: (body: () => Promise<void>, options: { timeout?: number }) => unknown;
  readonly beforeEach: (body: () => Promise<void>, options: { timeout?: number }) => unknown;
  readonly afterEach: (body: () => Promise<void>, options: { timeout?: number }) => unknown;
}

/**
 * Adapts `node:test` to {@link TestFunctions}: its hooks are named `before`/`after`, and it takes timeouts
 * in an options object.
 *
 * @example
 * ```ts
 * import * as nodeTest from 'node:test';
 * import { describeAdapterContract, fromNodeTest } from 'redlock-adapter-test-kit';
 *
 * describeAdapterContract({ name: 'MyAdapter', test: fromNodeTest(nodeTest), connect: connectMyAdapter });
 * ```
 */
export function fromNodeTest(nodeTest: NodeTestFunctions): TestFunctions {
  const options = (timeoutMs: number | undefined): { timeout?: number } => (timeoutMs === undefined ? {} : { timeout: timeoutMs });
  return {
    describe: (name, body) => void nodeTest.describe(name, body),
    it: (name, body, timeoutMs) => void nodeTest.it(name, options(timeoutMs), body),
    beforeAll: (body, timeoutMs) => void nodeTest.before(body, options(timeoutMs)),
    afterAll: (body, timeoutMs) => void nodeTest.after(body, options(timeoutMs)),
    beforeEach: (body, timeoutMs) => void nodeTest.beforeEach(body, options(timeoutMs)),
    afterEach: (body, timeoutMs) => void nodeTest.afterEach(body, options(timeoutMs)),
  };
}

/** How long a test may take, in milliseconds: room for a loaded machine, never unbounded. */
export const TEST_TIMEOUT_MS = 20_000;
/** How long a hook that starts or stops servers may take, in milliseconds (a cluster usually needs 2 s). */
export const HOOK_TIMEOUT_MS = 60_000;
