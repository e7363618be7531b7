import { Inject } from '@nestjs/common';
import { Redlock } from 'redlock-core';
import { lockSignalIndexOf } from './lock-signal.js';

/**
 * The property under which Nest sets the `Redlock` on each instance of a class with a guarded method
 * (property injection), so that the method finds its module's `Redlock` without any global.
 */
const REDLOCK = Symbol('redlock-nestjs:redlock');

/** What a guarded call reads of the lock or permit it holds. */
interface Held {
  readonly remainingValidityMs: number;
}

/** Runs the method's body under a lock or permit, the body given the lock's signal and the lock. */
export type GuardedRun = (redlock: Redlock, self: object, args: unknown[], body: (signal: AbortSignal, held: Held) => Promise<unknown>) => Promise<unknown>;

/** A guarded call that has not settled: what its module's shutdown waits for. */
interface RunningCall {
  /** Resolves once the call settled, either way. */
  settled: Promise<unknown>;
  /** Its lock or permit, once acquired. */
  held: Held | undefined;
}

/** The guarded calls running now, by the `Redlock` they run under. */
const RUNNING = new WeakMap<Redlock, Set<RunningCall>>();

/**
 * Resolves once every guarded call running under `redlock` has settled, or its lock's validity has run
 * out, whichever comes first for each; never rejects. For the module's shutdown, after `redlock.close()`
 * aborted their signals: a method that returns then still releases its lock while the clients are open,
 * and one that does not stop is waited for no longer than its lock protects it (its lock expires then
 * anyway). A call still acquiring is not waited for: `close()` rejects it.
 */
export function runningCallsSettled(redlock: Redlock): Promise<void> {
  const calls = [...(RUNNING.get(redlock) ?? [])];
  return Promise.all(
    calls.map((call) => {
      const validityMs = call.held?.remainingValidityMs ?? 0;
      if (validityMs <= 0) return undefined;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, validityMs);
        void call.settled.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }),
  ).then(() => undefined);
}

/**
 * What {@link WithLock} and {@link WithPermit} return: a method decorator for methods that return a
 * promise (the lock is released when it settles).
 * @typeParam Method - The decorated method's type, kept as it is.
 */
export type GuardedMethodDecorator = <Method extends (...args: never[]) => Promise<unknown>>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<Method>,
) => void;

/** Reflect's metadata calls, present once `reflect-metadata` is loaded (`@nestjs/common` loads it). */
interface MetadataReflect {
  getMetadataKeys?(target: object): unknown[];
  getMetadata?(key: unknown, target: object): unknown;
  defineMetadata?(key: unknown, value: unknown, target: object): void;
}

/**
 * Nest's method decorators (`@Get()`, `@Cron()`, `@OnEvent()`…) keep their metadata on the function: a
 * decorator applied before this one (written below it) put it on the original, which the wrapper carries on.
 */
function copyMetadata(from: object, to: object): void {
  const reflect = Reflect as MetadataReflect;
  for (const key of reflect.getMetadataKeys?.(from) ?? []) reflect.defineMetadata?.(key, reflect.getMetadata?.(key, from), to);
}

/**
 * Replaces the method with one that runs it through `run`, with `this`, the arguments and the result
 * kept, and its `@LockSignal()` parameter set to the lock's signal.
 */
export function guardMethod(place: string, target: object, key: string | symbol, descriptor: PropertyDescriptor, run: GuardedRun): void {
  const method: unknown = descriptor.value;
  if (typeof method !== 'function') throw new TypeError(`${place}: expected a method, got \`${typeof method}\``);
  if (typeof target === 'function') throw new TypeError(`${place}: expected an instance method; Nest injects nothing into a static one`);
  Inject(Redlock)(target, REDLOCK);
  const signalIndex = lockSignalIndexOf(target, key);
  const guarded = async function (this: object, ...args: unknown[]): Promise<unknown> {
    const redlock = (this as { [REDLOCK]?: unknown })[REDLOCK];
    if (!(redlock instanceof Redlock)) {
      throw new TypeError(`${place}: no Redlock was injected; make the class a provider of a module that imports RedlockModule (or of an application where it is global)`);
    }
    const call: RunningCall = { settled: Promise.resolve(), held: undefined };
    const result = run(redlock, this, args, (signal, held) => {
      call.held = held;
      if (signalIndex !== undefined) args[signalIndex] = signal;
      return Promise.resolve(method.apply(this, args));
    });
    const running = RUNNING.get(redlock) ?? new Set<RunningCall>();
    RUNNING.set(redlock, running);
    const forget = (): void => {
      running.delete(call);
    };
    call.settled = result.then(forget, forget);
    running.add(call);
    return result;
  };
  Object.defineProperty(guarded, 'name', { value: method.name });
  copyMetadata(method, guarded);
  descriptor.value = guarded;
}
