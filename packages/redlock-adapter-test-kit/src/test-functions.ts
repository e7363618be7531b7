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
  /** Groups the tests and hooks registered in `body` under `name`, as Jest's `describe` does. */
  readonly describe: (name: string, body: () => void) => void;
  /** Registers a test; `timeoutMs` is the time it may take, in milliseconds (the kit always passes one). */
  readonly it: (name: string, body: () => Promise<void>, timeoutMs?: number) => void;
  /** Registers a hook that runs once before the tests of the enclosing `describe`; `timeoutMs` in milliseconds. */
  readonly beforeAll: (body: () => Promise<void>, timeoutMs?: number) => void;
  /** Registers a hook that runs once after the tests of the enclosing `describe`; `timeoutMs` in milliseconds. */
  readonly afterAll: (body: () => Promise<void>, timeoutMs?: number) => void;
  /** Registers a hook that runs before each test of the enclosing `describe`; `timeoutMs` in milliseconds. */
  readonly beforeEach: (body: () => Promise<void>, timeoutMs?: number) => void;
  /** Registers a hook that runs after each test of the enclosing `describe`; `timeoutMs` in milliseconds. */
  readonly afterEach: (body: () => Promise<void>, timeoutMs?: number) => void;
  /**
   * Optional: registers a test the runner reports as skipped, as Jest's and Vitest's `it.skip` do. The kit
   * skips this way the tests it cannot run (those that kill or pause nodes, when `REDLOCK_TEST_NODES`
   * points at nodes it does not control), so the runner's count shows them. Left out, the kit uses
   * `it.skip` when `it` has one (Jest's and Vitest's `it` do), else it leaves those tests out.
   */
  readonly skip?: (name: string, body: () => Promise<void>) => void;
}

/** The functions of `node:test` that {@link fromNodeTest} adapts, typed structurally. */
export interface NodeTestFunctions {
  /** `node:test`'s `describe`. */
  readonly describe: (name: string, body: () => void) => unknown;
  /** `node:test`'s `it`; `timeout` in milliseconds; `skip` registers the test as skipped. */
  readonly it: (name: string, options: { timeout?: number; skip?: boolean }, body: () => Promise<void>) => unknown;
  /** `node:test`'s `before`, the counterpart of `beforeAll`; `timeout` in milliseconds. */
  readonly before: (body: () => Promise<void>, options: { timeout?: number }) => unknown;
  /** `node:test`'s `after`, the counterpart of `afterAll`; `timeout` in milliseconds. */
  readonly after: (body: () => Promise<void>, options: { timeout?: number }) => unknown;
  /** `node:test`'s `beforeEach`; `timeout` in milliseconds. */
  readonly beforeEach: (body: () => Promise<void>, options: { timeout?: number }) => unknown;
  /** `node:test`'s `afterEach`; `timeout` in milliseconds. */
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
    skip: (name, body) => void nodeTest.it(name, { skip: true }, body),
  };
}

/**
 * How `test` registers a skipped test: its own `skip`, else `it.skip` when its `it` has one (Jest's and
 * Vitest's do), else `undefined`.
 */
export function skipOf(test: TestFunctions): TestFunctions['skip'] {
  if (test.skip !== undefined) return test.skip;
  const itSkip = (test.it as { readonly skip?: unknown }).skip;
  if (typeof itSkip !== 'function') return undefined;
  return (name, body) => void itSkip.call(test.it, name, body);
}

/** How long a test may take, in milliseconds: room for a loaded machine, never unbounded. */
export const TEST_TIMEOUT_MS = 20_000;
/** How long a hook that starts or stops servers may take, in milliseconds (a cluster usually needs 2 s). */
export const HOOK_TIMEOUT_MS = 60_000;
