// node-redlock's two error classes, with its names and messages.
import type { ExecutionStats } from './types.js';

/**
 * A node's vote against an operation because another owner holds one of the resources there (or, for a
 * release or an extension, because the node no longer holds our value). Found in
 * `ExecutionStats.votesAgainst` and emitted as an `"error"` event, as node-redlock does.
 */
export class ResourceLockedError extends Error {
  /**
   * @param message - What the node applied, e.g. `The operation was applied to: 0 of the 1 requested resources.`
   */
  constructor(message: string) {
    super(message);
    enumerableMessage(this, message);
    this.name = 'ResourceLockedError';
  }
}

/**
 * An operation that no quorum of nodes agreed to: `acquire()` after its retries, or a `release()` or
 * `extend()` that failed. `attempts` has the votes of each attempt this library knows of (see the
 * migration guide); `cause` is redlock-core's own error, with every node's outcome, where there is one.
 */
export class ExecutionError extends Error {
  /** The votes of the attempts, each resolved once every node of it answered or timed out. */
  readonly attempts: ReadonlyArray<Promise<ExecutionStats>>;

  /**
   * @param message - node-redlock's message for the failure.
   * @param attempts - The votes of the attempts.
   * @param options - `cause`: the core's error behind this one.
   */
  constructor(message: string, attempts: ReadonlyArray<Promise<ExecutionStats>>, options?: { readonly cause?: unknown }) {
    super(message, options);
    enumerableMessage(this, message);
    this.name = 'ExecutionError';
    this.attempts = attempts;
  }
}

/**
 * Makes `message` an own enumerable property of `error`, as node-redlock's errors have it (they assign it
 * after `super()`): loggers that serialize an error with `JSON.stringify` or a spread keep it.
 */
function enumerableMessage(error: Error, message: string): void {
  Object.defineProperty(error, 'message', { value: message, enumerable: true, writable: true, configurable: true });
}

/** node-redlock's message when an operation ran out of attempts without a quorum. */
export const NO_QUORUM_MESSAGE = 'The operation was unable to achieve a quorum during its retry window.';
