// The semantics of the scripts of semaphores (scripts/permit-*.ts) and read-write locks (scripts/read-write-*.ts)
// on a fake server; their layouts are written on permitAcquireScript and readWriteAcquireScript.
import { createHash } from 'node:crypto';
import { type FakeKeyspace, isInsideRestartGrace } from './fake-keyspace.js';

/** The names of the permit scripts, as the fake knows them. */
export type PermitScriptName = 'permit-acquire' | 'permit-extend' | 'permit-release' | 'permit-inspect' | 'read-write-acquire' | 'read-write-inspect';

/** Runs one permit script atomically on `keyspace`, as its Lua source does. */
export function runPermitScript(keyspace: FakeKeyspace, script: PermitScriptName, keys: readonly string[], args: readonly string[]): unknown {
  const key = keys[0] as string;
  const [token = ''] = args;
  const type = keyspace.typeOf(key);
  const slots = keyspace.hashOf(key);
  const now = Math.floor(keyspace.now());
  switch (script) {
    case 'permit-acquire': {
      const [, ttlArg, permitsArg, limitArg, graceArg, firstArg, intentArg = '', intentTtlArg, , ...explicit] = args;
      const [ttlMs, permits, limit, graceMs, first, intentTtlMs] = [ttlArg, permitsArg, limitArg, graceArg, firstArg, intentTtlArg].map(Number) as [number, number, number, number, number, number];
      // The intent's entry names its permits, which others keep free: an id that names others is ignored.
      const intent = /^(\d+):./s.exec(intentArg)?.[1] === String(permits) ? intentArg : '';
      if (type !== 'none' && type !== 'hash') return -2;
      if (slots !== undefined) {
        if (!isSemaphoreHash(keyspace, key, slots)) return -2;
        const recorded = slots.get('limit');
        if (Number(recorded) !== limit) return [-3, Number(recorded)];
      }
      /** By slot: ours, free (missing or expired), or another holder's (absent). */
      const stateOf = new Map<number, 'ours' | 'free'>();
      for (let slot = 1; slot <= limit; slot += 1) {
        const value = slots?.get(String(slot));
        if (value === undefined || (entryOf(value).holder !== token && entryOf(value).expiresAtMs <= now)) stateOf.set(slot, 'free');
        else if (entryOf(value).holder === token) stateOf.set(slot, 'ours');
      }
      // A live intent: ours, or another request's, which keeps its permits' worth of slots free.
      const waiting = slots?.get('i');
      const [isOurIntent, kept] = waiting === undefined || entryOf(waiting).expiresAtMs <= now ? [false, 0] : intentOf(entryOf(waiting).holder, intent);
      const ours = [...stateOf].filter(([, state]) => state === 'ours').map(([slot]) => slot);
      const freeSlots = (except: readonly number[]): number[] => [...stateOf].filter(([slot, state]) => state === 'free' && !except.includes(slot)).map(([slot]) => slot);
      // A re-sent first call gets the slots it took, if it still has enough of them.
      const isResent = first > 0 && ours.length > 0;
      const wanted = isResent
        ? ours
        : first > 0
          ? Array.from({ length: limit }, (_, step) => ((first - 1 + step) % limit) + 1).filter((slot) => stateOf.get(slot) === 'free').slice(0, permits)
          : explicit.map(Number).filter((slot) => stateOf.has(slot));
      // The slots free once we take ours (our other slots are freed): another's intent keeps that many.
      const freeAfter = [...stateOf.keys()].filter((slot) => !wanted.includes(slot)).length;
      if (wanted.length < permits || (!isResent && freeAfter < kept)) {
        if (intent !== '' && kept === 0 && slots !== undefined) {
          slots.set('i', `${now + intentTtlMs}:${intent}`);
          lengthenTtl(keyspace, key, intentTtlMs);
        }
        return [0, ...(kept === 0 ? freeSlots([]) : [])];
      }
      if (!isResent) {
        if (isInsideRestartGrace(keyspace, graceMs)) return -1;
        const fields = slots ?? new Map<string, string>();
        fields.set('limit', String(limit));
        for (const slot of wanted) fields.set(String(slot), `${now + ttlMs}:${token}`);
        for (const slot of ours) {
          if (wanted.includes(slot)) continue;
          fields.delete(String(slot));
          stateOf.set(slot, 'free');
        }
        if (isOurIntent) fields.delete('i');
        if (slots === undefined) keyspace.createHash(key, fields);
        lengthenTtl(keyspace, key, ttlMs);
      }
      return [1, wanted.length, ...wanted, ...freeSlots(wanted)];
    }
    case 'permit-extend':
      return extendEntries(keyspace, key, args, now);
    case 'permit-inspect':
      if (type === 'none') return 0;
      if (slots === undefined || !isSemaphoreHash(keyspace, key, slots)) return -2;
      // A waiting request's intent holds no slot.
      return [Number(slots.get('limit')), ...liveEntries(slots, now, (field) => (field === 'limit' || field === 'i' ? undefined : Number(field)))];
    case 'permit-release': {
      const [, other = '', , ...keptFields] = args;
      const kept = new Set(keptFields);
      let freed = 0;
      let longest: number | undefined;
      for (const [field, value] of slots ?? []) {
        // A marker (`limit`, `rw`) holds no holder.
        if (!value.includes(':')) continue;
        const { holder, expiresAtMs } = entryOf(value);
        if (!kept.has(field) && (holder === token || (other !== '' && holder === other))) {
          slots?.delete(field);
          freed += 1;
        } else if (expiresAtMs > now && (longest === undefined || expiresAtMs > longest)) longest = expiresAtMs;
      }
      // The key lives as long as its longest live entry, and goes with the expired ones when none is.
      if (freed > 0) {
        if (longest === undefined) keyspace.delete(key);
        else keyspace.pexpire(key, longest - now);
      }
      return freed > 0 ? 1 : 0;
    }
    case 'read-write-acquire':
      return acquireReadWrite(keyspace, key, args, now);
    case 'read-write-inspect':
      return inspectReadWrite(keyspace, key, now);
  }
}

/**
 * A hash value read as Lua 5.1's `tonumber` reads it: a decimal number (an exponent, spaces around) or
 * hexadecimal `0x…`; `undefined` for anything else, such as JavaScript's `0b10` or `0o2`.
 */
function luaNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\s*(-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?|0x[\da-f]+)\s*$/i.test(text)) return undefined;
  return Number(text.trim());
}

/** Whether an entry's value is `<expiry>:<holder>`, as every permit script writes it. */
const isEntry = (value: string): boolean => /^\d+:./s.test(value);

/**
 * `isSemaphoreHash` of the permit scripts (see `SEMAPHORE_LAYOUT_LUA`): a TTL, a positive integer limit,
 * an intent `<expiry>:<permits>:<random>` if any, slots 1 to the limit.
 */
function isSemaphoreHash(keyspace: FakeKeyspace, key: string, fields: ReadonlyMap<string, string>): boolean {
  if (keyspace.pttl(key) === Infinity) return false;
  const limit = luaNumber(fields.get('limit'));
  if (limit === undefined || !Number.isInteger(limit) || limit < 1) return false;
  for (const [field, value] of fields) {
    if (field === 'i' && !/^\d+:\d+:./s.test(value)) return false;
    if (field === 'limit' || field === 'i') continue;
    const slot = Number(field);
    if (!Number.isInteger(slot) || slot < 1 || slot > limit || String(slot) !== field || !isEntry(value)) return false;
  }
  return true;
}

/** `isReadWriteHash` of the read-write scripts (see `READ_WRITE_LAYOUT_LUA`): a TTL, `rw` 1, entries `w`, `i`, `r:<token>`. */
function isReadWriteHash(keyspace: FakeKeyspace, key: string, fields: ReadonlyMap<string, string>): boolean {
  if (keyspace.pttl(key) === Infinity || fields.get('rw') !== '1') return false;
  for (const [field, value] of fields) {
    if (field === 'rw') continue;
    if ((field !== 'w' && field !== 'i' && !field.startsWith('r:')) || !isEntry(value)) return false;
  }
  return true;
}

/**
 * A live semaphore intent whose id is `<permits>:<random>`, seen by a request whose intent id is `intent`:
 * whether it is that request's own, and otherwise how many slots it keeps free.
 */
function intentOf(holder: string, intent: string): [isOurs: boolean, kept: number] {
  if (intent !== '' && holder === intent) return [true, 0];
  return [false, Number(holder.slice(0, holder.indexOf(':')))];
}

/** A hash entry's holder and expiry, from its value `<expiry>:<holder>`. */
function entryOf(value: string): { readonly holder: string; readonly expiresAtMs: number } {
  const colon = value.indexOf(':');
  return { holder: value.slice(colon + 1), expiresAtMs: Number(value.slice(0, colon)) };
}

/**
 * The permit-extend script (scripts/permit-extend.ts): extends our entries, all of them live and ours;
 * tells apart entries that are all missing on a key that is absent or keeps the layout, and with re-seeding
 * sets them again where no other holder's entry conflicts with ours.
 */
function extendEntries(keyspace: FakeKeyspace, key: string, args: readonly string[], now: number): number {
  const [token = '', ttlArg, reseedArg, layout = ''] = args;
  const ttlMs = Number(ttlArg);
  const held = args.slice(4);
  const type = keyspace.typeOf(key);
  if (type !== 'none' && type !== 'hash') return 0;
  const fields = keyspace.hashOf(key);
  let missing = 0;
  for (const field of held) {
    const value = fields?.get(field);
    if (value === undefined) missing += 1;
    else if (!value.includes(':') || entryOf(value).holder !== token || entryOf(value).expiresAtMs <= now) return 0;
  }
  if (missing > 0) {
    if (missing < held.length) return 0;
    if (fields !== undefined) {
      const isOfLayout = layout === 'rw' ? isReadWriteHash(keyspace, key, fields) : isSemaphoreHash(keyspace, key, fields) && luaNumber(fields.get('limit')) === luaNumber(layout);
      if (!isOfLayout) return 0;
    }
    if (reseedArg !== '1') return 2;
    // A read-write lock's live entries that ours would sit beside: readers beside a writer, a writer or an
    // intent beside a reader. A semaphore's slots of ours are free here: they are missing.
    if (layout === 'rw' && fields !== undefined) {
      const isWriter = held[0] === 'w';
      for (const [field, value] of fields) {
        if (field === 'rw' || entryOf(value).expiresAtMs <= now) continue;
        if (isWriter ? field.startsWith('r:') : field === 'w' || field === 'i') return 0;
      }
    }
  }
  const hash = fields ?? new Map<string, string>();
  if (missing > 0) {
    if (layout === 'rw') hash.set('rw', '1');
    else hash.set('limit', layout);
  }
  // A re-seed never shortens an entry of ours, as the script.
  for (const field of held) {
    const current = hash.get(field);
    const expiresAtMs = reseedArg === '1' && current !== undefined ? Math.max(now + ttlMs, entryOf(current).expiresAtMs) : now + ttlMs;
    hash.set(field, `${expiresAtMs}:${token}`);
  }
  if (fields === undefined) keyspace.createHash(key, hash);
  // The key lives as long as its longest live entry: a shorter extension shortens it.
  let longest = now + ttlMs;
  for (const value of hash.values()) {
    // As the script: a value whose part before ':' is no number does not count.
    const expiresAtMs = luaNumber(value.slice(0, value.indexOf(':')));
    if (value.includes(':') && expiresAtMs !== undefined) longest = Math.max(longest, expiresAtMs);
  }
  keyspace.pexpire(key, longest - now);
  return missing > 0 ? 2 : 1;
}

/** The read-write-acquire script (scripts/read-write-acquire.ts), where its layout is written. */
function acquireReadWrite(keyspace: FakeKeyspace, key: string, args: readonly string[], now: number): number {
  const [token = '', ttlArg, mode, graceArg, intent = '', intentTtlArg] = args;
  const ttlMs = Number(ttlArg);
  const type = keyspace.typeOf(key);
  if (type !== 'none' && type !== 'hash') return -2;
  const fields = keyspace.hashOf(key);
  let [writer, readers, waiting, isOurIntent] = [false, false, false, false];
  const expired: string[] = [];
  if (fields !== undefined) {
    if (!isReadWriteHash(keyspace, key, fields)) return -2;
    for (const [field, value] of fields) {
      if (field === 'rw' || !value.includes(':')) continue;
      const { holder, expiresAtMs } = entryOf(value);
      if (expiresAtMs <= now) expired.push(field);
      else if (holder === token) return 1;
      else if (field === 'w') writer = true;
      else if (field === 'i') {
        if (holder === intent) isOurIntent = true;
        else waiting = true;
      } else readers = true;
    }
  }
  if (writer) return 0;
  if (mode === 'read' && waiting) return 3;
  if (mode === 'write' && readers) {
    if (!waiting && intent !== '') {
      const intentTtlMs = Number(intentTtlArg);
      fields?.set('i', `${now + intentTtlMs}:${intent}`);
      lengthenTtl(keyspace, key, intentTtlMs);
    }
    return 2;
  }
  if (isInsideRestartGrace(keyspace, Number(graceArg))) return -1;
  const hash = fields ?? new Map<string, string>();
  // Expired entries go first, as in the script: the writer's own field may hold an expired writer's entry.
  for (const field of expired) hash.delete(field);
  hash.set('rw', '1');
  hash.set(mode === 'write' ? 'w' : `r:${token}`, `${now + ttlMs}:${token}`);
  if (isOurIntent) hash.delete('i');
  if (fields === undefined) keyspace.createHash(key, hash);
  lengthenTtl(keyspace, key, ttlMs);
  return 1;
}

/** The read-write-inspect script (scripts/read-write-inspect.ts). */
function inspectReadWrite(keyspace: FakeKeyspace, key: string, now: number): unknown {
  if (keyspace.typeOf(key) === 'none') return 0;
  const fields = keyspace.hashOf(key);
  if (fields === undefined || !isReadWriteHash(keyspace, key, fields)) return -2;
  return [1, ...liveEntries(fields, now, (field) => (field === 'rw' ? undefined : field === 'w' || field === 'i' ? field : 'r'))];
}

/**
 * What the inspect scripts report of a hash's live entries, without any token: for each field that `nameOf` names, its
 * name, the opaque holder id (the first 12 hex digits of the SHA1 of the holder) and the milliseconds it has left.
 */
function liveEntries(fields: ReadonlyMap<string, string>, now: number, nameOf: (field: string) => string | number | undefined): (string | number)[] {
  const reply: (string | number)[] = [];
  for (const [field, value] of fields) {
    const name = nameOf(field);
    const { holder, expiresAtMs } = entryOf(value);
    if (name !== undefined && value.includes(':') && expiresAtMs > now) reply.push(name, createHash('sha1').update(holder).digest('hex').slice(0, 12), expiresAtMs - now);
  }
  return reply;
}

/** Gives the key `ttlMs` when it has less, or no TTL (a new hash): it lives as long as its longest slot. */
function lengthenTtl(keyspace: FakeKeyspace, key: string, ttlMs: number): void {
  const remainingMs = keyspace.pttl(key) ?? 0;
  if (remainingMs === Infinity || remainingMs < ttlMs) keyspace.pexpire(key, ttlMs);
}
