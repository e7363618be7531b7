import { describe, expect, it } from '@jest/globals';
import { HoldTimes, MAX_OPEN_HOLDS } from '../../src/hold-times.js';

describe('HoldTimes', () => {
  it('ends each hold by its id, in any order, whatever else is open', () => {
    const holds = new HoldTimes();
    holds.start(1, 'semaphore', 0);
    holds.start(2, 'lock', 5);
    holds.start(3, 'semaphore', 10);
    expect(holds.end(3, 20)).toEqual({ primitive: 'semaphore', heldMs: 10 });
    expect(holds.end(2, 30)).toEqual({ primitive: 'lock', heldMs: 25 });
    expect(holds.end(1, 40)).toEqual({ primitive: 'semaphore', heldMs: 40 });
    expect(holds.end(1, 50)).toBeUndefined();
    expect(holds.size).toBe(0);
  });

  it('keeps the start of a hold that is started again (a re-entrant acquisition shares its hold)', () => {
    const holds = new HoldTimes();
    holds.start(7, 'lock', 0);
    holds.start(7, 'lock', 100);
    expect(holds.end(7, 150)).toEqual({ primitive: 'lock', heldMs: 150 });
  });

  it('does not pair a new hold with one that expired unreleased: each has its own id', () => {
    const holds = new HoldTimes();
    holds.start(1, 'lock', 0);
    // Hold 1 expired, never released; the lock is acquired again as hold 2.
    holds.start(2, 'lock', 5_000);
    expect(holds.end(2, 6_000)).toEqual({ primitive: 'lock', heldMs: 1_000 });
    expect(holds.size).toBe(1);
  });

  it(`stays bounded: past ${MAX_OPEN_HOLDS} open holds it forgets the oldest`, () => {
    const holds = new HoldTimes();
    for (let id = 1; id <= MAX_OPEN_HOLDS + 5; id += 1) holds.start(id, 'lock', id);
    expect(holds.size).toBe(MAX_OPEN_HOLDS);
    expect(holds.end(5, 20_000)).toBeUndefined();
    expect(holds.end(6, 20_000)).toEqual({ primitive: 'lock', heldMs: 19_994 });
  });
});
