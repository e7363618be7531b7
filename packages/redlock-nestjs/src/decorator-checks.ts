// The checks of the decorators' arguments, made when the class is defined: a mistake stops the
// application at its start, before any node is called, with the method and the option named.
import { MAX_TTL_MS } from 'redlock-core';

/** Where a decorator sits, for messages: `@WithLock() on OrdersService.charge`. */
export function placeOf(decorator: string, target: object, key: string | symbol): string {
  return `@${decorator}() on ${target.constructor.name}.${String(key)}`;
}

function show(value: unknown): string {
  return typeof value === 'string' ? `\`${JSON.stringify(value)}\`` : `\`${String(value)}\``;
}

/** Throws a `TypeError` for an option not in `known`, so that a misspelt one is not ignored. */
export function checkOptionNames(place: string, options: object, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${place}: expected options to be an object, got ${show(options)}`);
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) throw new TypeError(`${place}: unknown option \`${name}\`; the options are ${known.map((known) => `\`${known}\``).join(', ')}`);
  }
}

/** Throws unless `value` is an integer from `min` to `max`, or `Infinity` where `allowsInfinity`. */
export function checkInteger(place: string, name: string, value: unknown, min: number, max: number, allowsInfinity = false): void {
  if (typeof value !== 'number') throw new TypeError(`${place}: expected \`${name}\` to be a number, got ${show(value)}`);
  if (allowsInfinity && value === Infinity) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${place}: expected \`${name}\` to be an integer from ${min} to ${max}${allowsInfinity ? ' or Infinity' : ''}, got ${show(value)}`);
  }
}

/** Checks `ttlMs` and, when given, `waitMs`: the options every decorator has. */
export function checkDurations(place: string, options: { readonly ttlMs: unknown; readonly waitMs?: unknown }): void {
  checkInteger(place, 'ttlMs', options.ttlMs, 1, MAX_TTL_MS);
  if (options.waitMs !== undefined) checkInteger(place, 'waitMs', options.waitMs, 1, MAX_TTL_MS, true);
}

/**
 * Checks a resource given as a value (a function of the method's arguments is checked by redlock-core
 * at each call, before any node is called): a non-empty string, or where `allowsList`, a non-empty
 * list of them.
 */
export function checkResource(place: string, resource: unknown, allowsList: boolean): void {
  if (typeof resource === 'function') return;
  const list = allowsList && Array.isArray(resource) ? (resource as unknown[]) : [resource];
  if (list.length === 0) throw new RangeError(`${place}: expected at least one resource, got an empty list`);
  for (const name of list) {
    if (typeof name !== 'string' || name === '') {
      const expected = allowsList ? 'a non-empty string, a list of them, or a function of the arguments' : 'a non-empty string or a function of the arguments';
      throw new TypeError(`${place}: expected the resource to be ${expected}, got ${show(name)}`);
    }
  }
}
