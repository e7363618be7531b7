// Types for node-redlock 5 (`redlock`), whose package.json `exports` has no `types` condition, so NodeNext
// resolution cannot find the declarations it ships: only what the tests use.
declare module 'redlock' {
  import type { Redis } from 'ioredis';

  class Lock {
    readonly value: string;
    release(): Promise<unknown>;
  }

  export default class Redlock {
    constructor(clients: Iterable<Redis>, settings?: { readonly retryCount?: number });
    acquire(resources: string[], duration: number): Promise<Lock>;
  }
}
