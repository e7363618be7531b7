import { describe, expect, it } from '@jest/globals';
import { clusterSlotOf, hashTagOf, slotTagOf } from '../../src/scripts/cluster-slot.js';
import { labelKeyOf } from '../../src/scripts/label.js';

// The slots themselves are checked against a real cluster's CLUSTER KEYSLOT in labels-on-cluster.test.ts.
describe('cluster slots', () => {
  it('hashes as Redis Cluster does: CRC16/XMODEM of the hash tag, or of the whole key, modulo 16,384', () => {
    // The CRC16/XMODEM check value of "123456789" is 0x31C3, which the Redis Cluster specification quotes.
    expect(clusterSlotOf('123456789')).toBe(0x31c3);
    expect(clusterSlotOf('{user1000}.following')).toBe(clusterSlotOf('user1000'));
    expect(clusterSlotOf('{}user1000')).not.toBe(clusterSlotOf('user1000'));
    expect(['a{b}c', 'a{}b', 'a}b{c', '{x}{y}'].map(hashTagOf)).toEqual(['b', undefined, undefined, 'x']);
  });

  it('finds a tag for any slot, the same each time', () => {
    for (const slot of [0, 1, 12_739, 16_383]) {
      const tag = slotTagOf(slot);
      expect(tag).toMatch(/^\d+$/);
      expect(clusterSlotOf(`{${tag}}:anything`)).toBe(slot);
      expect(slotTagOf(slot)).toBe(tag);
    }
  });

  it('puts every label key in the slot of its lock key', () => {
    for (const key of ['jobs', '{jobs}:1', 'jobs}x', 'a}b{c', '{}x}', 'x}{y}z', 'a{b']) {
      expect(clusterSlotOf(labelKeyOf(key))).toBe(clusterSlotOf(key));
    }
    expect(labelKeyOf('jobs')).toBe('{jobs}:label');
    expect(labelKeyOf('{jobs}:1')).toBe('{jobs}:1:label');
    expect(labelKeyOf('jobs}x')).toMatch(/^\{\d+\}:label:jobs\}x$/);
  });
});
