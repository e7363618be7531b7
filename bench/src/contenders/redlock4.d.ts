// Types for `redlock4` (redlock@4.2.0, which ships none): only what node-redlock-4.ts uses.
declare module 'redlock4' {
  import type { EventEmitter } from 'node:events';

  interface Settings {
    driftFactor?: number;
    retryCount?: number;
    retryDelay?: number;
    retryJitter?: number;
  }

  class Lock {
    readonly resource: string | string[];
    readonly value: string;
    expiration: number;
    unlock(): PromiseLike<void>;
    extend(ttl: number): PromiseLike<Lock>;
  }

  class Redlock extends EventEmitter {
    constructor(clients: readonly unknown[], settings?: Settings);
    lock(resource: string | string[], ttl: number): PromiseLike<Lock>;
  }

  export default Redlock;
}
