import { defineScript, unexpectedReply } from './lua-script.js';
import { inspectStartLua } from './permit-inspect.js';
import { READ_WRITE_LAYOUT_LUA } from './read-write-acquire.js';

/**
 * Reports the live entries of the read-write lock at KEYS[1] by this node's clock, without any token:
 * inspection must never reveal one, which would let the reader release or extend another holder's lock.
 * Each entry comes with an opaque holder id, the first 12 hex digits of the SHA1 of its holder's token
 * (or intent id), which tells holders apart across nodes and can do nothing else. Changes nothing.
 * KEYS[1] resource key
 * Returns 0 if there is no key, -2 if it is not a read-write lock, else {1, kind, holder id, remaining
 * milliseconds, kind, holder id, remaining milliseconds, ...}, kind 'w' for the writer, 'r' for a reader,
 * 'i' for a waiting writer's intent.
 *
 * The read-write lock's layout is written on `readWriteAcquireScript` (read-write-acquire.ts).
 */
export const readWriteInspectScript = defineScript(
  'read-write-inspect',
  /* lua */ `
${READ_WRITE_LAYOUT_LUA}
${inspectStartLua('isReadWriteHash')}
local reply = {1}
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  local colon = string.find(value, ':', 1, true)
  if field ~= 'rw' and colon ~= nil then
    local remainingMs = tonumber(string.sub(value, 1, colon - 1)) - now
    if remainingMs > 0 then
      local kind = 'r'
      if field == 'w' or field == 'i' then
        kind = field
      end
      reply[#reply + 1] = kind
      reply[#reply + 1] = string.sub(redis.sha1hex(string.sub(value, colon + 1)), 1, 12)
      reply[#reply + 1] = remainingMs
    end
  end
end
return reply
`,
  '6bf5eb68fcb0df92fa8a41b16e559165695e3ea4',
);

/** One live entry a node holds: a writer (`'w'`), a reader (`'r'`) or a waiting writer's intent (`'i'`). */
export interface ReadWriteEntry {
  readonly kind: 'w' | 'r' | 'i';
  readonly holder: string;
  readonly remainingMs: number;
}

/** Parses the read-write-inspect script's reply: `'free'`, `'foreign'`, or the live entries. */
export function parseReadWriteInspectReply(reply: unknown): 'free' | 'foreign' | readonly ReadWriteEntry[] {
  if (reply === 0) return 'free';
  if (reply === -2) return 'foreign';
  if (Array.isArray(reply) && reply.length % 3 === 1 && reply[0] === 1) {
    const entries: ReadWriteEntry[] = [];
    for (let index = 1; index < reply.length; index += 3) {
      const [kind, holder, remainingMs] = reply.slice(index, index + 3) as unknown[];
      if ((kind !== 'w' && kind !== 'r' && kind !== 'i') || typeof holder !== 'string' || !Number.isInteger(remainingMs)) throw unexpectedReply('read-write-inspect', reply);
      entries.push({ kind, holder, remainingMs: remainingMs as number });
    }
    return entries;
  }
  throw unexpectedReply('read-write-inspect', reply);
}
