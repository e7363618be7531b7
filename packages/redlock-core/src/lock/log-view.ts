/** What the log view of a lock shows: the `Lock`'s public fields but its token. */
type LoggedLock = Readonly<Record<'resources' | 'attempts' | 'fencingToken' | 'state' | 'expiresAt' | 'remainingValidityMs', unknown>>;

/**
 * What `util.inspect()` and `console.log()` show of a lock: its fields and state, with the token redacted,
 * so that logs never carry it. Set on `Lock`'s prototype rather than declared in the class: the interface
 * that declares `[Symbol.asyncDispose]` would clash with a second symbol-keyed member.
 */
export function inspectLock(this: LoggedLock, depth: number, options: object, inspect: (value: unknown, options: object) => string): string {
  if (depth < 0) return '[Lock]';
  const shown = {
    resources: this.resources,
    token: REDACTED,
    attempts: this.attempts,
    fencingToken: this.fencingToken,
    state: this.state,
    expiresAt: this.expiresAt,
    // Whole milliseconds, rounded down: the clock's fraction (`9865.304857000001`) only clutters a log line.
    remainingValidityMs: Math.floor(this.remainingValidityMs as number),
  };
  // One level down, as Node's own objects count depth (`null` is unlimited).
  const { depth: optionsDepth } = options as { depth?: number | null };
  return `Lock ${inspect(shown, { ...options, depth: optionsDepth === null || optionsDepth === undefined ? optionsDepth : optionsDepth - 1 })}`;
}

/** Shown by `util.inspect()` in place of a token. */
const REDACTED = { [Symbol.for('nodejs.util.inspect.custom')]: (): string => '[redacted]' };
