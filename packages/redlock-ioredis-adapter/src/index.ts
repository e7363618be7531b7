export { IoredisAdapter } from './ioredis-adapter.js';
