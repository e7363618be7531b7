export { NodeRedisAdapter, type NodeRedisAdapterOptions } from './node-redis-adapter.js';
export type { NodeRedisClient, NodeRedisCluster, NodeRedisMessageListener, NodeRedisSubscriber } from './node-redis-client.js';
