import { Inject } from '@nestjs/common';
import { Redlock } from 'redlock-core';
import { lockSignalIndexOf } from './lock-signal.js';

/**
 * The property under which Nest sets the `Redlock` on each instance of a class with a guarded method
 * (property injection), so that the method finds its module's `Redlock` without any global.
 */
const REDLOCK = Symbol('redlock-nestjs:redlock');

/** Runs the method's body under a lock or permit, the body given the lock's signal. */
export type GuardedRun = (redlock: Redlock, self: object, args: unknown[], body: (signal: AbortSignal) => Promise<unknown>) => Promise<unknown>;

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
    return run(redlock, this, args, (signal) => {
      if (signalIndex !== undefined) args[signalIndex] = signal;
      return Promise.resolve(method.apply(this, args));
    });
  };
  Object.defineProperty(guarded, 'name', { value: method.name });
  copyMetadata(method, guarded);
  descriptor.value = guarded;
}
