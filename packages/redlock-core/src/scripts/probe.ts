import { defineScript, unexpectedReply } from './lua-script.js';

/**
 * Tells which server this is and how it treats keys under memory pressure, so a client can refuse to
 * count one server as two nodes, and warn about a policy that may evict lock keys. Reads only; sent
 * once per node, ahead of the first script on its connection.
 * No KEYS, no ARGV.
 * Returns {run_id, maxmemory_policy}: the server's run id (new at every start) and its eviction
 * policy, each '' if INFO does not report it (or, as in stand-ins for Redis such as ioredis-mock, does
 * not answer text).
 */
export const probeScript = defineScript(
  'probe',
  /* lua */ `
local function field(section, pattern)
  local info = redis.call('INFO', section)
  return type(info) == 'string' and string.match(info, pattern) or ''
end
return { field('server', 'run_id:(%x+)'), field('memory', 'maxmemory_policy:([%w%-]+)') }
`,
  '04bb19d6a2c8bbe26a8e822e4436d41261cc0a15',
);

/** What the probe script tells about a server. */
export interface ServerFacts {
  /** The server's run id, new at every start; `''` when INFO does not report it. */
  readonly runId: string;
  /** The server's `maxmemory-policy`, e.g. `'noeviction'`; `''` when INFO does not report it. */
  readonly maxmemoryPolicy: string;
}

/** Parses the probe script's reply. */
export function parseProbeReply(reply: unknown): ServerFacts {
  if (Array.isArray(reply) && reply.length === 2 && typeof reply[0] === 'string' && typeof reply[1] === 'string') {
    return { runId: reply[0], maxmemoryPolicy: reply[1] };
  }
  throw unexpectedReply('probe', reply);
}
