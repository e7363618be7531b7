// The checks every option and argument goes through, and how a bad value is shown in their messages.
import { MAX_TTL_MS } from './defaults.js';
import { checkOptionNames, type OptionScope } from './option-names.js';

/** Checks a duration in milliseconds: an integer from `min` up to the largest delay a timer accepts. */
export function checkDurationMs(name: string, value: unknown, min: 0 | 1): asserts value is number {
  checkInteger(name, value, min, MAX_TTL_MS);
}

/** The types {@link checkType} requires, by their `typeof` name. */
interface TypeNames { readonly boolean: boolean; readonly number: number; readonly string: string }

/** Throws a `TypeError` naming `name` unless `value` is of `type`. */
export function checkType<T extends keyof TypeNames>(name: string, value: unknown, type: T): asserts value is TypeNames[T] {
  if (typeof value !== type) throw new TypeError(`Expected \`${name}\` to be a ${type}, got ${formatValue(value)}`);
}

/** Throws a `TypeError` unless `signal` is an `AbortSignal` or `undefined`. */
export function checkSignal(signal: unknown): asserts signal is AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${formatValue(signal)}`);
}

/** Checks an integer from `min` up to `max`, or `Infinity` when `orInfinity`; `advice` ends the message of a number out of range. */
export function checkInteger(name: string, value: unknown, min: number, max: number, orInfinity = false, advice = ''): asserts value is number {
  if (orInfinity && value === Infinity) return;
  // A literal `typeof` rather than checkType(): this runs for every acquisition's TTL.
  if (typeof value !== 'number') throw new TypeError(`Expected \`${name}\` to be a number, got ${formatValue(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    const kind = min === 0 ? 'a non-negative integer' : 'a positive integer';
    const bound = max === Number.MAX_SAFE_INTEGER ? '' : ` up to ${max}`;
    throw new RangeError(`Expected \`${name}\` to be ${kind}${bound}${orInfinity ? ' or `Infinity`' : ''}, got ${formatValue(value)}${advice}`);
  }
}

/**
 * Checks that options are a plain object of names `scope` takes, and copies them: every option is read
 * once, here, so that a getter or a Proxy cannot answer one value to the validation and another to the use.
 */
export function checkOptionsObject(value: unknown, scope: OptionScope): { readonly [name: string]: unknown } {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`options\` to be an object, got ${formatValue(value)}`);
  }
  // Only own properties are read: a Map's entries, or options inherited from a prototype, would be
  // ignored without a word. A plain object of any realm has a prototype whose own prototype is null.
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== null && Object.getPrototypeOf(prototype) !== null) {
    const kind = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
    throw new TypeError(`Expected \`options\` to be a plain object, got ${typeof kind === 'string' && kind !== '' ? `a ${kind}` : 'an object with a prototype of its own'}`);
  }
  const copy = { ...value };
  checkOptionNames(copy, scope);
  return copy;
}

/** Shows a bad value in a message, in backticks, cut to 60 characters. */
export function formatValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'function') text = `function ${value.name}`.trim();
  else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    text = value.constructor?.name && value.constructor !== Object ? `${value.constructor.name} {…}` : safeJson(value);
  } else text = typeof value === 'bigint' ? `${value}n` : Array.isArray(value) ? safeJson(value) : String(value);
  return `\`${text.length > 60 ? `${text.slice(0, 57)}...` : text}\``;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
