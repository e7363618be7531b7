// The bridge that makes our spans the active OpenTelemetry context while the core calls the client, so
// that the client's own command spans (ioredis' `ioredis:command` channel, its instrumentation) nest
// inside them, with whatever context manager the user registered.
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { type Context, context } from '@opentelemetry/api';

/**
 * A store for `tracingChannel.start.bindStore()` whose `run()` enters the context through the
 * OpenTelemetry API (`context.with()`), instead of keeping one of its own. A tracing channel runs the
 * traced call inside `store.run(transform(message), call)` for each bound store (Node's `runStores()`,
 * as Node 20 has it); `context.with()` is what every context manager implements, so the standard
 * `AsyncLocalStorageContextManager` that the NodeSDK installs makes our span active for the call and
 * everything it awaits, without handing us its private AsyncLocalStorage.
 *
 * It is a real AsyncLocalStorage, the type `bindStore()` takes: a Node whose `runStores()` enters stores
 * with `withScope()` instead of `run()` (see {@link runsStoresThroughRun}) keeps the context in it, and
 * {@link OpenTelemetryContextStore.active} still finds our span there, so our spans keep their parents.
 */
export class OpenTelemetryContextStore extends AsyncLocalStorage<Context> {
  override run<R>(active: Context, callback: () => R): R;
  override run<R, A extends unknown[]>(active: Context, callback: (...args: A) => R, ...args: A): R;
  override run<R, A extends unknown[]>(active: Context, callback: (...args: A) => R, ...args: A): R {
    return context.with(active, callback, undefined, ...args);
  }

  /** The context a new span's parent is read from: the one held here if Node entered this store itself, else OpenTelemetry's. */
  active(): Context {
    return this.getStore() ?? context.active();
  }
}

/**
 * Whether this Node runs a channel's bound stores through their `run()`, which the bridge needs to make
 * our spans OpenTelemetry's active context for the client's command spans. Checked once per `enable()`
 * on a channel of our own.
 */
export function runsStoresThroughRun(): boolean {
  let ran = false;
  class ProbeStore extends AsyncLocalStorage<unknown> {
    override run<R, A extends unknown[]>(_store: unknown, callback: (...args: A) => R, ...args: A): R {
      ran = true;
      return callback(...args);
    }
  }
  const probe = diagnosticsChannel.channel('redlock-opentelemetry.probe');
  const store = new ProbeStore();
  probe.bindStore(store);
  try {
    probe.runStores(undefined, () => undefined);
  } finally {
    probe.unbindStore(store);
  }
  return ran;
}
