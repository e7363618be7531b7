// `redlock-core/testing`: an in-memory fake of Redis nodes, for unit tests of code that takes locks.
// Nothing in the core imports it, so it costs the main entry point nothing.
export { connectionRefused, FakeNode, type NodeCallRecord, type ScriptName } from './fake-adapter.js';
export { FakeKeyspace, type FakeKeyType, OTHER_OWNER_TOKEN, type RestartOptions, type ServerClock } from './fake-keyspace.js';
export type { PermitScriptName } from './fake-permits.js';
export {
  failingNode, grantingNode, grantingNodes, hangingNode, noScriptOnceNode, refusingNode, scriptDeniedNode, slowNode,
  hasKey, keysOf, nodesHoldingToken,
} from './fake-nodes.js';
// The core's own test of a NOSCRIPT error, for adapter tests: what an adapter's EVALSHA must reject with.
export { isNoScriptError } from '../scripts/lua-script.js';
