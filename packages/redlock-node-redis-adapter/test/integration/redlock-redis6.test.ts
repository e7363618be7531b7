import { describeRedlockSuite } from 'redlock-adapter-test-kit';
import { describeRedlockSuites, JEST, nodeRedisFactory, versionsOf } from '../support/node-redis-versions.js';

// Redlock end to end over node-redis 6 (RESP2 and RESP3), on five real nodes; once with a subscriber of
// the test's own, and once without notifications, where the hand-off falls back to the retry timer.
const [resp2] = versionsOf('redis 6');
describeRedlockSuites(versionsOf('redis 6'));
describeRedlockSuite({
  name: 'NodeRedisAdapter with a subscriber of its user, redis 6, RESP2',
  test: JEST,
  connect: nodeRedisFactory(resp2!, { subscriber: 'given' }),
});
describeRedlockSuite({
  name: 'NodeRedisAdapter with notifications: false, redis 6, RESP2',
  test: JEST,
  connect: nodeRedisFactory(resp2!, { subscriber: 'none' }),
});
