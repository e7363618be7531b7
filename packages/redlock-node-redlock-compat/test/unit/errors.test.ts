import { describe, expect, it } from '@jest/globals';
import { ExecutionError, ResourceLockedError } from '../../src/index.js';

// node-redlock's errors carry their message as an own enumerable property (assigned after super()), so
// loggers that serialize errors with JSON.stringify or a spread keep it: so do these.
describe('node-redlock compat: errors', () => {
  it('serialize with their name and message, as node-redlock\'s do', () => {
    const locked = new ResourceLockedError('The operation was applied to: 0 of the 1 requested resources.');
    expect(JSON.parse(JSON.stringify(locked))).toEqual({ name: 'ResourceLockedError', message: 'The operation was applied to: 0 of the 1 requested resources.' });
    const failed = new ExecutionError('The operation was unable to achieve a quorum during its retry window.', [], { cause: locked });
    expect({ ...failed }).toMatchObject({ name: 'ExecutionError', message: 'The operation was unable to achieve a quorum during its retry window.', attempts: [] });
    expect(failed.cause).toBe(locked);
    expect(String(failed)).toBe('ExecutionError: The operation was unable to achieve a quorum during its retry window.');
  });
});
