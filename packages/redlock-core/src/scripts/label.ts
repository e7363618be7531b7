// A lock's label: public words on who holds it (a host name, a URL), kept beside its key by the extend
// script, which writes, keeps and clears it, and read by the inspect script.
import { clusterSlotOf, hashTagOf, slotTagOf } from './cluster-slot.js';

/** Where a node announces that the label of a resource key changed: this prefix and the key. */
export const LABEL_CHANNEL_PREFIX = 'redlock:label:';

/** The longest label, in characters: a label says who holds a lock (a host name, a URL), not what it does. */
export const MAX_LABEL_LENGTH = 1_024;

/**
 * The key of a resource key's label, in the key's Redis Cluster slot: `<key>:label` if the key has a hash
 * tag, else `{<key>}:label`, which a cluster hashes as it hashes the key. A key hashed whole that contains a
 * `}` cannot be a tag: its label is `{<n>}:label:<key>`, where `<n>` is the decimal number whose slot is the
 * key's (see `slotTagOf`). (As with fencing counters, `a` and `{a}` share a label key; a label is read only
 * for the token that wrote it, so each lock still reads its own.)
 */
export function labelKeyOf(key: string): string {
  if (hashTagOf(key) !== undefined) return `${key}:label`;
  if (!key.includes('}')) return `{${key}}:label`;
  return `{${slotTagOf(clusterSlotOf(key))}}:label:${key}`;
}

/**
 * Lua shared by the scripts that read a label: `labelOf(key, labelKey)`, the label stored for the lock that
 * `key` holds now and the fencing token it was written with (`''` for none), or `'', ''` when there is none.
 * A label is stored as `<SHA1 of the token>[#<fencing token>]:<label>` (see extend.ts): the SHA1 keeps a
 * label left by an earlier holder (released by a call that knew nothing of labels) from being read as this
 * one's, and the fencing token tells the lock's, which an election checks its label's term against. For a
 * key that is a lock (a string with a TTL); a value longer than any token is not hashed.
 */
export const LABEL_OF_LUA = `local function labelOf(key, labelKey)
  local stored = redis.call('GET', labelKey)
  local length = stored and redis.call('STRLEN', key)
  if not stored or length > 64 then
    return '', ''
  end
  local holder = redis.call('GET', key)
  if string.sub(stored, 1, 40) ~= redis.sha1hex(holder) then
    return '', ''
  end
  local fence, label = string.match(stored, '^#?([0-9]*):(.*)$', 41)
  if label == nil then
    return '', ''
  end
  return label, fence
end`;
