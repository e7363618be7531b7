// The module's `Redlock`, made from its options: over `nodes` as given, or over `clients` wrapped in
// redlock-ioredis-adapter's `IoredisAdapter`, a package loaded only then (an optional peer dependency).
import { type RedisAdapter, Redlock, type RedlockNode } from 'redlock-core';
import type { RedlockModuleClient, RedlockModuleOptions } from './module-options.js';

/** What the module takes from redlock-ioredis-adapter. */
export interface IoredisAdapterPackage {
  readonly IoredisAdapter: new (client: never) => RedisAdapter;
  readonly quitClient: (client: RedlockModuleClient) => Promise<void>;
}

/** The module's `Redlock`, and how to close the clients the options give the module. */
export interface ModuleRedlock {
  readonly redlock: Redlock;
  /** Closes the clients `closeClients` names, after `redlock.close()`; does nothing without it. */
  readonly closeClients: () => Promise<unknown>;
}

/**
 * Loads redlock-ioredis-adapter. A dynamic `import()`, which the CommonJS bundle keeps as one: a project
 * that passes `nodes` never loads it, and needs it not installed.
 */
export async function loadIoredisAdapter(importAdapter: () => Promise<IoredisAdapterPackage> = async () => import('redlock-ioredis-adapter')): Promise<IoredisAdapterPackage> {
  try {
    return await importAdapter();
  } catch (error) {
    const code = (error as { code?: unknown } | undefined)?.code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new Error('RedlockModule needs redlock-ioredis-adapter to wrap `clients`, and it is not installed: run `npm install redlock-ioredis-adapter`, or pass adapters in `nodes`', {
      cause: error,
    });
  }
}

/**
 * Checks the options, then makes the `Redlock`: every mistake throws before any node is called.
 * @throws `TypeError` or `RangeError` for a mistake in the options, as the `Redlock` constructor does.
 */
export async function createModuleRedlock(options: RedlockModuleOptions, load: () => Promise<IoredisAdapterPackage> = loadIoredisAdapter): Promise<ModuleRedlock> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected the options of RedlockModule to be an object, got ${shown(options)}`);
  // Read each option once: a getter must not answer one value to the check and another to the use.
  const { nodes, clients, redlockOptions, closeClients } = options as { readonly [name in 'nodes' | 'clients' | 'redlockOptions' | 'closeClients']?: unknown };
  if (nodes !== undefined && clients !== undefined) {
    throw new TypeError('Expected either `nodes` or `clients` in the options of RedlockModule, got both');
  }
  if (nodes === undefined && clients === undefined) {
    throw new TypeError('Expected either `nodes` (adapters) or `clients` (ioredis clients) in the options of RedlockModule, got neither');
  }
  if (closeClients !== undefined && typeof closeClients !== 'function' && (clients === undefined || typeof closeClients !== 'boolean')) {
    const expected = clients === undefined ? 'a function (`true` is for `clients`, whose clients the module knows)' : 'a boolean or a function';
    throw new TypeError(`Expected \`closeClients\` to be ${expected}, got ${shown(closeClients)}`);
  }
  const closeWith = typeof closeClients === 'function' ? async () => closeClients() : undefined;
  if (clients === undefined) {
    return { redlock: new Redlock(nodes as RedlockNode[], redlockOptions as never), closeClients: closeWith ?? (async () => undefined) };
  }

  const entries = clientEntriesOf(clients);
  const { IoredisAdapter, quitClient } = await load();
  const adapters: RedisAdapter[] = [];
  let redlock: Redlock;
  try {
    // The adapter refuses some clients (one with `stringNumbers`), after those before it were made.
    for (const { client } of entries) adapters.push(new IoredisAdapter(client as never));
    redlock = new Redlock(
      entries.map(({ timeoutMs }, index) => (timeoutMs === undefined ? adapters[index]! : { adapter: adapters[index]!, timeoutMs: timeoutMs as number })),
      redlockOptions as never,
    );
  } catch (error) {
    // Nothing will close these adapters otherwise (each holds a lease on its client's subscriber).
    await Promise.all(adapters.map((adapter) => adapter.close?.()));
    throw error;
  }
  const quitAll = async () => Promise.all(entries.map(({ client }) => quitClient(client)));
  return { redlock, closeClients: closeWith ?? (closeClients === true ? quitAll : async () => undefined) };
}

/** Each entry of `clients` as `{ client, timeoutMs }`, checked. */
function clientEntriesOf(clients: unknown): { readonly client: RedlockModuleClient; readonly timeoutMs: unknown }[] {
  if (!Array.isArray(clients)) throw new TypeError(`Expected \`clients\` to be an array of ioredis clients, got ${shown(clients)}`);
  if (clients.length === 0) throw new RangeError('Expected `clients` to hold at least one client, got an empty array');
  return clients.map((entry: unknown, index) => {
    if (isIoredisClient(entry)) return { client: entry, timeoutMs: undefined };
    // An adapter has `evalsha` and `eval` too, but none of the client's other members; and an
    // IoredisAdapter has its `client`, which must not make it pass for `{ client }`.
    const { client, timeoutMs } = typeof entry === 'object' && entry !== null && !isAdapter(entry) ? (entry as { readonly client?: unknown; readonly timeoutMs?: unknown }) : {};
    if (isIoredisClient(client)) return { client, timeoutMs };
    const hint = isAdapter(entry) || isAdapter(client) ? ': that is an adapter, which goes in `nodes`' : '';
    throw new TypeError(`Expected \`clients[${index}]\` to be an ioredis \`Redis\` or \`Cluster\`, or \`{ client, timeoutMs }\`, got ${shown(entry)}${hint}`);
  });
}

/**
 * Whether `value` is an ioredis (5 or 6) or iovalkey client, told without importing either: it has every
 * member {@link RedlockModuleClient} lists, `defineCommand` among them, which ioredis has and node-redis,
 * Valkey GLIDE and every adapter lack.
 */
function isIoredisClient(value: unknown): value is RedlockModuleClient {
  if (typeof value !== 'object' || value === null) return false;
  const methods = ['evalsha', 'eval', 'set', 'duplicate', 'defineCommand', 'quit', 'disconnect'];
  return typeof Reflect.get(value, 'isCluster') === 'boolean' && methods.every((method) => typeof Reflect.get(value, method) === 'function');
}

function isAdapter(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'evalsha') === 'function' && typeof Reflect.get(value, 'eval') === 'function';
}

/** A value as a message shows it: a primitive as itself, an object by its kind. */
function shown(value: unknown): string {
  if (typeof value === 'string') return `\`${JSON.stringify(value)}\``;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  // ioredis's classes are named `EventEmitter` at run time (its mixin).
  if (isIoredisClient(value)) return 'an ioredis client';
  if (typeof value === 'object' && value !== null) return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return `\`${String(value)}\``;
}
