// How a RedlockError prints under `util.inspect` (console.log, Node's report of an uncaught error, most
// loggers' text output): its stack and a summary of its fields, never their whole contents.

/**
 * The key of a custom `util.inspect` method: `util.inspect.custom` is `Symbol.for()` of this name, so the
 * core needs no `node:util` import and the method is harmless where nothing inspects.
 */
export const INSPECT_CUSTOM: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

/** What `util.inspect` passes a custom method: the options it uses here, and itself. */
interface InspectOptionsLike {
  readonly stylize?: (text: string, style: string) => string;
}
type InspectLike = (value: unknown, options?: object) => string;

/** The fields the stack already shows. */
const SHOWN_BY_STACK = new Set(['name', 'message', 'stack']);

/**
 * Prints `error` as `util.inspect` does (the stack, then its own enumerable fields in braces), except that
 * a field holding objects (attempts, node outcomes, node errors) prints as one summary line, with the last
 * attempt's answer of each node, and the latest error of each node on a line of its own; `cause` prints as
 * its first line. An uncaught `LockAcquireError` of 11 attempts on 5 nodes, 3 of them down, so prints in
 * under 30 lines, not 1,300. The fields themselves are unchanged: the summary names where each one is.
 */
export function inspectErrorSummary(error: Error, depth: number, options: InspectOptionsLike, inspect: InspectLike): string {
  const special = (text: string): string => options.stylize?.(text, 'special') ?? text;
  if (depth < 0) return special(`[${error.name}: ${error.message}]`);
  const lines: string[] = [];
  for (const [key, value] of Object.entries(error)) {
    if (SHOWN_BY_STACK.has(key)) continue;
    lines.push(`${key}: ${isBulky(value) ? special(summaryOf(key, value)) : inspect(value, { ...options, depth: 1, breakLength: Infinity })}`);
  }
  if (Object.hasOwn(error, 'cause') && error.cause !== undefined) lines.push(`[cause]: ${special(firstLineOf(error.cause))}`);
  const head = error.stack ?? `${error.name}: ${error.message}`;
  return lines.length === 0 ? head : `${head} {\n${lines.map((line) => `  ${line}`).join(',\n')}\n}`;
}

/** Whether `value` is an array of objects or an error: what prints as a summary. */
function isBulky(value: unknown): value is readonly object[] | Error {
  return value instanceof Error || (Array.isArray(value) && value.some((item) => typeof item === 'object' && item !== null));
}

function summaryOf(key: string, value: readonly object[] | Error): string {
  const where = `see error.${key}`;
  if (value instanceof Error) return `[${firstLineOf(value)}; ${where}]`;
  const last = value.at(-1);
  if (isNodeOutcomeList(value)) return `[${answersOf(value)}; ${where}]`;
  if (last !== undefined && 'nodes' in last && isNodeOutcomeList(last.nodes)) {
    return `[${countOf(value.length, 'attempt')}, the last: ${answersOf(last.nodes)}; ${where}]`;
  }
  if (value.every((item) => item instanceof Error)) return errorsSummaryOf(value as readonly Error[], where);
  return `[${countOf(value.length, 'item')}; ${where}]`;
}

/** `N errors`, and under it the latest error of each node (or of each distinct message when not node errors). */
function errorsSummaryOf(errors: readonly Error[], where: string): string {
  const latest = new Map<string, Error>();
  for (const error of errors) {
    const nodeIndex: unknown = (error as { readonly nodeIndex?: unknown }).nodeIndex;
    const origin = typeof nodeIndex === 'number' ? `node ${nodeIndex}` : error.message;
    latest.delete(origin);
    latest.set(origin, error);
  }
  const heading = `${countOf(errors.length, 'error')}, the latest of each node:`;
  const each = [...latest].map(([origin, error]) => (origin === error.message ? firstLineOf(error) : `${origin}: ${firstLineOf(error)}`));
  return `[${heading}\n${each.map((line) => `    ${line}`).join('\n')}\n    ${where}]`;
}

type NodeOutcomeLike = { readonly nodeIndex: number; readonly status: string };

function isNodeOutcomeList(value: unknown): value is readonly NodeOutcomeLike[] {
  return Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'object' && item !== null && 'nodeIndex' in item && 'status' in item);
}

/** Each node's answer, e.g. `0 acquired, 1 error, 2 timeout`. */
function answersOf(nodes: readonly NodeOutcomeLike[]): string {
  return nodes.map((node) => `${node.nodeIndex} ${node.status}`).join(', ');
}

function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** `Name: message` up to the message's first line break, for any thrown value. */
function firstLineOf(value: unknown): string {
  const text = value instanceof Error ? `${value.name}: ${value.message}` : String(value);
  return text.split('\n', 1)[0] ?? text;
}

/**
 * Sets `error[key]` to `value` as an enumerable own getter, in place of a plain field: read, enumerated,
 * spread, compared and serialized (`JSON.stringify`, pino, winston) as the field was, but printed as
 * `[Getter]` by an inspection that ignores custom methods, as Node's report of an uncaught error does:
 * that report printed each node error of every attempt with its stack and cause (1,300 lines for 11
 * attempts on 5 nodes). For the fields that hold attempts, node outcomes and node errors.
 */
export function defineBulkyField(error: Error, key: string, value: unknown): void {
  Object.defineProperty(error, key, { get: () => value, enumerable: true, configurable: true });
}
