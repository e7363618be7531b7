/**
 * The warning codes each subject was given: a node's adapter, so that a node's warning is given once
 * however many `Redlock`s use it, or `process` for a warning about how the library is called.
 */
const warningsGiven = new WeakMap<object, Set<string>>();

/**
 * Emits a process warning (type `RedlockWarning`) with `code` about `subject` (the node behind an adapter,
 * or `process`), once per subject and code.
 */
export function warnOnce(subject: object, code: string, message: string): void {
  const codes = warningsGiven.get(subject) ?? new Set<string>();
  warningsGiven.set(subject, codes);
  if (codes.has(code)) return;
  codes.add(code);
  process.emitWarning(message, { type: 'RedlockWarning', code });
}

/**
 * Emits a report nobody awaits as a process warning: for an error, a `'warning'` event whose value is the
 * error itself. An error made in another realm (a `vm` context, as under some test runners) is not an
 * `Error` to Node's `emitWarning`: it then goes by message, with its name as the warning's type.
 */
export function emitErrorWarning(report: unknown): void {
  if (!(report instanceof Error)) return process.emitWarning(String(report), { type: 'RedlockWarning' });
  try {
    process.emitWarning(report);
  } catch {
    process.emitWarning(report.message, { type: report.name });
  }
}

/**
 * Attaches `report` (an error that must not be lost) to `error` as the property `key`, or, when `error`
 * cannot carry it (a primitive, a frozen object), emits it as a process warning.
 */
export function reportWith(error: unknown, key: 'releaseError' | 'lockLostError', report: unknown): void {
  const isExtensible = (typeof error === 'object' || typeof error === 'function') && error !== null && Object.isExtensible(error);
  if (isExtensible) Object.defineProperty(error, key, { value: report, configurable: true, writable: true });
  else emitErrorWarning(report);
}
