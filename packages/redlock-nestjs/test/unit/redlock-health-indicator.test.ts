import { describe, expect, it } from '@jest/globals';
import { HealthCheckService, type HealthIndicatorFunction, type HealthIndicatorResult, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { Redlock, SYSTEM_CLOCK } from 'redlock-core';
import { grantingNodes } from 'redlock-core/testing';
import { RedlockHealthIndicator, RedlockModule } from '../../src/index.js';

describe('RedlockHealthIndicator', () => {
  it("is a terminus health indicator: up while a quorum of nodes is up, the check's error when fewer are", async () => {
    const nodes = grantingNodes(SYSTEM_CLOCK, 3);
    // No logger: terminus would print the failed check this test makes on purpose.
    const moduleRef = await Test.createTestingModule({ imports: [TerminusModule.forRoot({ logger: false }), RedlockModule.forRoot({ nodes, redlockOptions: { retryCount: 0 } })] }).compile();
    const app = await moduleRef.init();
    const indicator = app.get(RedlockHealthIndicator);
    const health = app.get(HealthCheckService);
    // Typed as terminus expects, without this package importing terminus.
    const check: HealthIndicatorFunction = () => indicator.isHealthy('locks');
    const result: HealthIndicatorResult<'locks'> = indicator.isHealthy('locks');
    expect(result).toEqual({ locks: expect.objectContaining({ status: 'up', nodesUp: 3, quorum: 2 }) });
    expect(indicator.isHealthy()).toHaveProperty('redlock.status', 'up');
    await expect(health.check([check])).resolves.toMatchObject({ status: 'ok', info: { locks: { status: 'up' } } });

    // Two nodes that refuse connections are down from their next call on.
    for (const node of nodes.slice(0, 2)) node.isDown = true;
    await app.get(Redlock).acquire('down', 1_000).catch(() => undefined);
    expect(indicator.isHealthy('locks').locks).toMatchObject({ status: 'down', nodesUp: 1, quorum: 2 });
    expect(indicator.isHealthy('locks').locks.nodes.map((node) => node.state)).toEqual(['down', 'down', 'up']);
    // terminus answers 503 with the details: its check rejects with them.
    await expect(health.check([check])).rejects.toMatchObject({ response: { status: 'error', error: { locks: { status: 'down', nodesUp: 1 } } } });
    await app.close();
  });
});
