import { describe, expect, it } from '@jest/globals';
import { HoldTimes } from '../../src/hold-times.js';

describe('HoldTimes', () => {
  it('pairs a release with the oldest open hold of the same resources and primitive', () => {
    const holds = new HoldTimes();
    holds.start('semaphore', ['jobs'], 10_000, 0);
    holds.start('lock', ['jobs'], 10_000, 5);
    holds.start('semaphore', ['jobs'], 10_000, 10);
    expect(holds.end('lock', ['jobs'], 20)).toEqual({ primitive: 'lock', heldMs: 15 });
    expect(holds.end('semaphore', ['jobs'], 30)).toEqual({ primitive: 'semaphore', heldMs: 30 });
    expect(holds.end(undefined, ['jobs'], 40)).toEqual({ primitive: 'semaphore', heldMs: 30 });
    expect(holds.end(undefined, ['jobs'], 50)).toBeUndefined();
    expect(holds.size).toBe(0);
  });

  it('tells resource lists apart', () => {
    const holds = new HoldTimes();
    holds.start('lock', ['a', 'b'], 10_000, 0);
    expect(holds.end('lock', ['a'], 1)).toBeUndefined();
    expect(holds.end('lock', ['a', 'b'], 2)).toEqual({ primitive: 'lock', heldMs: 2 });
  });

  it('forgets a hold that expired unreleased, and keeps one that an extension kept', () => {
    const holds = new HoldTimes();
    holds.start('lock', ['expired'], 1_000, 0);
    holds.start('lock', ['extended'], 1_000, 0);
    holds.extend('lock', ['extended'], 5_000, 900);
    expect(holds.end('lock', ['expired'], 2_000)).toBeUndefined();
    expect(holds.end('lock', ['extended'], 2_000)).toEqual({ primitive: 'lock', heldMs: 2_000 });
    expect(holds.size).toBe(0);
  });

  it('stays bounded: past 10,000 open holds it drops the expired ones, then stops timing new ones', () => {
    const holds = new HoldTimes();
    for (let index = 0; index < 10_000; index += 1) holds.start('lock', [`r${index}`], index < 5_000 ? 100 : 60_000, 0);
    holds.start('lock', ['late'], 60_000, 1_000);
    expect(holds.size).toBe(5_001);
    for (let index = 0; index < 5_000; index += 1) holds.start('lock', [`more${index}`], 60_000, 1_000);
    expect(holds.size).toBe(10_000);
    expect(holds.end('lock', ['late'], 2_000)).toEqual({ primitive: 'lock', heldMs: 1_000 });
  });
});
