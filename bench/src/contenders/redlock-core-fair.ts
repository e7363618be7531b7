import { Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/**
 * `redlock-core` as its contender sets it up, with every acquisition `{ fair: true }`: the lock goes to the
 * workers in the order they queued on the nodes. Against `redlock-core` in S3 it measures what a fair
 * hand-off costs (issue 78: at most 1.5× the default's idle gap and client CPU per acquisition):
 * `--scenarios=S3-tuned,S3-defaults --contenders=redlock-core,redlock-core-fair`.
 */
export const redlockCoreFair: ContenderDefinition = {
  name: 'redlock-core-fair',
  kind: 'ours',
  client: 'ioredis6',
  scenarios: ['S3-defaults', 'S3-tuned'],
  packageName: 'redlock-core (this repo), { fair: true }',
  async create({ clients, retry, clock }) {
    const redlock = new Redlock(
      clients.map((client) => new IoredisAdapter(client)),
      {
        ...(retry === 'tuned' ? { retryDelayMs: TUNED_RETRY.retryDelayMs, retryJitterMs: TUNED_RETRY.retryJitterMs, retryCount: TUNED_RETRY.retryCount } : {}),
        ...(clock === undefined ? {} : { clock }),
      },
    );
    return {
      async acquire(resource) {
        const lock = await redlock.acquire(resource, LOCK_TTL_MS, { fair: true });
        return async () => {
          await lock.release();
        };
      },
      nodeTimeoutsInARow: () => redlock.nodeHealth().map((node) => node.timeoutsInARow),
    };
  },
};
