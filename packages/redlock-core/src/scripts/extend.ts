import { fenceKeyOf } from './fence.js';
import { LABEL_CHANNEL_PREFIX, labelKeyOf } from './label.js';
import { defineScript, indentedLua, readKeyLua, unexpectedReply } from './lua-script.js';

/**
 * Extends the lock on this node: resets the TTL of every resource key, all or nothing, and only
 * while each key holds our token, so we never extend a key that another owner set after ours
 * expired. With re-seeding on, keys that are missing (the node restarted empty, or a key expired
 * early) are set again with our token, and no key is shortened, so the lock regains its full margin
 * there; the client asks for that only once a quorum of nodes has extended, so a lock that is gone
 * stays gone.
 * Atomic, so nobody can slip in between the check and the writes.
 * A fenced lock sends its fencing token and its counter keys (see fence.ts): where our keys are held
 * (or set again), each counter below our token is raised to it, never lowered, so a node that restarted
 * empty gets its counter back with our keys, and no later lock gets a token below ours from it. A
 * counter key that holds something else is left alone.
 * A labelled lock sends its label (see label.ts): its label keys get the same TTL, and where the label
 * differs (changed, or lost with the node's keys) it is written, with the fencing token if any, and
 * announced on the key's label channel.
 * KEYS[1..n] resource keys, then with a label their label keys, then with a fencing token their
 * counter keys   ARGV[1] token   ARGV[2] TTL in milliseconds   ARGV[3] '1' to re-seed
 * ARGV[4] the fencing token, '' or absent for none   ARGV[5] the label ('' for none), or absent
 * Returns 1 if every key held our token and was extended, 2 if some were missing (set again when
 * re-seeding, else nothing changed), 0 if any key holds another owner's token or is not a string
 * (nothing changed).
 */
export const extendScript = defineScript(
  'extend',
  /* lua */ `
local token, ttlMs, reseed, fence, label = ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4] or '', ARGV[5]
local groups = 1 + (label and 1 or 0) + (fence ~= '' and 1 or 0)
local resourceCount = #KEYS / groups
local missing = 0
for i = 1, resourceCount do
${/* A key of another type reads as an error reply, never our token: not held, and left alone. */ ''}${indentedLua(readKeyLua('value', 'GET', 'KEYS[i]'))}
  if value == false then
    missing = missing + 1
  elseif value ~= token then
    return 0
  end
end
if missing > 0 and not reseed then
  return 2
end
${/* PEXPIRE where the key is ours, which Redis allows even when out of memory. A re-seed SETs what is missing
   and never shortens a key: sent with the TTL the keys had left, it may arrive after an extension that gave
   them more, and cutting them back would end the hold on this node before its validity. */ ''}for i = 1, resourceCount do
  if not reseed then
    redis.call('PEXPIRE', KEYS[i], ttlMs)
  else
    local pttl = redis.call('PTTL', KEYS[i])
    if pttl == -2 then
      redis.call('SET', KEYS[i], token, 'PX', ttlMs)
    elseif pttl == -1 or pttl < tonumber(ttlMs) then
      redis.call('PEXPIRE', KEYS[i], ttlMs)
    end
  end
end
if fence ~= '' then
  local counters = label and 2 * resourceCount or resourceCount
  for i = counters + 1, counters + resourceCount do
${indentedLua(readKeyLua('counter', 'GET', 'KEYS[i]'), 2)}
    if counter == false or (type(counter) == 'string' and string.match(counter, '^[1-9][0-9]*$') and redis.call('PTTL', KEYS[i]) == -1 and tonumber(counter) < tonumber(fence)) then
      redis.call('SET', KEYS[i], fence)
    end
  end
end
if label then
  local tagged = redis.sha1hex(token) .. (fence ~= '' and '#' .. fence or '') .. ':' .. label
  for i = 1, resourceCount do
    local labelKey = KEYS[resourceCount + i]
    if label == '' then
      if redis.call('DEL', labelKey) == 1 then
        redis.pcall('PUBLISH', '${LABEL_CHANNEL_PREFIX}' .. KEYS[i], '1')
      end
    else
${indentedLua(readKeyLua('current', 'GET', 'labelKey'), 3)}
      if current == tagged then
        redis.call('PEXPIRE', labelKey, ttlMs)
      else
        redis.call('SET', labelKey, tagged, 'PX', ttlMs)
        redis.pcall('PUBLISH', '${LABEL_CHANNEL_PREFIX}' .. KEYS[i], '1')
      end
    end
  end
end
if missing > 0 then
  return 2
end
return 1
`,
  'a079b1fff5f15e65d577c0fdb5ab2ccc6521bda4',
);

/**
 * The KEYS of the extend script for the keys of a lock held with `token`, extended to `ttlMs`, and its ARGV
 * to extend (`args`) and to re-seed (`reseedArgs`): its label keys when it is labelled (`label`, `''` to
 * clear it), its counter keys when it is fenced.
 */
export function extendArgsOf(
  keys: readonly string[],
  token: string,
  ttlMs: number,
  { fencingToken, label }: { readonly fencingToken: number | undefined; readonly label: string | undefined },
): { readonly keys: readonly string[]; readonly args: readonly string[]; readonly reseedArgs: readonly string[] } {
  const fence = fencingToken === undefined ? '' : String(fencingToken);
  const args = [token, String(ttlMs), '0'];
  if (fence !== '' || label !== undefined) args.push(fence);
  if (label !== undefined) args.push(label);
  const reseedArgs = args.slice();
  reseedArgs[2] = '1';
  if (fence === '' && label === undefined) return { keys, args, reseedArgs };
  const scriptKeys = [...keys, ...(label === undefined ? [] : keys.map(labelKeyOf)), ...(fence === '' ? [] : keys.map(fenceKeyOf))];
  return { keys: scriptKeys, args, reseedArgs };
}

/** What an extend call answers: our keys extended, some of them gone, or another owner's there. */
export type ExtendStatus = 'extended' | 'missing' | 'not-held';

/**
 * Parses the reply of the extend script, or of `script` (the permit-extend script answers alike):
 * `'extended'`, `'missing'` (some of our keys or entries are gone there; set again if re-seeding) or
 * `'not-held'` (another owner's there, or a re-seed refused).
 */
export function parseExtendReply(reply: unknown, script = 'extend'): ExtendStatus {
  if (reply === 1) return 'extended';
  if (reply === 2) return 'missing';
  if (reply === 0) return 'not-held';
  throw unexpectedReply(script, reply);
}
