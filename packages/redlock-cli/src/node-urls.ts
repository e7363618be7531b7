import { ConfigurationError } from './input-errors.js';

/** The port a `redis://` URL without one connects to. */
const DEFAULT_REDIS_PORT = '6379';

/**
 * Splits a comma-separated list of node URLs (from `--nodes` or `REDLOCK_NODES`) and checks each one
 * before anything connects: `redis://` or `rediss://` (TLS), a host, an optional port, user and password,
 * an optional database number as the path (`redis://a:6379/2`), and query options for ioredis. Spaces
 * around the commas are ignored. The same server twice (one host and port, whatever the database or scheme)
 * would count as two votes, so it is refused.
 *
 * @param list - The URLs, separated by commas.
 * @param source - Where the list came from, for the message: `--nodes` or `REDLOCK_NODES`.
 * @returns The URLs, trimmed, in the order given.
 * @throws {@link ConfigurationError} for an empty list, a URL that does not parse or is not a Redis URL,
 *   or the same node twice. Messages never show a password.
 *
 * @example
 * ```ts
 * parseNodeUrls('redis://a:6379, redis://b:6379,redis://c:6379', '--nodes');
 * ```
 */
export function parseNodeUrls(list: string, source: string): readonly string[] {
  const urls = list
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (urls.length === 0) {
    throw new ConfigurationError(`Expected \`${source}\` to list Redis nodes as redis://host:port URLs separated by commas, got none`);
  }
  // A comma inside a password splits it: an entry of such a list that does not parse shows no text of its own.
  const mayHoldPasswordPart = list.includes('@') || SECRET_OPTION_NAME.test(list);
  const seen = new Map<string, string>();
  for (const url of urls) {
    const identity = nodeIdentityOf(url, source, mayHoldPasswordPart);
    const earlier = seen.get(identity);
    if (earlier !== undefined) {
      throw new ConfigurationError(
        `Expected \`${source}\` to list each Redis node once, got \`${redactedUrl(earlier)}\` and \`${redactedUrl(url)}\`: one server would count as two nodes`,
      );
    }
    seen.set(identity, url);
  }
  return urls;
}

/**
 * Host and port of a node URL (or its socket path), as ioredis connects to it, so that two spellings of one
 * server compare equal: its databases (the path) and a TLS or plain connection to it are one server, which
 * fails as one, so they must not count as two.
 */
function nodeIdentityOf(text: string, source: string, mayHoldPasswordPart: boolean): string {
  const invalid = (why: string): ConfigurationError =>
    new ConfigurationError(`Expected \`${source}\` to list redis:// or rediss:// URLs, got \`${redactedUrl(text)}\`: ${why}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    if (mayHoldPasswordPart && !text.includes('@')) {
      throw new ConfigurationError(`Expected \`${source}\` to list redis:// or rediss:// URLs, got an entry that is not a URL (not shown: it may be part of a password with a comma, which must be written %2C)`);
    }
    throw invalid('not a URL');
  }
  // The client decodes the user and password: a malformed %-escape there would fail only when connecting.
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw invalid('a malformed %-escape in the user or password (write % as %25)');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw invalid(`the scheme is ${url.protocol.slice(0, -1)}`);
  if (url.hostname === '') throw invalid('no host');
  if (url.port === '0') throw invalid('port 0');
  if (url.hash !== '') throw invalid('a #fragment');
  const database = url.pathname.replace(/^\//, '');
  if (database !== '' && !/^\d+$/.test(database)) throw invalid('the path must be a database number');
  // ioredis takes a query option only where the URL gives none: `?port=` without a port, `?path=` (a Unix
  // socket) instead of the host and port.
  const socketPath = url.searchParams.get('path');
  if (socketPath !== null) return `unix:${socketPath}`;
  // Host names are case-insensitive, but URL leaves the host of a non-special scheme such as redis: as typed.
  return `${url.hostname.toLowerCase()}:${url.port || url.searchParams.get('port') || DEFAULT_REDIS_PORT}`;
}

/**
 * Query options whose value is a secret, by name: ioredis takes every query option as a client option, so
 * `?password=` and `?sentinelPassword=` work, and `pass`, `secret` or `token` spellings are hidden too.
 */
const SECRET_OPTION_NAME = /pass|secret|token/i;

/** A query option whose name looks secret, in text that does not parse as a URL: `?name=value` or `&name=value`. */
const SECRET_OPTION_TEXT = /([?&][^=&#]*(?:pass|secret|token)[^=&#]*=)[^&#]*/gi;

/**
 * `text` with every credential replaced by `***`: the password of the user info (`redis://user:pw@host`)
 * and the value of each query option named like a secret (`?password=`, `?sentinelPassword=`, `?pass=`).
 * Every node URL redlock prints (messages, `-v`, `--inspect`) goes through it; user names stay visible.
 *
 * @example
 * ```ts
 * redactedUrl('redis://app:pw@a:6379/0?password=pw&family=6'); // 'redis://app:***@a:6379/0?password=***&family=6'
 * ```
 */
export function redactedUrl(text: string): string {
  // Whatever sits between "//user:" and the last "@" is hidden first, as text: a password with a `/`, `#` or
  // `@` in it makes a URL parser read part of it as the path, the fragment or the host.
  const hidden = text.replace(/\/\/([^/:@]*):.*@/, '//$1:***@');
  let url: URL;
  try {
    url = new URL(hidden);
  } catch {
    return hidden.replace(SECRET_OPTION_TEXT, '$1***');
  }
  // Names as decoded, so that a percent-encoded `pass%77ord` is found too.
  const secretOptions = [...new Set(url.searchParams.keys())].filter((name) => SECRET_OPTION_NAME.test(name));
  if (url.password === '' && secretOptions.length === 0) return hidden;
  if (url.password !== '') url.password = '***';
  for (const name of secretOptions) url.searchParams.set(name, '***');
  return url.toString();
}
