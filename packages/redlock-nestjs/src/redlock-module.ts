import { randomUUID } from 'node:crypto';
import { type DynamicModule, Inject, Injectable, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { Redlock } from 'redlock-core';
import type { RedlockModuleAsyncOptions, RedlockModuleOptions, RedlockModuleScope } from './module-options.js';
import { runningCallsSettled } from './guarded-method.js';
import { createModuleRedlock, type ModuleRedlock } from './module-redlock.js';
import { RedlockHealthIndicator } from './redlock-health-indicator.js';

/** The token of one module's {@link RedlockModuleOptions}. */
const MODULE_OPTIONS = Symbol('redlock-nestjs:module-options');
/** The token of one module's {@link ModuleRedlock}: its `Redlock` and how to close its clients. */
const MODULE_REDLOCK = Symbol('redlock-nestjs:module-redlock');
/**
 * A value of its own for each `forRoot()` call. Nest tells dynamic modules apart by a hash of their
 * providers, and a factory hashes as its source: without it, two scoped modules would be one.
 */
const MODULE_ID = Symbol('redlock-nestjs:module-id');

/**
 * The `Redlock` of one module, closed at the application's shutdown with the clients the options say to
 * close. A provider of its own, so that the module class has no constructor for users to see.
 */
@Injectable()
class RedlockShutdown implements OnApplicationShutdown {
  readonly #moduleRedlock: ModuleRedlock;

  constructor(@Inject(MODULE_REDLOCK) moduleRedlock: ModuleRedlock) {
    this.#moduleRedlock = moduleRedlock;
  }

  async onApplicationShutdown(): Promise<void> {
    const { redlock, closeClients } = this.#moduleRedlock;
    try {
      await redlock.close();
      // The decorated methods still running saw their signals abort: each releases its lock as it
      // returns, which needs the clients open.
      await runningCallsSettled(redlock);
    } finally {
      await closeClients();
    }
  }
}

/** The module around the options provider, however it was made. */
function moduleOf(scope: RedlockModuleScope, optionsProvider: Provider, imports: DynamicModule['imports'] = []): DynamicModule {
  return {
    module: RedlockModule,
    global: scope.isGlobal === true,
    imports,
    providers: [
      optionsProvider,
      { provide: MODULE_ID, useValue: randomUUID() },
      {
        provide: MODULE_REDLOCK,
        // Bad nodes, clients or options throw here, at the module's initialization, before any node is called.
        useFactory: (options: RedlockModuleOptions) => createModuleRedlock(options),
        inject: [MODULE_OPTIONS],
      },
      { provide: Redlock, useFactory: ({ redlock }: ModuleRedlock) => redlock, inject: [MODULE_REDLOCK] },
      RedlockShutdown,
      RedlockHealthIndicator,
    ],
    exports: [Redlock, RedlockHealthIndicator],
  };
}

/**
 * A Nest module that provides one `Redlock` (redlock-core's class is the injection token: inject it as
 * `constructor(private readonly redlock: Redlock)`), the {@link WithLock} and {@link WithPermit} method
 * decorators' lock, and a {@link RedlockHealthIndicator}; it closes the `Redlock` at the application's
 * shutdown (see {@link RedlockModuleOptions} for who closes which client).
 *
 * It takes ioredis clients (`clients`, which it wraps in redlock-ioredis-adapter's `IoredisAdapter`, so
 * that package must be installed) or adapters of any client (`nodes`, which need no such package).
 *
 * @example
 * ```ts
 * import { Module } from '@nestjs/common';
 * import { Redis } from 'ioredis';
 * import { RedlockModule } from 'redlock-nestjs';
 *
 * const urls = ['redis://a:6379', 'redis://b:6379', 'redis://c:6379'];
 *
 * @Module({
 *   imports: [
 *     RedlockModule.forRootAsync({
 *       isGlobal: true,
 *       // The module's own clients: it quits them at shutdown (`closeClients: true`).
 *       useFactory: () => ({
 *         clients: urls.map((url) => new Redis(url)),
 *         redlockOptions: { keyPrefix: 'orders:' },
 *         closeClients: true,
 *       }),
 *     }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 */
export class RedlockModule {
  /**
   * The module over ready nodes or clients. The `Redlock` is made when the module initializes.
   * @throws `TypeError` or `RangeError` at the module's initialization, before any node is called: for
   *   both `nodes` and `clients` or neither, none of them, a `clients` entry that is not an ioredis client,
   *   or a bad option, as the `Redlock` constructor does; an `Error` for `clients` without
   *   redlock-ioredis-adapter installed.
   */
  static forRoot(options: RedlockModuleOptions & RedlockModuleScope): DynamicModule {
    return moduleOf(options, { provide: MODULE_OPTIONS, useFactory: () => options });
  }

  /**
   * The module over nodes or clients that a factory makes, which may inject providers (`inject`, from
   * `imports`) and be async; the application waits for it at its initialization.
   * @throws At the module's initialization, what {@link RedlockModule.forRoot} throws, and whatever the
   *   factory throws.
   */
  static forRootAsync(options: RedlockModuleAsyncOptions): DynamicModule {
    const { useFactory, inject = [], imports = [] } = options;
    if (typeof useFactory !== 'function') throw new TypeError(`Expected \`useFactory\` to be a function, got \`${typeof useFactory}\``);
    return moduleOf(options, { provide: MODULE_OPTIONS, useFactory, inject: [...inject] }, imports);
  }
}
