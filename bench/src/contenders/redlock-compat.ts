import Redlock from 'redlock-node-redlock-compat';
import type { ContenderDefinition } from './contender.js';
import { nodeRedlock5Style } from './node-redlock-5.js';

/**
 * This library through its node-redlock 5 compatibility package, used as node-redlock's README shows (the
 * same calls as the `redlock@5` contender): what migrating by changing one import costs, beside it.
 */
export const redlockCompat: ContenderDefinition = {
  ...nodeRedlock5Style(
    { name: 'redlock-compat', packageName: 'redlock-node-redlock-compat (this repo)' },
    (clients, retry) => new Redlock([...clients], retry),
  ),
  kind: 'ours',
};
