import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type LatencyProxyOptions, type LocalRedisNodes, sendCommand, startLatencyProxy, startRedisNodes } from 'local-redis-nodes';

describe('startLatencyProxy', () => {
  let redis: LocalRedisNodes;
  beforeAll(async () => {
    redis = await startRedisNodes({ count: 1 });
  }, 30_000);
  afterAll(() => redis?.stop());

  it('forwards commands to the target port, delayed by delayMs each way', async () => {
    const proxy = await startLatencyProxy({ targetPort: redis.nodes[0]!.port, delayMs: 50 });
    try {
      expect(proxy.url).toBe(`redis://127.0.0.1:${proxy.port}`);
      const startedAt = performance.now();
      expect(await sendCommand(proxy.port, ['PING'], 5_000)).toBe('PONG');
      // A lower bound only: a loaded machine adds to it. 1 ms of slack for timer rounding.
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(99);
    } finally {
      await proxy.close();
    }
  });

  it('holds every byte back while partitioned and delivers them on heal()', async () => {
    const proxy = await startLatencyProxy({ targetPort: redis.nodes[0]!.port });
    try {
      proxy.partition();
      await expect(sendCommand(proxy.port, ['PING'], 200)).rejects.toThrow('got no reply within 200 ms');
      const reply = sendCommand(proxy.port, ['PING'], 5_000);
      proxy.heal();
      expect(await reply).toBe('PONG');
    } finally {
      await proxy.close();
    }
  });

  it.each<[string, unknown, ErrorConstructor, string]>([
    ['no options', undefined, TypeError, 'Expected `options` to be an object, got `undefined`'],
    ['a string port', { targetPort: '6379' }, TypeError, 'Expected `targetPort` to be a number, got `6379`'],
    ['port 0', { targetPort: 0 }, RangeError, 'Expected `targetPort` to be an integer from 1 to 65535, got `0`'],
    ['a fractional port', { targetPort: 6379.5 }, RangeError, 'Expected `targetPort` to be an integer from 1 to 65535, got `6379.5`'],
    ['a string delay', { targetPort: 6379, delayMs: '5' }, TypeError, 'Expected `delayMs` to be a number, got `5`'],
    ['a negative delay', { targetPort: 6379, delayMs: -1 }, RangeError, 'Expected `delayMs` to be a finite number of milliseconds ≥ 0, got `-1`'],
    ['an infinite delay', { targetPort: 6379, delayMs: Infinity }, RangeError, 'Expected `delayMs` to be a finite number of milliseconds ≥ 0, got `Infinity`'],
  ])('rejects %s with a %p before listening', async (_, options, errorClass, message) => {
    const started = startLatencyProxy(options as LatencyProxyOptions);
    await expect(started).rejects.toThrow(errorClass);
    await expect(started).rejects.toThrow(message);
  });
});
