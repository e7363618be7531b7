import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_OPTIONS, MAX_PERMIT_LIMIT, MAX_TTL_MS, type ReadWriteMode } from 'redlock-core';
import { DEFAULT_KILL_AFTER_MS, DEFAULT_TTL_MS, MIN_TTL_MS, NODES_VARIABLE } from './defaults.js';
import { parseDurationMs } from './duration.js';
import { EXIT_CODES } from './exit-codes.js';
import { ConfigurationError, UsageError } from './input-errors.js';
import { parseNodeUrls } from './node-urls.js';

/** How much `redlock` writes on stderr: `quiet` only usage and configuration errors, `verbose` each step. */
export type Verbosity = 'quiet' | 'normal' | 'verbose';

/** The command to run under the lock: a program and its arguments, or a script for `/bin/sh -c`. */
export type CommandSpec =
  | { readonly kind: 'exec'; readonly file: string; readonly args: readonly string[] }
  | { readonly kind: 'shell'; readonly script: string };

/** What the nodes are, shared by every request that connects. */
export interface NodeSettings {
  /** The node URLs, as given. */
  readonly nodeUrls: readonly string[];
  /** Put before the resource to make its key. */
  readonly keyPrefix: string;
  /**
   * How long after its restart a node grants nothing, in milliseconds (the core's `restartGraceMs`; 0 for
   * none): the protection of nodes that restart without persistence, which every client of them must ask for.
   */
  readonly restartGraceMs: number;
}

/** `redlock [options] <resource> <command> [args...]` or `... <resource> -c <script>`. */
export interface RunRequest extends NodeSettings {
  readonly kind: 'run';
  readonly resource: string;
  readonly command: CommandSpec;
  /** The lock's TTL, in milliseconds. */
  readonly ttlMs: number;
  /** How long to wait for a held lock, in milliseconds: 0 for one attempt, `undefined` for as long as it takes. */
  readonly waitMs: number | undefined;
  /** The exit status when the lock is held or the wait timed out. */
  readonly conflictExitCode: number;
  /** Whether to acquire a fencing token and pass it in `REDLOCK_FENCING_TOKEN`. */
  readonly fencing: boolean;
  /** Whether to take the lock in turn, behind every waiter that asked before (redlock-core's `fair`). */
  readonly fair: boolean;
  /**
   * With `--permits N`: run while holding one permit of a counting semaphore of N permits on the
   * resource (at most N such commands at once), instead of its lock; `undefined` for the lock.
   */
  readonly permits: number | undefined;
  /**
   * With `--read` or `--write`: run while holding the read-write lock on the resource in that mode (many
   * `'read'` commands at once, or one `'write'` command alone), instead of its lock; `undefined` for the lock.
   */
  readonly readWrite: ReadWriteMode | undefined;
  /**
   * With `--elect`: run while leading the election named by the resource, as `value` (who leads, for
   * `--inspect --elect`), instead of holding its lock; `undefined` for the lock.
   */
  readonly election: { readonly value: string } | undefined;
  /** The longest pause between SIGTERM and SIGKILL when the lock is lost, in milliseconds. */
  readonly killAfterMs: number;
  readonly verbosity: Verbosity;
}

/** `redlock [options] --inspect <resource>`. */
export interface InspectRequest extends NodeSettings {
  readonly kind: 'inspect';
  readonly resource: string;
  /** With `--permits N`: inspect the semaphore of N permits on the resource rather than its lock. */
  readonly permits: number | undefined;
  /**
   * With `--read` or `--write`: inspect the read-write lock on the resource rather than its lock (either
   * flag: the inspection is the same).
   */
  readonly readWrite: ReadWriteMode | undefined;
  /** With `--elect`: tell who leads the election named by the resource, rather than inspect its lock. */
  readonly isElection: boolean;
  readonly verbosity: Verbosity;
}

/** What the command line asks for. */
export type CliRequest = { readonly kind: 'help' } | { readonly kind: 'version' } | RunRequest | InspectRequest;

const OPTIONS = {
  nodes: { type: 'string', multiple: true },
  prefix: { type: 'string' },
  'restart-grace': { type: 'string' },
  ttl: { type: 'string' },
  nonblock: { type: 'boolean', short: 'n' },
  timeout: { type: 'string', short: 'w' },
  'conflict-exit-code': { type: 'string', short: 'E' },
  fencing: { type: 'boolean' },
  fair: { type: 'boolean' },
  permits: { type: 'string' },
  read: { type: 'boolean' },
  write: { type: 'boolean' },
  'kill-after': { type: 'string', short: 'k' },
  inspect: { type: 'boolean' },
  elect: { type: 'boolean' },
  value: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

/** The options that only make sense when running a command, refused with `--inspect`. */
const RUN_ONLY_OPTIONS = ['ttl', 'nonblock', 'timeout', 'conflict-exit-code', 'fencing', 'fair', 'kill-after', 'value'] as const;

/**
 * Reads the command line, without touching the network. Options come before the resource; everything
 * after it belongs to the command, untouched (flock's rule), except one `--` right after the resource,
 * which is dropped, and `-c`/`--command <script>` right after it, which runs the script with `/bin/sh -c`.
 *
 * @param argv - The arguments after `node main.js`.
 * @param env - The environment: `REDLOCK_NODES` is read when `--nodes` is not given.
 * @throws {@link UsageError} for an unknown option, a missing resource or command, a bad value, or
 *   options that cannot go together; {@link ConfigurationError} for missing or bad node URLs.
 *
 * @example
 * ```ts
 * parseCliArguments(['-n', '--ttl', '10s', 'backup', 'pg_dump', 'shop'], { REDLOCK_NODES: 'redis://a,redis://b,redis://c' });
 * ```
 */
export function parseCliArguments(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliRequest {
  const resourceIndex = resourceIndexOf(argv);
  const { values, positionals } = parseOptions(argv.slice(0, resourceIndex));
  if (positionals.length > 0) throw new UsageError(`Unexpected argument \`${positionals[0]}\` before the resource`);
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (values.verbose && values.quiet) throw new UsageError('`--verbose` and `--quiet` cannot be used together');
  const verbosity: Verbosity = values.verbose ? 'verbose' : values.quiet ? 'quiet' : 'normal';

  const resource = argv[resourceIndex];
  if (resource === undefined) throw new UsageError('Expected a resource to lock, got none');
  if (resource === '') throw new UsageError('Expected a resource to lock, got an empty string');
  const rest = argv.slice(resourceIndex + 1);
  const readWrite = readWriteOf(values);
  const isElection = values.elect ?? false;
  if (isElection && (values.permits !== undefined || readWrite !== undefined)) {
    throw new UsageError(`\`--elect\` and \`--${values.permits === undefined ? readWrite : 'permits'}\` cannot be used together: an election holds a lock of its own`);
  }
  if (values.value !== undefined && !isElection) throw new UsageError('`--value` goes with `--elect`: it says who leads');

  if (values.inspect) {
    const runOnly = RUN_ONLY_OPTIONS.find((name) => values[name] !== undefined);
    if (runOnly !== undefined) throw new UsageError(`\`--${runOnly}\` does not go with \`--inspect\``);
    if (rest.length > 0) throw new UsageError(`\`--inspect\` takes a resource and no command, got \`${rest[0]}\` too`);
    return { kind: 'inspect', resource, permits: permitsOf(values.permits), readWrite, isElection, verbosity, ...nodeSettingsOf(values, env) };
  }
  if (isElection && values.nonblock) {
    throw new UsageError('`--elect` and `--nonblock` cannot be used together: a standby waits to lead (bound the wait with `--timeout`)');
  }

  const command = commandOf(rest);
  if (values.nonblock && values.timeout !== undefined) {
    throw new UsageError('`--nonblock` and `--timeout` cannot be used together (`--timeout 0` is `--nonblock`)');
  }
  const bounds = { minMs: 0, maxMs: MAX_TTL_MS };
  const ttlMs = values.ttl === undefined ? DEFAULT_TTL_MS : parseDurationMs(values.ttl, '--ttl', { minMs: MIN_TTL_MS, maxMs: MAX_TTL_MS });
  const waitMs = values.nonblock ? 0 : values.timeout === undefined ? undefined : parseDurationMs(values.timeout, '--timeout', bounds);
  if (isElection && waitMs === 0) throw new UsageError('`--elect` takes a `--timeout` above 0: a standby waits to lead');
  const killAfterMs =
    values['kill-after'] === undefined ? DEFAULT_KILL_AFTER_MS : parseDurationMs(values['kill-after'], '--kill-after', bounds);
  const conflictExitCode = exitCodeOf(values['conflict-exit-code']);
  const permits = permitsOf(values.permits);
  if (permits !== undefined && values.fencing) throw new UsageError('`--fencing` and `--permits` cannot be used together: a semaphore hands out no fencing token');
  if (readWrite !== undefined && values.fencing) {
    throw new UsageError(`\`--fencing\` and \`--${readWrite}\` cannot be used together: a read-write lock hands out no fencing token`);
  }
  if (values.fair) {
    const other = permits !== undefined ? 'permits' : readWrite ?? (isElection ? 'elect' : undefined);
    if (other !== undefined) throw new UsageError(`\`--fair\` and \`--${other}\` cannot be used together: \`--fair\` takes the lock in turn`);
  }
  return {
    kind: 'run',
    resource,
    command,
    ttlMs,
    waitMs,
    conflictExitCode,
    fencing: values.fencing ?? false,
    fair: values.fair ?? false,
    permits,
    readWrite,
    election: isElection ? { value: electionValueOf(values.value) } : undefined,
    killAfterMs,
    verbosity,
    ...nodeSettingsOf(values, env),
  };
}

type ParsedValues = ReturnType<typeof parseOptions>['values'];

/** Parses the options before the resource strictly: an unknown option or a missing value is a usage error. */
function parseOptions(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: true });
  } catch (error) {
    // parseArgs' messages name the option and say what is wrong; keep that on one line, without the
    // advice on quoting, which is about its own syntax rather than redlock's.
    const message = (error instanceof Error ? error.message : String(error))
      .split('\n')
      .filter((line) => !line.startsWith('To specify'))
      .join(' ')
      .replace(/\. To specify .*$/, '')
      .replace(/\.$/, '');
    throw new UsageError(message, { cause: error });
  }
}

/**
 * Where the resource is in `argv`: the first argument that is neither an option nor an option's value
 * (or the first after `--`), found by a lenient pass so that the command's own options never meet the
 * strict one; `argv.length` when there is none.
 */
function resourceIndexOf(argv: readonly string[]): number {
  const { tokens } = parseArgs({ args: [...argv], options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  return tokens.find((token) => token.kind === 'positional')?.index ?? argv.length;
}

/** The command after the resource: `-c <script>`, or a program and its arguments (after an optional `--`). */
function commandOf(rest: readonly string[]): CommandSpec {
  const [first, ...others] = rest;
  if (first === '-c' || first === '--command') {
    const [script, ...extra] = others;
    if (script === undefined || script === '') throw new UsageError(`Expected a shell command after \`${first}\`, got none`);
    if (extra.length > 0) {
      throw new UsageError(`\`${first}\` takes one shell command, got \`${extra[0]}\` after it: quote the whole command`);
    }
    return { kind: 'shell', script };
  }
  const [file, ...args] = first === '--' ? others : rest;
  if (file === undefined || file === '') throw new UsageError('Expected a command to run after the resource, got none');
  return { kind: 'exec', file, args };
}

/** `--permits`: an integer from 1 to `MAX_PERMIT_LIMIT`, or `undefined` when not given. */
function permitsOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > MAX_PERMIT_LIMIT) {
    throw new UsageError(`Expected \`--permits\` to be an integer from 1 to ${MAX_PERMIT_LIMIT}, got \`${text}\``);
  }
  return Number(text);
}

/**
 * `--read` or `--write`: the mode of the read-write lock to hold or inspect, or `undefined` for neither;
 * the same checks for a run and for `--inspect`, since both name the primitive the resource is.
 */
function readWriteOf(values: ParsedValues): ReadWriteMode | undefined {
  if (values.read && values.write) {
    throw new UsageError('`--read` and `--write` cannot be used together: a command holds the read-write lock in one mode');
  }
  const mode = values.read ? 'read' : values.write ? 'write' : undefined;
  if (mode !== undefined && values.permits !== undefined) {
    throw new UsageError(`\`--${mode}\` and \`--permits\` cannot be used together: the resource is a read-write lock or a semaphore, not both`);
  }
  return mode;
}

/** `--value`: who leads, at most 200 characters; by default this machine and process, `<hostname>:<pid>`. */
function electionValueOf(text: string | undefined): string {
  if (text === undefined) return `${hostname()}:${process.pid}`;
  if (text === '' || text.length > 200) throw new UsageError(`Expected \`--value\` to be from 1 to 200 characters, got ${text.length}`);
  return text;
}

function exitCodeOf(text: string | undefined): number {
  if (text === undefined) return EXIT_CODES.conflict;
  if (!/^\d{1,3}$/.test(text) || Number(text) > 255) {
    throw new UsageError(`Expected \`--conflict-exit-code\` to be an integer from 0 to 255, got \`${text}\``);
  }
  return Number(text);
}

function nodeSettingsOf(values: ParsedValues, env: Readonly<Record<string, string | undefined>>): NodeSettings {
  const keyPrefix = values.prefix ?? DEFAULT_OPTIONS.keyPrefix;
  const grace = values['restart-grace'];
  const restartGraceMs = grace === undefined ? DEFAULT_OPTIONS.restartGraceMs : parseDurationMs(grace, '--restart-grace', { minMs: 0, maxMs: MAX_TTL_MS });
  if (values.nodes !== undefined) return { nodeUrls: parseNodeUrls(values.nodes.join(','), '--nodes'), keyPrefix, restartGraceMs };
  const fromEnv = env[NODES_VARIABLE];
  if (fromEnv === undefined || fromEnv.trim() === '') {
    throw new ConfigurationError(`No Redis nodes: pass --nodes redis://host:port,... or set ${NODES_VARIABLE}`);
  }
  return { nodeUrls: parseNodeUrls(fromEnv, NODES_VARIABLE), keyPrefix, restartGraceMs };
}
