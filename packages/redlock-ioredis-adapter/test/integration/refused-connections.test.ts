import { afterEach, describe, expect } from '@jest/globals';
import { Redis } from 'ioredis';
import { Redis as Redis5 } from 'ioredis-v5';
import { Redis as Valkey } from 'iovalkey';
import { type AcquireNodeOutcome, type Lock, type PendingNodeOutcome, LockAcquireError, NodeError, Redlock } from 'redlock-core';
import { IoredisAdapter, type IoredisClient } from '../../src/index.js';
import { eventually } from '../support/eventually.js';
import { itWithFaults, useRedisNodes } from '../support/redis-servers.js';

// A node whose server is gone (killed, nothing listening on its port): the adapter tells the core that
// the client has no connection, so the node counts as down at once, with the client's ECONNREFUSED as the
// cause, gets no lock asked of it until its client connects again, and is used again after that.

/** A client as these tests use it: ioredis 6, ioredis 5 or iovalkey, with the README's lock-client options. */
type TestClient = IoredisClient & { ping(): Promise<unknown>; disconnect(): void; on(event: 'error', listener: () => void): unknown };
type ClientClass = new (url: string, options: { maxRetriesPerRequest: number; disconnectTimeout: number }) => TestClient;

const CLIENTS: readonly (readonly [string, ClientClass])[] = [
  ['ioredis 6', Redis as unknown as ClientClass],
  ['ioredis 5', Redis5 as unknown as ClientClass],
  ['iovalkey', Valkey as unknown as ClientClass],
];
/** Long enough for a restarted node and a reconnecting client on a loaded machine. */
const BACK_WITHIN_MS = 10_000;

const redis = useRedisNodes(3);
const opened: { redlock: Redlock; clients: TestClient[] }[] = [];

async function redlockOver(Client: ClientClass, name: string, options = {}): Promise<{ redlock: Redlock; clients: TestClient[] }> {
  const clients = redis.urls.map((url) => new Client(url, { maxRetriesPerRequest: 0, disconnectTimeout: 100 }));
  for (const client of clients) client.on('error', () => undefined);
  await Promise.all(clients.map((client) => client.ping()));
  const redlock = new Redlock(
    clients.map((client) => new IoredisAdapter(client)),
    { keyPrefix: `refused-connections:${name}:`, ...options },
  );
  opened.push({ redlock, clients });
  return { redlock, clients };
}

afterEach(async () => {
  for (const { redlock, clients } of opened.splice(0)) {
    await redlock.close();
    for (const client of clients) client.disconnect();
  }
  for (const node of redis.nodes) if (!node.isRunning) await node.start();
}, 30_000);

const errorOf = (outcome: AcquireNodeOutcome | PendingNodeOutcome | undefined): NodeError | undefined => (outcome !== undefined && 'error' in outcome ? outcome.error : undefined);
const codeOf = (error: NodeError | undefined): unknown => (error?.cause as { code?: unknown } | undefined)?.code;

describe('IoredisAdapter and a node that refuses connections', () => {
  describe.each(CLIENTS)('over %s', (name, Client) => {
    itWithFaults('counts it as down with ECONNREFUSED as cause, asks it nothing meanwhile, and uses it again once back', async () => {
      const { redlock } = await redlockOver(Client, name.replace(' ', ''));
      await redis.nodes[2]?.kill();
      // Down from its first call after the kill; once its client failed to connect, for that reason.
      const cause = await eventually(
        async () => {
          const lock = await redlock.acquire('until-refused', 5_000);
          await lock.release();
          return codeOf(errorOf(lock.nodes[2]));
        },
        (code) => code === 'ECONNREFUSED',
        BACK_WITHIN_MS,
      );
      expect(cause).toBe('ECONNREFUSED');
      expect(redlock.nodeHealth()[2]?.state).toBe('down');
      const skippedBefore = redlock.stats().nodes[2]?.skippedWhileDown ?? 0;
      const locks: Lock[] = [];
      for (let index = 0; index < 10; index += 1) {
        const lock = await redlock.acquire(`while-down-${index}`, 5_000);
        locks.push(lock);
        await lock.release();
      }
      // Each was refused at once, without a command, with the client's connection error as cause.
      expect(locks.map((lock) => [errorOf(lock.nodes[2])?.isDown, codeOf(errorOf(lock.nodes[2]))])).toEqual(Array(10).fill([true, 'ECONNREFUSED']));
      expect((redlock.stats().nodes[2]?.skippedWhileDown ?? 0) - skippedBefore).toBe(10);
      await redis.nodes[2]?.start();
      const back = await eventually(
        async () => {
          const lock = await redlock.acquire('back', 5_000);
          await lock.release();
          return redlock.nodeHealth()[2]?.state;
        },
        (state) => state === 'up',
        BACK_WITHIN_MS,
      );
      expect(back).toBe('up');
    });
  });

  itWithFaults('lets a call give up without waiting on the nodes when most of them refuse connections', async () => {
    const { redlock } = await redlockOver(Redis as unknown as ClientClass, 'majority', { retryCount: 3 });
    await Promise.all([redis.nodes[1]?.kill(), redis.nodes[2]?.kill()]);
    const error = await redlock.acquire('job', 5_000).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(LockAcquireError);
    const { reason, attempts } = error as LockAcquireError;
    expect(reason).toBe('nodes-unreachable');
    // The first attempt learns that their clients have no connection; the next ones send them nothing.
    expect(attempts.slice(1).map((attempt) => attempt.nodes.slice(1).map((node) => [errorOf(node)?.isDown, codeOf(errorOf(node))]))).toEqual(
      Array(3).fill([
        [true, 'ECONNREFUSED'],
        [true, 'ECONNREFUSED'],
      ]),
    );
    expect(redlock.nodeHealth().map((node) => node.state)).toEqual(['up', 'down', 'down']);
  });
});
