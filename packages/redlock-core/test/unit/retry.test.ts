import { describe, expect, it } from '@jest/globals';
import { retryDelayMs } from '../../src/acquire/wait-loop.js';

describe('retryDelayMs', () => {
  it('spans [base − jitter, base + jitter] as the random draw goes from 0 to 1', () => {
    expect(retryDelayMs(200, 100, () => 0)).toBe(100);
    expect(retryDelayMs(200, 100, () => 0.5)).toBe(200);
    expect(retryDelayMs(200, 100, () => 0.999_999)).toBe(300);
  });

  it('stays within the bounds and returns whole milliseconds for any draw', () => {
    for (let draw = 0; draw < 1; draw += 0.01) {
      const delay = retryDelayMs(200, 100, () => draw);
      expect(Number.isInteger(delay)).toBe(true);
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThanOrEqual(300);
    }
  });

  it('returns the base delay exactly without jitter', () => {
    expect(retryDelayMs(250, 0, () => 0)).toBe(250);
    expect(retryDelayMs(250, 0, () => 0.9)).toBe(250);
  });

  it('never returns a negative delay when the jitter exceeds the base', () => {
    expect(retryDelayMs(50, 200, () => 0)).toBe(0);
    expect(retryDelayMs(0, 0)).toBe(0);
  });

  it('uses Math.random by default', () => {
    const delays = Array.from({ length: 50 }, () => retryDelayMs(200, 100));
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThanOrEqual(300);
    }
    expect(new Set(delays).size).toBeGreaterThan(1);
  });
});
