import type { ContenderDefinition } from './contender.js';
import { redlockCoreCreate } from './redlock-core.js';

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
  create: redlockCoreCreate({ fair: true }),
};
