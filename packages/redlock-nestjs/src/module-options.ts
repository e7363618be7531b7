import type { FactoryProvider, ModuleMetadata } from '@nestjs/common';
import type { RedisAdapter, RedlockNode, RedlockOptions } from 'redlock-core';

/**
 * An ioredis (5 or 6) or iovalkey `Redis` (one standalone master) or `Cluster` (one node), as
 * {@link RedlockModule} recognizes one: the members it checks, written out so that redlock-nestjs needs
 * neither ioredis nor redlock-ioredis-adapter to type-check. Every such client fits.
 */
export interface RedlockModuleClient {
  /** `true` for a `Cluster`, `false` for a `Redis`. */
  readonly isCluster: boolean;
  /** The connection state; `'end'` once the client was quit. */
  readonly status: string;
  /** Sends EVALSHA. */
  evalsha(...args: never[]): Promise<unknown>;
  /** Sends EVAL. */
  eval(...args: never[]): Promise<unknown>;
  /** Sends SET. */
  set(...args: never[]): Promise<unknown>;
  /** Opens a second connection to the same node (the adapter's subscriber connection). */
  duplicate(...args: never[]): unknown;
  /** Defines a script command: ioredis's own, which tells its clients apart from other clients. */
  defineCommand(...args: never[]): unknown;
  /** Sends QUIT, for `closeClients: true`. */
  quit(): Promise<unknown>;
  /** Closes the connection at once, for `closeClients: true` when QUIT goes unanswered. */
  disconnect(): void;
}

/** One node as `clients` takes it with a timeout of its own, as `nodes` takes `{ adapter, timeoutMs }`. */
export interface RedlockModuleClientNode {
  /** The node's client. */
  readonly client: RedlockModuleClient;
  /**
   * How long a call to this node may take, in milliseconds, overriding the `Redlock`'s `nodeTimeoutMs` and
   * the adaptive default: `RedlockNode`'s `timeoutMs` in redlock-core.
   */
  readonly timeoutMs?: number;
}

/** The options of {@link RedlockModule} common to `nodes` and `clients`. */
export interface RedlockModuleCommonOptions {
  /** The `Redlock`'s options (`keyPrefix`, `retryCount`, `waitMs`…): see `RedlockOptions` in redlock-core. */
  readonly redlockOptions?: RedlockOptions;
}

/** {@link RedlockModule} over adapters of any client. */
export interface RedlockModuleNodesOptions extends RedlockModuleCommonOptions {
  /**
   * One adapter per independent Redis node (an odd number: 3 or 5), or `{ adapter, timeoutMs }`, as the
   * `Redlock` constructor takes them: `[new NodeRedisAdapter(a), new NodeRedisAdapter(b), …]`.
   */
  readonly nodes: readonly (RedisAdapter | RedlockNode)[];
  /** Give either `nodes` or `clients`. */
  readonly clients?: undefined;
  /**
   * Closes your clients at the application's shutdown, after `redlock.close()` resolved; e.g.
   * `() => Promise.all(clients.map((client) => client.quit()))`. A rejection is logged by Nest's shutdown
   * as any hook's error would be.
   * @defaultValue none: the module closes no client of yours
   */
  readonly closeClients?: () => unknown;
}

/**
 * {@link RedlockModule} over ioredis clients, each wrapped in redlock-ioredis-adapter's `IoredisAdapter`
 * (with its default options): that package must be installed.
 */
export interface RedlockModuleClientsOptions extends RedlockModuleCommonOptions {
  /**
   * One ioredis (5 or 6) or iovalkey client per independent Redis node (an odd number: 3 or 5), or
   * `{ client, timeoutMs }` to give one node its own per-call timeout (ms), as `nodes` takes
   * `{ adapter, timeoutMs }`. For the adapter's options (`notifications`, `subscriber`…), pass adapters in
   * `nodes` instead.
   */
  readonly clients: readonly (RedlockModuleClient | RedlockModuleClientNode)[];
  /** Give either `nodes` or `clients`. */
  readonly nodes?: undefined;
  /**
   * Which of your clients the module closes at the application's shutdown, after `redlock.close()`
   * resolved. `true` when the clients are the module's (you made them in `forRootAsync`'s factory): each
   * is quit with redlock-ioredis-adapter's `quitClient` (QUIT, waiting at most 1 s for its reply, then
   * `disconnect()`). Leave it out for clients another part of the application owns (injected from a Redis
   * module): close them there, after the module's shutdown. Or a function that closes them.
   * @defaultValue none: the module closes no client of yours
   */
  readonly closeClients?: boolean | (() => unknown);
}

/**
 * What {@link RedlockModule} builds its `Redlock` from: exactly one of `nodes` (adapters, any client) or
 * `clients` (ioredis clients, which the module wraps in adapters), and `redlockOptions`.
 *
 * Who closes what, at the application's shutdown (`onApplicationShutdown`): the module calls
 * `redlock.close()`, which stops every auto-extension, aborts the signal of every lock still held, and
 * calls `close()` on each adapter, which closes only what the adapter itself opened (its subscriber
 * connection), never your clients. It waits for the `@WithLock()` and `@WithPermit()` methods still running
 * to return and release their locks (at most as long as each lock stays valid). Then it closes your
 * clients as `closeClients` says: by default none,
 * as the clients are yours. So: clients you create for the module (in `forRootAsync`'s factory, say),
 * close with `closeClients` (`true` with `clients`); clients another part of the application owns (a
 * shared Redis connection), leave out of it and close where they were made, after the module's shutdown.
 */
export type RedlockModuleOptions = RedlockModuleNodesOptions | RedlockModuleClientsOptions;

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
