import { describeRedlockSuites, versionsOf } from '../support/node-redis-versions.js';

// Redlock end to end over node-redis 4 (every protocol it speaks), on five real nodes.
describeRedlockSuites(versionsOf('redis 4'));
