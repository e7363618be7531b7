// The bridge that makes our spans the active OpenTelemetry context while the core calls the client, so
// that the client's own command spans (ioredis' `ioredis:command` channel, its instrumentation) nest
// inside them, with whatever context manager the user registered.
import { AsyncLocalStorage } from 'node:async_hooks';
import { type Context, context } from '@opentelemetry/api';

/**
 * A store for `tracingChannel.start.bindStore()` whose `run()` enters the context through the
 * OpenTelemetry API (`context.with()`), instead of keeping one of its own. A tracing channel runs the
 * traced call inside `store.run(transform(message), call)` for each bound store (Node's `runStores()`);
 * `context.with()` is what every context manager implements, so the standard
 * `AsyncLocalStorageContextManager` that the NodeSDK installs makes our span active for the call and
 * everything it awaits, without handing us its private AsyncLocalStorage. It extends AsyncLocalStorage
 * only to be the type `bindStore()` takes: nothing is ever stored in it.
 */
export class OpenTelemetryContextStore extends AsyncLocalStorage<Context> {
  override run<R>(active: Context, callback: () => R): R;
  override run<R, A extends unknown[]>(active: Context, callback: (...args: A) => R, ...args: A): R;
  override run<R, A extends unknown[]>(active: Context, callback: (...args: A) => R, ...args: A): R {
    return context.with(active, callback, undefined, ...args);
  }

  /** The active OpenTelemetry context: what a `getStore()` on a real store would return. */
  override getStore(): Context {
    return context.active();
  }
}
