import { describeRedlockSuite, useTestNodes } from 'redlock-adapter-test-kit';
import { glideFactory, JEST } from '../support/glide-factory.js';

// Redlock end to end over GLIDE clients on five real nodes: in the canonical setup (release
// notifications), and without them, where the hand-off falls back to the retry timer.
const nodes = useTestNodes(JEST, 5);
describeRedlockSuite({ name: 'GlideAdapter with release notifications', test: JEST, nodes, connect: glideFactory() });
describeRedlockSuite({ name: 'GlideAdapter without release notifications', test: JEST, nodes, connect: glideFactory({ notifications: false }) });
