import { randomUUID } from 'node:crypto';
import { type DynamicModule, Inject, Injectable, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { Redlock } from 'redlock-core';
import type { RedlockModuleAsyncOptions, RedlockModuleOptions, RedlockModuleScope } from './module-options.js';
import { RedlockHealthIndicator } from './redlock-health-indicator.js';

/** The token of one module's {@link RedlockModuleOptions}. */
const MODULE_OPTIONS = Symbol('redlock-nestjs:module-options');
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
  readonly #redlock: Redlock;
  readonly #options: RedlockModuleOptions;

  constructor(@Inject(Redlock) redlock: Redlock, @Inject(MODULE_OPTIONS) options: RedlockModuleOptions) {
    this.#redlock = redlock;
    this.#options = options;
  }

  async onApplicationShutdown(): Promise<void> {
    try {
      await this.#redlock.close();
    } finally {
      await this.#options.closeClients?.();
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
        provide: Redlock,
        // Bad nodes or options throw here, at the module's initialization, before any node is called.
        useFactory: (options: RedlockModuleOptions) => new Redlock(options.nodes, options.redlockOptions),
        inject: [MODULE_OPTIONS],
      },
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
 * @example
 * ```ts
 * import { Module } from '@nestjs/common';
 * import { Redis } from 'ioredis';
 * import { IoredisAdapter } from 'redlock-ioredis-adapter';
 * import { RedlockModule } from 'redlock-nestjs';
 *
 * const urls = ['redis://a:6379', 'redis://b:6379', 'redis://c:6379'];
 *
 * @Module({
 *   imports: [
 *     RedlockModule.forRootAsync({
 *       isGlobal: true,
 *       useFactory: () => {
 *         const clients = urls.map((url) => new Redis(url));
 *         return {
 *           nodes: clients.map((client) => new IoredisAdapter(client)),
 *           redlockOptions: { keyPrefix: 'orders:' },
 *           closeClients: () => Promise.all(clients.map((client) => client.quit())),
 *         };
 *       },
 *     }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 */
export class RedlockModule {
  /**
   * The module over ready nodes. The `Redlock` is made when the module initializes.
   * @throws `TypeError` or `RangeError` at the module's initialization for no nodes or a bad option, as
   *   the `Redlock` constructor does.
   */
  static forRoot(options: RedlockModuleOptions & RedlockModuleScope): DynamicModule {
    return moduleOf(options, { provide: MODULE_OPTIONS, useFactory: () => options });
  }

  /**
   * The module over nodes that a factory makes, which may inject providers (`inject`, from `imports`) and
   * be async; the application waits for it at its initialization.
   * @throws `TypeError` or `RangeError` at the module's initialization for no nodes or a bad option, as
   *   the `Redlock` constructor does, and whatever the factory throws.
   */
  static forRootAsync(options: RedlockModuleAsyncOptions): DynamicModule {
    const { useFactory, inject = [], imports = [] } = options;
    if (typeof useFactory !== 'function') throw new TypeError(`Expected \`useFactory\` to be a function, got \`${typeof useFactory}\``);
    return moduleOf(options, { provide: MODULE_OPTIONS, useFactory, inject: [...inject] }, imports);
  }
}
