export { IoredisAdapter, type IoredisAdapterOptions } from './ioredis-adapter.js';
export type { IoredisClient, SubscriberClient } from './ioredis-client.js';
export { QUIT_TIMEOUT_MS, quitClient } from './quit-client.js';
