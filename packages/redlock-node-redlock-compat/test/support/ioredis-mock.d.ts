// Types for ioredis-mock, whose own (@types/ioredis-mock) want ioredis 5 as a peer: only what the tests use.
declare module 'ioredis-mock' {
  import type { Redis } from 'ioredis';

  const RedisMock: new (options?: { readonly port?: number }) => Redis;
  export default RedisMock;
}
