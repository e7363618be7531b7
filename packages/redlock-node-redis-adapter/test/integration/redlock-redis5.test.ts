import { describeRedlockSuites, versionsOf } from '../support/node-redis-versions.js';

// Redlock end to end over node-redis 5 (every protocol it speaks), on five real nodes.
describeRedlockSuites(versionsOf('redis 5'));
