import type { FactoryProvider, ModuleMetadata } from '@nestjs/common';
import type { RedisAdapter, RedlockNode, RedlockOptions } from 'redlock-core';

/**
 * What {@link RedlockModule} builds its `Redlock` from.
 *
 * Who closes what, at the application's shutdown (`onApplicationShutdown`): the module calls
 * `redlock.close()`, which stops every auto-extension, aborts the signal of every lock still held, and
 * calls `close()` on each adapter, which closes only what the adapter itself opened (its subscriber
 * connection), never your clients. Then it calls `closeClients`, if given. So: clients you create for the
 * module (in `forRootAsync`'s factory, say), close in `closeClients`; clients another part of the
 * application owns (a shared Redis connection), leave out of it and close where they were made, after
 * the module's shutdown.
 */
export interface RedlockModuleOptions {
  /**
   * One adapter per independent Redis node (an odd number: 3 or 5), or `{ adapter, timeoutMs }`, as the
   * `Redlock` constructor takes them: `clients.map((client) => new IoredisAdapter(client))`.
   */
  readonly nodes: readonly (RedisAdapter | RedlockNode)[];
  /** The `Redlock`'s options (`keyPrefix`, `retryCount`, `waitMs`…): see `RedlockOptions` in redlock-core. */
  readonly redlockOptions?: RedlockOptions;
  /**
   * Closes your clients at the application's shutdown, after `redlock.close()` resolved (within 4 s);
   * e.g. `() => Promise.all(clients.map((client) => client.quit()))`. A rejection is logged by Nest's
   * shutdown as any hook's error would be.
   * @defaultValue none: the module closes no client of yours
   */
  readonly closeClients?: () => unknown;
}

/** Whether the module's providers are visible to every module, as Nest's `ConfigModule` has it. */
export interface RedlockModuleScope {
  /**
   * `true` to register the module as global: any module can inject `Redlock` and use `@WithLock()`
   * without importing it. `false` to scope it: only modules that import this `RedlockModule` can.
   * @defaultValue `false`
   */
  readonly isGlobal?: boolean;
}

/**
 * {@link RedlockModule.forRootAsync}'s options: the module's options made by a factory, which may inject
 * providers (a `ConfigService`) and be async.
 */
export interface RedlockModuleAsyncOptions extends RedlockModuleScope {
  /** Modules whose exported providers `inject` names. */
  readonly imports?: NonNullable<ModuleMetadata['imports']>;
  /** The tokens of the providers passed to `useFactory`, in order. */
  readonly inject?: FactoryProvider['inject'];
  /** Returns the module's options (or a promise of them); called once, at the module's initialization. */
  readonly useFactory: (...injected: never[]) => RedlockModuleOptions | Promise<RedlockModuleOptions>;
}
