import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type LocalRedisTopology, sendCommand, startRedisTopology, type StartRedisTopologyOptions } from 'local-redis-nodes';

/** The port of a `redis://127.0.0.1:PORT` URL. */
const portOf = (url: string): number => Number(new URL(url).port);

/** The time one PING takes through `url`, in milliseconds. */
async function pingMs(url: string): Promise<number> {
  const start = performance.now();
  expect(await sendCommand(portOf(url), ['PING'], 5_000)).toBe('PONG');
  return performance.now() - start;
}

describe('startRedisTopology', () => {
  let topology: LocalRedisTopology;
  beforeAll(async () => {
    topology = await startRedisTopology({ rttsMs: [0, 40, 120], blackholed: [2] });
  }, 30_000);
  afterAll(() => topology?.stop());

  it('puts every node behind its own proxy, which adds the round trip it was given', async () => {
    expect(topology.urls).toHaveLength(3);
    expect(topology.rttsMs).toEqual([0, 40, 120]);
    expect(topology.urls).not.toContain(topology.nodes[0]?.url);
    // The minimum of a few PINGs: the delay is a lower bound, and a loaded machine only adds to it.
    const fastest = async (url: string): Promise<number> => Math.min(await pingMs(url), await pingMs(url), await pingMs(url));
    expect(await fastest(topology.urls[0] as string)).toBeLessThan(30);
    expect(await fastest(topology.urls[1] as string)).toBeGreaterThanOrEqual(39);
  });

  it('lets a black-holed node accept connections but never answer, until its proxy is healed', async () => {
    expect(topology.blackholed).toEqual([2]);
    await expect(sendCommand(portOf(topology.urls[2] as string), ['PING'], 400)).rejects.toThrow('got no reply within 400 ms');
    // The node itself is up: only the link is cut.
    expect(await pingMs(topology.nodes[2]?.url as string)).toBeLessThan(1_000);
    topology.proxies[2]?.heal();
    expect(await pingMs(topology.urls[2] as string)).toBeGreaterThanOrEqual(119);
    topology.proxies[2]?.partition();
  });

  it('stops every node and proxy with one call, and a second call returns the same promise', async () => {
    const small = await startRedisTopology({ rttsMs: [10] });
    const pid = small.nodes[0]?.pid;
    expect(pid).toBeDefined();
    const stopping = small.stop();
    expect(small.stop()).toBe(stopping);
    await stopping;
    expect(small.nodes[0]?.isRunning).toBe(false);
    expect(() => process.kill(pid as number, 0)).toThrow();
    await expect(sendCommand(portOf(small.urls[0] as string), ['PING'], 1_000)).rejects.toThrow();
  });

  it.each<[string, unknown, ErrorConstructor, string]>([
    ['no options', undefined, TypeError, 'Expected `options` to be an object, got `undefined`'],
    ['rttsMs not an array', { rttsMs: 30 }, TypeError, 'Expected `rttsMs` to be an array, got `30`'],
    ['no nodes', { rttsMs: [] }, RangeError, 'Expected `rttsMs` to list at least one node, got `[]`'],
    ['an RTT as a string', { rttsMs: [0, '30'] }, TypeError, 'Expected every `rttsMs` entry to be a number, got `30`'],
    ['a negative RTT', { rttsMs: [0, -1] }, RangeError, 'Expected every `rttsMs` entry to be a finite number of milliseconds ≥ 0, got `-1`'],
    ['an infinite RTT', { rttsMs: [Infinity] }, RangeError, 'got `Infinity`'],
    ['blackholed not an array', { rttsMs: [0], blackholed: 0 }, TypeError, 'Expected `blackholed` to be an array, got `0`'],
    ['a black-holed index out of range', { rttsMs: [0, 0], blackholed: [2] }, RangeError, 'a node index from 0 to 1, got `2`'],
    ['a fractional black-holed index', { rttsMs: [0, 0], blackholed: [0.5] }, RangeError, 'got `0.5`'],
    ['a node black-holed twice', { rttsMs: [0, 0], blackholed: [1, 1] }, RangeError, 'Expected `blackholed` to name each node once, got `[1, 1]`'],
    ['persistence not a boolean', { rttsMs: [0], persistence: 'yes' }, TypeError, 'Expected `persistence` to be a boolean, got `yes`'],
  ])('rejects %s before starting anything', async (_, options, errorClass, message) => {
    const starting = startRedisTopology(options as StartRedisTopologyOptions);
    await expect(starting).rejects.toThrow(errorClass);
    await expect(starting).rejects.toThrow(message);
  });
});
