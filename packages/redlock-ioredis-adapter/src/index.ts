export { IoredisAdapter, type IoredisAdapterOptions } from './ioredis-adapter.js';
