import { describeRedlockSuite } from 'redlock-adapter-test-kit';
import { describeRedlockSuites, JEST, nodeRedisFactory, versionsOf } from '../support/node-redis-versions.js';

// Redlock end to end over node-redis 6 (RESP2 and RESP3), on five real nodes; once without a subscriber,
// where the hand-off falls back to the retry timer.
const [resp2] = versionsOf('redis 6');
describeRedlockSuites(versionsOf('redis 6'));
describeRedlockSuite({ name: 'NodeRedisAdapter without a subscriber, redis 6, RESP2', test: JEST, writesOnLaterTurn: true, connect: nodeRedisFactory(resp2!) });
