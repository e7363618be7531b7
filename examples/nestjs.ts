// Shows redlock-nestjs: two instances of one Nest application (as two replicas of a service would be), each
// with its own clients, run a @WithLock method one at a time; a health check reads the nodes; close() ends all.
// Run: `pnpm --filter redlock-examples run nestjs` (REDIS_URLS=... to use your own nodes).
import { setTimeout as delay } from 'node:timers/promises';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { LockSignal, RedlockHealthIndicator, RedlockModule, WithLock } from 'redlock-nestjs';
import { openExampleNodes } from './redis-nodes.js';

const nodes = await openExampleNodes(3);
let running = 0;
let mostAtOnce = 0;

@Injectable()
class ReportService {
  // One report per day across every instance: the resource comes from the method's argument.
  @WithLock((day: string) => `reports:${day}`, { ttlMs: 5_000, waitMs: 20_000 })
  async writeReport(day: string, instance: string, @LockSignal() signal?: AbortSignal): Promise<string> {
    running += 1;
    mostAtOnce = Math.max(mostAtOnce, running);
    await delay(100, undefined, { signal }); // the work, cut short if the lock is lost
    running -= 1;
    return `${instance} wrote the report of ${day}`;
  }
}

@Module({
  imports: [
    RedlockModule.forRootAsync({
      // Each instance opens its own clients, and the module quits them at shutdown (`closeClients: true`).
      useFactory: () => ({
        clients: nodes.urls.map((url) => new Redis(url)),
        redlockOptions: { keyPrefix: 'example:' },
        closeClients: true,
      }),
    }),
  ],
  providers: [ReportService],
})
class AppModule {}

const apps = await Promise.all([1, 2].map(() => NestFactory.createApplicationContext(AppModule, { logger: false })));
try {
  const written = await Promise.all(apps.flatMap((app, index) => [1, 2].map(() => app.get(ReportService).writeReport('2026-11-28', `instance ${index + 1}`))));
  for (const line of written) console.log(line);
  console.log(`${written.length} calls, at most ${mostAtOnce} at once`);
  console.log('health:', JSON.stringify(apps[0]?.get(RedlockHealthIndicator).isHealthy().redlock.status));
  if (mostAtOnce !== 1) throw new Error(`the lock let ${mostAtOnce} calls run at once`);
} finally {
  await Promise.all(apps.map((app) => app.close()));
  await nodes.close();
}
