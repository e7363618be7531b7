export type { AdapterFactory, AdapterHandle } from './adapter-factory.js';
export { type AdapterContractOptions, describeAdapterContract } from './adapter-contract.js';
export { describeRedlockSuite, type RedlockSuiteOptions } from './redlock-suite.js';
export { fromNodeTest, type NodeTestFunctions, type TestFunctions } from './test-functions.js';
export { type TestNodes, useTestCluster, useTestNodes } from './test-nodes.js';
