import { Redlock } from '@sesamecare-oss/redlock';
import { nodeRedlock5Style } from './node-redlock-5.js';

/** `@sesamecare-oss/redlock`, the maintained fork of node-redlock 5: same API, scripts via `defineCommand`. */
export const sesamecareRedlock = nodeRedlock5Style(
  { name: '@sesamecare-oss/redlock', packageName: '@sesamecare-oss/redlock 1.4.0' },
  (clients, retry) => new Redlock([...clients], retry),
);
