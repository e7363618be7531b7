import { describe, expect, it } from '@jest/globals';
import type { ContenderPool } from '../../src/contender-pool.js';
import type { Contender, ContenderDefinition } from '../../src/contenders/contender.js';
import { runInterleavedRounds } from '../../src/interleaved-rounds.js';
import type { ScenarioContext } from '../../src/scenario.js';

// The order in which contenders sample within a round: a contender pays for the garbage its predecessor
// left, so no contender may follow the same one in every round.

/** A small seeded generator (mulberry32), so the test sees the same orders every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Runs `rounds` rounds of `names` with no Redis, recording which contender sampled in which round, in order. */
async function sampleOrder(names: readonly string[], rounds: number): Promise<string[][]> {
  const definition = (name: string): ContenderDefinition => ({ name, kind: 'peer', client: 'ioredis6', packageName: name, create: async () => contender });
  const contender: Contender = { acquire: async () => async () => undefined };
  const context = {
    contenders: names.map(definition),
    pool: { get: async () => contender } as unknown as ContenderPool,
    log: () => undefined,
  } as unknown as ScenarioContext;
  const order: string[][] = Array.from({ length: rounds }, () => []);
  await runInterleavedRounds(
    context,
    { topology: 'near', retry: 'defaults', plan: { rounds, sampleMs: 1, warmupMs: 0 }, label: 'test', random: seeded(33) },
    async ({ definition, round }) => {
      order[round]?.push(definition.name);
      return { opsPerSec: 1 };
    },
  );
  return order;
}

describe('runInterleavedRounds', () => {
  const names = ['floor', 'ours', 'peer-a', 'peer-b', 'peer-c'];

  it('samples every contender once in every round', async () => {
    const order = await sampleOrder(names, 31);
    for (const round of order) expect([...round].sort()).toEqual([...names].sort());
  });

  it('gives no contender the same predecessor in every round', async () => {
    const order = await sampleOrder(names, 31);
    const predecessors = new Map<string, Set<string>>(names.map((name) => [name, new Set()]));
    for (const round of order) round.forEach((name, index) => index > 0 && predecessors.get(name)?.add(round[index - 1] as string));
    // A cyclic shift of the order gives each contender but the round's first one predecessor: 1 here.
    expect(Math.min(...names.map((name) => predecessors.get(name)?.size ?? 0))).toBeGreaterThanOrEqual(3);
  });

  it('keeps a contender that can suspend suspended but during its own samples, each instance', async () => {
    const events: string[] = [];
    const instanceOf = (name: string, instance: number): Contender => ({
      acquire: async () => async () => undefined,
      suspend: async () => void events.push(`${name}#${instance} suspend`),
      resume: async () => void events.push(`${name}#${instance} resume`),
    });
    const plain: Contender = { acquire: async () => async () => undefined };
    const definition = (name: string): ContenderDefinition => ({ name, kind: 'peer', client: 'glide', packageName: name, create: async () => plain });
    const context = {
      contenders: ['listening', 'plain'].map(definition),
      pool: { get: async ({ name }: ContenderDefinition, _topology: unknown, _retry: unknown, instance: number) => (name === 'listening' ? instanceOf(name, instance) : plain) },
      log: () => undefined,
    } as unknown as ScenarioContext;
    await runInterleavedRounds(
      context,
      { topology: 'near', retry: 'defaults', plan: { rounds: 2, sampleMs: 1, warmupMs: 1 }, label: 'test', instances: 2, random: seeded(7) },
      async ({ definition, round }) => {
        events.push(`sample ${definition.name} ${round}`);
        return { opsPerSec: 1 };
      },
    );
    const own = events.filter((event) => !event.startsWith('sample plain'));
    const cycle = ['listening#0 resume', 'listening#1 resume', 'sample listening ROUND', 'listening#0 suspend', 'listening#1 suspend'];
    expect(own).toEqual(['listening#0 suspend', 'listening#1 suspend', ...[-1, 0, 1].flatMap((round) => cycle.map((event) => event.replace('ROUND', String(round))))]);
    // The other contender samples only while it is suspended.
    for (const [index, event] of events.entries()) {
      if (event.startsWith('sample plain')) expect(events.slice(0, index).filter((before) => before.endsWith('resume')).length).toBe(events.slice(0, index).filter((before) => before.endsWith('suspend')).length - 2);
    }
  });
});
