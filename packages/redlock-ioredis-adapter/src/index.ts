export { IoredisAdapter, type IoredisAdapterOptions } from './ioredis-adapter.js';
export type { IoredisClient, SubscriberClient } from './ioredis-client.js';
