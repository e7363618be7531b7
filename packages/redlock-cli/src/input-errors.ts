import { EXIT_CODES } from './exit-codes.js';

/**
 * The command line is wrong: an unknown option, a missing resource or command, a value that does not
 * parse. Found before any connection; `redlock` prints the message and exits {@link EXIT_CODES.usage}.
 */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode: number = EXIT_CODES.usage;
}

/**
 * The Redis nodes are not configured usably: none given, a URL that is not a `redis://` or `rediss://`
 * URL, or the same node twice. Found before any connection; `redlock` prints the message and exits
 * {@link EXIT_CODES.configuration}.
 */
export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
  readonly exitCode: number = EXIT_CODES.configuration;
}

/** Whether `error` is one of the input errors above, which carry their exit status. */
export function isInputError(error: unknown): error is UsageError | ConfigurationError {
  return error instanceof UsageError || error instanceof ConfigurationError;
}
