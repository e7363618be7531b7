import { describe, expect, it } from '@jest/globals';
import { describeRedlockSuite, fromNodeTest, type NodeTestFunctions, type TestFunctions, type TestNodes } from '../../src/index.js';

describe('fromNodeTest', () => {
  it('maps the hooks to before/after and passes each timeout as node:test options', () => {
    const calls: unknown[][] = [];
    const record =
      (name: string) =>
      (...args: unknown[]): void => {
        calls.push([name, ...args.map((arg) => (typeof arg === 'function' ? 'fn' : arg))]);
      };
    const nodeTest = {
      describe: record('describe'),
      it: record('it'),
      before: record('before'),
      after: record('after'),
      beforeEach: record('beforeEach'),
      afterEach: record('afterEach'),
    } as unknown as NodeTestFunctions;
    const test = fromNodeTest(nodeTest);
    const body = async (): Promise<void> => undefined;
    test.describe('suite', () => undefined);
    test.it('with a timeout', body, 20_000);
    test.it('without', body);
    test.beforeAll(body, 60_000);
    test.afterAll(body);
    test.beforeEach(body, 5);
    test.afterEach(body, 6);
    expect(calls).toEqual([
      ['describe', 'suite', 'fn'],
      ['it', 'with a timeout', { timeout: 20_000 }, 'fn'],
      ['it', 'without', {}, 'fn'],
      ['before', 'fn', { timeout: 60_000 }],
      ['after', 'fn', {}],
      ['beforeEach', 'fn', { timeout: 5 }],
      ['afterEach', 'fn', { timeout: 6 }],
    ]);
    test.skip?.('skipped', body);
    expect(calls.at(-1)).toEqual(['it', 'skipped', { skip: true }, 'fn']);
  });

  it('accepts the node:test module as it is', async () => {
    const nodeTest = await import('node:test');
    // Type-level check: node:test's functions fit NodeTestFunctions without a cast.
    const functions: NodeTestFunctions = nodeTest;
    expect(typeof fromNodeTest(functions).it).toBe('function');
  });
});

describe('describeRedlockSuite on nodes the kit does not control', () => {
  /** Registers the suite with recording test functions (no test runs) and returns the names of each kind. */
  function registeredTests(withSkip: 'it.skip' | 'skip' | 'none'): { readonly run: string[]; readonly skipped: string[] } {
    const run: string[] = [];
    const skipped: string[] = [];
    const it = Object.assign((name: string): void => void run.push(name), withSkip === 'it.skip' ? { skip: (name: string): void => void skipped.push(name) } : {});
    const test: TestFunctions = {
      describe: (_name, body) => body(),
      it,
      beforeAll: () => undefined,
      afterAll: () => undefined,
      beforeEach: () => undefined,
      afterEach: () => undefined,
      ...(withSkip === 'skip' ? { skip: (name: string): void => void skipped.push(name) } : {}),
    };
    const nodes: TestNodes = {
      urls: ['redis://127.0.0.1:1', 'redis://127.0.0.1:2', 'redis://127.0.0.1:3', 'redis://127.0.0.1:4', 'redis://127.0.0.1:5'],
      get nodes(): never {
        throw new Error('no local processes');
      },
      canInjectFaults: false,
      command: () => Promise.reject(new Error('not connected')),
    };
    describeRedlockSuite({ name: 'Recorded', test, nodes, connect: () => Promise.reject(new Error('not connected')) });
    return { run, skipped };
  }

  it("registers the fault tests as skipped through the runner's it.skip, so its count shows them", () => {
    const { run, skipped } = registeredTests('it.skip');
    expect(skipped).toContain('keeps working with one node killed, and reports that node');
    expect(skipped.length).toBeGreaterThanOrEqual(6);
    expect(run.filter((name) => skipped.includes(name))).toEqual([]);
    expect(run).toContain('acquires on every node, extends and releases');
  });

  it('prefers a skip given among the test functions', () => {
    const { skipped } = registeredTests('skip');
    expect(skipped.length).toBeGreaterThanOrEqual(6);
    expect(skipped).toEqual(registeredTests('it.skip').skipped);
  });

  it('leaves them out when the runner has no way to skip', () => {
    const { run, skipped } = registeredTests('none');
    expect(skipped).toEqual([]);
    expect(run).not.toContain('keeps working with one node killed, and reports that node');
  });
});
