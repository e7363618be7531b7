import { describe, expect, it } from '@jest/globals';
import { formatDurationMs, parseDurationMs } from '../../src/duration.js';
import { UsageError } from '../../src/input-errors.js';

const ANY = { minMs: 0, maxMs: 2 ** 31 - 1 };

describe('parseDurationMs', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5s', 1_500],
    ['1.1s', 1_100],
    ['2m', 120_000],
    ['0.5m', 30_000],
    ['1h', 3_600_000],
    ['0', 0],
    ['0s', 0],
    ['0ms', 0],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDurationMs(text, '--ttl', ANY)).toBe(ms);
  });

  it.each(['', '30000', '10', '-1s', '1.5ms', '0.0001s', 's', '1 s', '1S', '1d', '1e3ms', '.5s', '1s5', ' 1s'])(
    'refuses %j with a UsageError naming the option',
    (text) => {
      expect(() => parseDurationMs(text, '--timeout', ANY)).toThrow(UsageError);
      expect(() => parseDurationMs(text, '--timeout', ANY)).toThrow(`Expected \`--timeout\` to be a duration`);
    },
  );

  it('refuses a number without a unit, offering it in seconds and in milliseconds', () => {
    expect(() => parseDurationMs('60', '--ttl', ANY)).toThrow(
      new UsageError('Expected `--ttl` to be a duration in whole milliseconds such as 500ms, 30s or 2m, got `60`: a number needs a unit, `60s` for seconds or `60ms` for milliseconds'),
    );
    expect(() => parseDurationMs('1.5', '--ttl', ANY)).toThrow(
      new UsageError('Expected `--ttl` to be a duration in whole milliseconds such as 500ms, 30s or 2m, got `1.5`'),
    );
  });

  it('refuses a duration outside the bounds, saying them', () => {
    expect(() => parseDurationMs('0', '--ttl', { minMs: 1, maxMs: 60_000 })).toThrow(
      'Expected `--ttl` to be from 1 ms to 1 min, got `0`',
    );
    expect(() => parseDurationMs('2m', '--ttl', { minMs: 1, maxMs: 60_000 })).toThrow(UsageError);
    expect(parseDurationMs('1m', '--ttl', { minMs: 1, maxMs: 60_000 })).toBe(60_000);
  });

  it('refuses a duration too large for a safe integer', () => {
    expect(() => parseDurationMs('99999999999999999999h', '--ttl', ANY)).toThrow(UsageError);
  });
});

describe('formatDurationMs', () => {
  it.each([
    [0, '0 ms'],
    [996, '996 ms'],
    [1_000, '1 s'],
    [1_250, '1.3 s'],
    [59_900, '59.9 s'],
    [60_000, '1 min'],
    [150_000, '2 min 30 s'],
    [3_600_000, '1 h'],
    [11_100_000, '3 h 5 min'],
  ])('writes %d ms as %s', (ms, text) => {
    expect(formatDurationMs(ms)).toBe(text);
  });
});
