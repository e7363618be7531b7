import { describe, expect, it } from '@jest/globals';
import { evalCommand, evalshaCommand, setIfAbsentCommand, trySetCommand } from '../../src/base/raw-commands.js';

describe('the raw command builders', () => {
  it('build EVALSHA and EVAL with the number of keys, the keys, then the arguments', () => {
    expect(evalshaCommand('abc123', ['k1', 'k2'], ['t', '10000'])).toEqual(['EVALSHA', 'abc123', '2', 'k1', 'k2', 't', '10000']);
    expect(evalCommand('return 1', [], [])).toEqual(['EVAL', 'return 1', '0']);
  });

  it('build SET NX PX, and SET NX PX GET, with the TTL in milliseconds as a string', () => {
    expect(trySetCommand('orders:42', 'token', 10_000)).toEqual(['SET', 'orders:42', 'token', 'NX', 'PX', '10000']);
    expect(setIfAbsentCommand('orders:42', 'token', 10_000)).toEqual(['SET', 'orders:42', 'token', 'NX', 'PX', '10000', 'GET']);
  });

  it('return a new array on every call, which the caller may hand to a client that keeps it', () => {
    const keys = ['k'];
    const first = evalshaCommand('abc123', keys, []);
    expect(evalshaCommand('abc123', keys, [])).not.toBe(first);
  });
});
