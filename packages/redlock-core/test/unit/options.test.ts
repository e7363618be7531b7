import { describe, expect, it } from '@jest/globals';
import { SYSTEM_CLOCK } from '../../src/base/clock.js';
import { DEFAULT_OPTIONS, defaultNodeTimeoutMs, MAX_TTL_MS } from '../../src/settings/defaults.js';
import { resolveNodes } from '../../src/settings/resolve-nodes.js';
import { resolveAcquireOptions, resolveOptions } from '../../src/settings/resolve-options.js';
import { resolveResources } from '../../src/settings/resolve-resources.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantingNode } from '../../src/testing/fake-nodes.js';

describe('defaultNodeTimeoutMs', () => {
  it.each([
    [1000, 50],
    [10_000, 50],
    [20_000, 100],
    [60_000, 300],
    [200_000, 1000],
    [MAX_TTL_MS, 1000],
  ])('derives the timeout of a %i ms TTL: %i ms', (ttlMs, expected) => {
    expect(defaultNodeTimeoutMs(ttlMs)).toBe(expected);
  });

  it.each([
    [1, 50],
    [2, 51],
    [1_001, 75],
    [10_001, 300],
  ])('gives a call over %i keys of a 10 s lock %i ms, since its script runs over every key', (keyCount, expected) => {
    expect(defaultNodeTimeoutMs(10_000, keyCount)).toBe(expected);
  });
});

describe('resolveOptions', () => {
  it('fills in DEFAULT_OPTIONS, the system clock and a derived node timeout', () => {
    expect(resolveOptions(undefined)).toEqual({
      driftFactor: 0.01,
      retryCount: 10,
      isRetryCountDefault: true,
      retryDelayMs: 200,
      retryJitterMs: 100,
      waitMs: Infinity,
      keyPrefix: '',
      restartGraceMs: 0,
      refuseEvictingNodes: false,
      shortTtlMs: 1_000,
      clock: SYSTEM_CLOCK,
      nodeTimeoutMs: undefined,
    });
    expect(DEFAULT_OPTIONS).toEqual({
      driftFactor: 0.01,
      retryCount: 10,
      retryDelayMs: 200,
      retryJitterMs: 100,
      waitMs: Infinity,
      keyPrefix: '',
      restartGraceMs: 0,
      refuseEvictingNodes: false,
      shortTtlMs: 1_000,
    });
  });

  it('keeps every given option', () => {
    const clock = new FakeClock();
    const options = {
      driftFactor: 0,
      retryCount: 0,
      retryDelayMs: 0,
      retryJitterMs: 0,
      waitMs: 60_000,
      keyPrefix: 'lock:',
      restartGraceMs: 30_000,
      refuseEvictingNodes: true,
      shortTtlMs: 250,
      clock,
      nodeTimeoutMs: 5,
    };
    expect(resolveOptions(options)).toEqual({ ...options, isRetryCountDefault: false });
  });
});

describe('resolveAcquireOptions', () => {
  it("overrides the Redlock's retry settings one by one", () => {
    // A Redlock given `retryCount: 3`.
    const defaults = { retryCount: 3, retryDelayMs: 200, retryJitterMs: 100, waitMs: Infinity, isRetryCountDefault: false };
    const signal = new AbortController().signal;
    expect(resolveAcquireOptions({ retryCount: 0, signal, fencing: true, autoExtend: true }, defaults)).toEqual({
      ...defaults,
      retryCount: 0,
      signal,
      fencing: true,
      fair: false,
      reentrant: undefined,
      autoExtend: true,
    });
    expect(resolveAcquireOptions(undefined, defaults)).toEqual({ ...defaults, signal: undefined, fencing: false, fair: false, reentrant: undefined, autoExtend: false });
    expect(resolveAcquireOptions({ fair: true }, defaults)).toMatchObject({ fair: true });
    expect(() => resolveAcquireOptions({ fair: 'yes' }, defaults)).toThrow(TypeError);
  });
});

describe('resolveNodes', () => {
  it('accepts adapters and { adapter, timeoutMs } nodes, keeping their order', () => {
    const clock = new FakeClock();
    const [a, b, c] = [grantingNode(clock), grantingNode(clock), grantingNode(clock)];
    expect(resolveNodes([a, { adapter: b, timeoutMs: 300 }, { adapter: c }])).toEqual([
      { adapter: a, timeoutMs: undefined },
      { adapter: b, timeoutMs: 300 },
      { adapter: c, timeoutMs: undefined },
    ]);
  });

  it('rejects the same adapter twice, which would count one vote twice', () => {
    const clock = new FakeClock();
    const [a, b] = [grantingNode(clock), grantingNode(clock)];
    expect(() => resolveNodes([a, b, { adapter: a }])).toThrow(
      new RangeError('Expected every node to be a distinct adapter, got the same one at `nodes[0]` and `nodes[2]`'),
    );
  });

  it('rejects timer values above what a Node.js timer accepts', () => {
    const clock = new FakeClock();
    expect(() => resolveNodes([{ adapter: grantingNode(clock), timeoutMs: 2 ** 31 }])).toThrow(RangeError);
    expect(() => resolveOptions({ retryDelayMs: 2 ** 31 })).toThrow(
      'Expected `retryDelayMs` to be a non-negative integer up to 2147483647, got `2147483648`',
    );
  });

  it('treats null as a mistake, not as the default', () => {
    expect(() => resolveOptions({ retryCount: null })).toThrow(new TypeError('Expected `retryCount` to be a number, got `null`'));
    expect(() => resolveOptions({ clock: null })).toThrow(TypeError);
  });
});

describe('resolveResources', () => {
  it('puts the key prefix before each resource and keeps the resources as given', () => {
    expect(resolveResources(['a', 'b'], 'lock:')).toEqual({ resources: ['a', 'b'], keys: ['lock:a', 'lock:b'] });
    expect(resolveResources('a', '')).toEqual({ resources: ['a'], keys: ['a'] });
  });

  it('copies the array, so later changes by the caller do not reach the lock', () => {
    const given = ['a'];
    const { resources } = resolveResources(given, '');
    given.push('b');
    expect(resources).toEqual(['a']);
  });
});

