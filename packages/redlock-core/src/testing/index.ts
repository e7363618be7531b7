// `redlock-core/testing`: an in-memory fake of Redis nodes, for unit tests of code that takes locks.
// Nothing in the core imports it, so it costs the main entry point nothing.
export {
  connectionRefused,
  failingNode,
  FakeKeyspace,
  type FakeKeyType,
  FakeNode,
  grantingNode,
  grantingNodes,
  hangingNode,
  hasKey,
  keysOf,
  type NodeCallRecord,
  nodesHoldingToken,
  noScriptOnceNode,
  OTHER_OWNER_TOKEN,
  refusingNode,
  type RestartOptions,
  type ScriptName,
  type ServerClock,
  slowNode,
} from './fake-adapter.js';
// The core's own test of a NOSCRIPT error, for adapter tests: what an adapter's EVALSHA must reject with.
export { isNoScriptError } from '../scripts/lua-script.js';
