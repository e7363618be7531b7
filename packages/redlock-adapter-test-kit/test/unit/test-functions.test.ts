import { describe, expect, it } from '@jest/globals';
import { fromNodeTest, type NodeTestFunctions } from '../../src/index.js';

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
  });

  it('accepts the node:test module as it is', async () => {
    const nodeTest = await import('node:test');
    // Type-level check: node:test's functions fit NodeTestFunctions without a cast.
    const functions: NodeTestFunctions = nodeTest;
    expect(typeof fromNodeTest(functions).it).toBe('function');
  });
});
