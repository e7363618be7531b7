import { describe } from '@jest/globals';
import { describeAdapterContract, useTestCluster, useTestNodes } from 'redlock-adapter-test-kit';
import { glideFactory, JEST } from '../support/glide-factory.js';

describe('GlideAdapter over a GlideClient', () => {
  const nodes = useTestNodes(JEST, 1);
  describeAdapterContract({ name: 'GlideAdapter with release notifications', test: JEST, nodes, connect: glideFactory() });
  describeAdapterContract({ name: 'GlideAdapter without release notifications', test: JEST, nodes, connect: glideFactory({ notifications: false }) });
});

describe('GlideAdapter over a GlideClusterClient', () => {
  const cluster = useTestCluster(JEST);
  describeAdapterContract({ name: 'GlideAdapter over a cluster', test: JEST, nodes: cluster, cluster: true, connect: glideFactory({ cluster: true }) });
});
