import { describe, expect, it } from '@jest/globals';
import { Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNodes } from '../support/fake-adapter.js';

// The quorum view itself is checked on real Redis nodes (the redlock suite of the adapter package).
describe('redlock.inspect()', () => {
  it.each([
    [42, TypeError, 'Expected every resource to be a string, got `42`'],
    ['', RangeError, 'Expected every resource to be a non-empty string, got `""`'],
    [['a', 'b'], TypeError, 'Expected every resource to be a string, got `["a","b"]`'],
  ])('rejects %j before any node call', async (resource, type, message) => {
    const clock = new FakeClock();
    const nodes = grantingNodes(clock, 3);
    const inspecting = new Redlock(nodes, { clock }).inspect(resource as string);
    await expect(inspecting).rejects.toThrow(new type(message));
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});
