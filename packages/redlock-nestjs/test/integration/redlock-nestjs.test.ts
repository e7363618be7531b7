import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { LockLostError, RedlockClosedError } from 'redlock-core';
import { quitClient } from 'redlock-ioredis-adapter';
import { eventually } from '../../../redlock-ioredis-adapter/test/support/eventually.js';
import { TEST_DISCONNECT_TIMEOUT_MS, useRedisNodes } from '../../../redlock-ioredis-adapter/test/support/redis-servers.js';
import { LockSignal, RedlockModule, WithLock, WithPermit } from '../../src/index.js';

// Two Nest application instances, as two replicas of one service would be, each with its own clients to
// the same 3 real redis-server nodes: the decorated method runs in one of them at a time, a lock whose
// keys vanish from the nodes aborts the method's signal, and the application's shutdown closes the
// clients the module made (`closeClients: true`), never those another part of the application owns. No
// timing is asserted; every wait is bounded.

const redis = useRedisNodes(3);
/** How long each test waits for what it expects, at most, in milliseconds. */
const LIMIT_MS = 15_000;

let prefix = '';
beforeEach(() => {
  prefix = `nestjs:${randomUUID()}:`;
});

/** What the two applications' methods did, in order, across both. */
const events: string[] = [];

@Injectable()
class NightlyJob {
  #enter = (): void => undefined;
  /** Resolves once the lost-lock method is running. */
  readonly entered = new Promise<void>((resolve) => (this.#enter = resolve));

  @WithLock('jobs:nightly', { ttlMs: 2_000, waitMs: 30_000 })
  async run(app: string, call: number): Promise<string> {
    events.push(`start ${app}:${call}`);
    await delay(50);
    events.push(`end ${app}:${call}`);
    return `${app}:${call}`;
  }

  @WithLock('jobs:long', { ttlMs: 1_000 })
  async runUntilAborted(@LockSignal() signal?: AbortSignal): Promise<unknown> {
    this.#enter();
    await eventually(() => signal?.aborted, Boolean, LIMIT_MS);
    return signal?.reason;
  }
}

/** How many `PartnerApi.call()`s run now, and the most that ever ran at once, across both applications. */
const permits = { running: 0, mostAtOnce: 0 };

@Injectable()
class PartnerApi {
  @WithPermit('partner-api', { limit: 2, ttlMs: 2_000, waitMs: 30_000 })
  async call(): Promise<void> {
    permits.running += 1;
    permits.mostAtOnce = Math.max(permits.mostAtOnce, permits.running);
    await delay(30);
    permits.running -= 1;
  }
}

/** An application with its own clients, made and closed by the module. */
async function startApp(): Promise<{ app: INestApplicationContext; clients: Redis[] }> {
  const clients: Redis[] = [];
  const moduleRef = await Test.createTestingModule({
    imports: [
      RedlockModule.forRootAsync({
        useFactory: () => {
          clients.push(...redis.urls.map((url) => new Redis(url, { disconnectTimeout: TEST_DISCONNECT_TIMEOUT_MS })));
          return { clients, redlockOptions: { keyPrefix: prefix }, closeClients: true };
        },
      }),
    ],
    providers: [NightlyJob, PartnerApi],
  }).compile();
  return { app: await moduleRef.init(), clients };
}

describe('two application instances on real nodes', () => {
  it('run the decorated method one at a time, and their shutdown closes the clients the module made', async () => {
    const [first, second] = await Promise.all([startApp(), startApp()]);
    events.length = 0;
    const calls = (name: string, app: INestApplicationContext) => [1, 2, 3].map((call) => app.get(NightlyJob).run(name, call));
    const results = await Promise.all([...calls('a', first.app), ...calls('b', second.app)]).finally(() => Promise.all([first.app.close(), second.app.close()]));
    expect(results.sort()).toEqual(['a:1', 'a:2', 'a:3', 'b:1', 'b:2', 'b:3']);

    // Every start is followed by its own end before the next start: never two at once.
    expect(events).toHaveLength(12);
    for (let index = 0; index < events.length; index += 2) {
      expect(events[index + 1]).toBe(events[index]?.replace('start', 'end'));
    }

    // QUIT was answered; each connection then ends.
    const statuses = () => [...first.clients, ...second.clients].map((client) => client.status);
    expect(await eventually(statuses, (all) => all.every((status) => status === 'end'), LIMIT_MS)).toEqual(Array(6).fill('end'));
  });

  it('run a @WithPermit() method at most `limit` times at once', async () => {
    const [first, second] = await Promise.all([startApp(), startApp()]);
    const calls = [first, second].flatMap(({ app }) => Array.from({ length: 4 }, () => app.get(PartnerApi).call()));
    await Promise.all(calls).finally(() => Promise.all([first.app.close(), second.app.close()]));
    expect(permits.mostAtOnce).toBeGreaterThanOrEqual(1);
    expect(permits.mostAtOnce).toBeLessThanOrEqual(2);
  });

  it("aborts the method's signal with a LockLostError when its keys vanish from the nodes, and rejects with one", async () => {
    const { app } = await startApp();
    const admins = redis.urls.map((_, index) => redis.createClient(index));
    const job = app.get(NightlyJob);
    const running = job.runUntilAborted();
    const error = await (async () => {
      await job.entered;
      // As after a long pause past the TTL: the keys are gone from every node, so the next extension fails.
      await Promise.all(admins.map((admin) => admin.del(`${prefix}jobs:long`)));
      return running.then(
        () => undefined,
        (failure: unknown) => failure,
      );
    })().finally(() => app.close());
    expect(error).toBeInstanceOf(LockLostError);
    // The method returned the signal's reason, which using() keeps as the error's result.
    expect((error as LockLostError).result).toBeInstanceOf(LockLostError);
  });

  it("aborts a running method's signal with a RedlockClosedError at the application's shutdown, which waits for its release", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    const checkers = redis.urls.map((url) => new Redis(url, { disconnectTimeout: TEST_DISCONNECT_TIMEOUT_MS }));
    try {
      const { app, clients } = await startApp();
      const job = app.get(NightlyJob);
      const running = job.runUntilAborted().then(
        (reason) => ({ reason }),
        (error: unknown) => ({ error }),
      );
      await job.entered;
      await app.close();
      // The method returns its signal's reason while the lock is still valid, so the call resolves with
      // it (a close is no loss), and the shutdown waited for its release before it closed the clients:
      // the key is gone from every node at once, not after its TTL, and no release failed.
      expect(await running).toEqual({ reason: expect.any(RedlockClosedError) });
      expect(await Promise.all(checkers.map((checker) => checker.exists(`${prefix}jobs:long`)))).toEqual([0, 0, 0]);
      expect(warnings.filter((warning) => warning.name === 'LockReleaseError')).toEqual([]);
      const statuses = () => clients.map((client) => client.status);
      expect(await eventually(statuses, (all) => all.every((status) => status === 'end'), LIMIT_MS)).toEqual(Array(3).fill('end'));
    } finally {
      process.off('warning', onWarning);
      await Promise.all(checkers.map((checker) => quitClient(checker)));
    }
  });

  it('leave open the clients they were given without `closeClients`, which their owner closes after the shutdown', async () => {
    const clients = redis.urls.map((url) => new Redis(url, { disconnectTimeout: TEST_DISCONNECT_TIMEOUT_MS }));
    const moduleRef = await Test.createTestingModule({
      imports: [RedlockModule.forRoot({ clients: [clients[0]!, { client: clients[1]!, timeoutMs: 1_000 }, clients[2]!], redlockOptions: { keyPrefix: prefix } })],
      providers: [NightlyJob],
    }).compile();
    const app = await moduleRef.init();
    try {
      expect(await app.get(NightlyJob).run('shared', 1)).toBe('shared:1');
    } finally {
      await app.close();
    }
    try {
      expect(await Promise.all(clients.map((client) => client.ping()))).toEqual(['PONG', 'PONG', 'PONG']);
    } finally {
      await Promise.all(clients.map((client) => quitClient(client)));
    }
  });
});
