export { startRedisCluster, type StartRedisClusterOptions } from './local-redis-cluster.js';
export type { LocalRedisNode } from './local-redis-node.js';
export { type LocalRedisNodes, startRedisNodes, type StartRedisNodesOptions } from './local-redis-nodes.js';
export { ensureRedisServer, type EnsureRedisServerOptions, findRedisServer } from './redis-server-binary.js';
export { type LatencyProxy, type LatencyProxyOptions, startLatencyProxy } from './latency-proxy.js';
export { type LocalRedisTopology, startRedisTopology, type StartRedisTopologyOptions } from './local-redis-topology.js';
export { type RespReply, sendCommand } from './resp.js';
