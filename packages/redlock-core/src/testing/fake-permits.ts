// The semantics of a semaphore's three scripts (scripts/permit-*.ts) on a fake server, where the layout is
// written: one hash at the resource key, field `limit`, and `<slot>` = `<expiry on the server's clock>:<token>`.
import { createHash } from 'node:crypto';
import type { FakeKeyspace } from './fake-keyspace.js';

/** The names of the permit scripts, as the fake knows them. */
export type PermitScriptName = 'permit-acquire' | 'permit-extend' | 'permit-release' | 'permit-inspect';

/** Runs one permit script atomically on `keyspace`, as its Lua source does. */
export function runPermitScript(keyspace: FakeKeyspace, script: PermitScriptName, keys: readonly string[], args: readonly string[]): unknown {
  const key = keys[0] as string;
  const [token = ''] = args;
  const type = keyspace.typeOf(key);
  const slots = keyspace.hashOf(key);
  const now = Math.floor(keyspace.now());
  /** A slot's holder and expiry, from its field. */
  const slotOf = (value: string): { readonly token: string; readonly expiresAtMs: number } => {
    const colon = value.indexOf(':');
    return { token: value.slice(colon + 1), expiresAtMs: Number(value.slice(0, colon)) };
  };
  switch (script) {
    case 'permit-acquire': {
      const [, ttlArg, permitsArg, limitArg, graceArg, firstArg, ...explicit] = args;
      const [ttlMs, permits, limit, graceMs, first] = [ttlArg, permitsArg, limitArg, graceArg, firstArg].map(Number) as [number, number, number, number, number];
      if (type !== 'none' && type !== 'hash') return -2;
      if (slots !== undefined) {
        const recorded = slots.get('limit');
        if (recorded === undefined) return -2;
        if (Number(recorded) !== limit) return [-3, Number(recorded)];
      }
      /** By slot: ours, free (missing or expired), or another holder's (absent). */
      const stateOf = new Map<number, 'ours' | 'free'>();
      for (let slot = 1; slot <= limit; slot += 1) {
        const value = slots?.get(String(slot));
        if (value === undefined || (slotOf(value).token !== token && slotOf(value).expiresAtMs <= now)) stateOf.set(slot, 'free');
        else if (slotOf(value).token === token) stateOf.set(slot, 'ours');
      }
      const ours = [...stateOf].filter(([, state]) => state === 'ours').map(([slot]) => slot);
      const freeSlots = (except: readonly number[]): number[] => [...stateOf].filter(([slot, state]) => state === 'free' && !except.includes(slot)).map(([slot]) => slot);
      let wanted: number[];
      if (first > 0 && ours.length > 0) wanted = ours;
      else {
        wanted =
          first > 0
            ? Array.from({ length: limit }, (_, step) => ((first - 1 + step) % limit) + 1).filter((slot) => stateOf.get(slot) === 'free').slice(0, permits)
            : explicit.map(Number).filter((slot) => stateOf.has(slot));
        if (wanted.length < permits) return [0, ...freeSlots([])];
        // Redis reports uptime in whole seconds, rounded down.
        if (graceMs > 0 && Math.floor(keyspace.uptimeMs / 1000) * 1000 < graceMs) return -1;
        const fields = slots ?? new Map<string, string>();
        fields.set('limit', String(limit));
        for (const slot of wanted) fields.set(String(slot), `${now + ttlMs}:${token}`);
        for (const slot of ours) {
          if (wanted.includes(slot)) continue;
          fields.delete(String(slot));
          stateOf.set(slot, 'free');
        }
        if (slots === undefined) keyspace.createHash(key, fields);
        lengthenTtl(keyspace, key, ttlMs);
      }
      return [1, wanted.length, ...wanted, ...freeSlots(wanted)];
    }
    case 'permit-extend': {
      const ttlMs = Number(args[1]);
      const held = args.slice(2);
      if (slots === undefined) return 0;
      for (const slot of held) {
        const value = slots.get(slot);
        if (value === undefined || slotOf(value).token !== token || slotOf(value).expiresAtMs <= now) return 0;
      }
      for (const slot of held) slots.set(slot, `${now + ttlMs}:${token}`);
      lengthenTtl(keyspace, key, ttlMs);
      return 1;
    }
    case 'permit-inspect': {
      if (type === 'none') return 0;
      const limit = slots?.get('limit');
      if (limit === undefined) return -2;
      const taken: (number | string)[] = [];
      for (const [field, value] of slots ?? []) {
        const remainingMs = slotOf(value).expiresAtMs - now;
        if (field !== 'limit' && remainingMs > 0) taken.push(Number(field), createHash('sha1').update(slotOf(value).token).digest('hex').slice(0, 12), remainingMs);
      }
      return [Number(limit), ...taken];
    }
    case 'permit-release': {
      const kept = new Set(args.slice(1));
      let freed = 0;
      for (const [field, value] of slots ?? []) {
        if (field !== 'limit' && !kept.has(field) && slotOf(value).token === token) {
          slots?.delete(field);
          freed += 1;
        }
      }
      if (freed > 0 && slots?.size === 1) keyspace.delete(key);
      return freed > 0 ? 1 : 0;
    }
  }
}

/** Gives the key `ttlMs` when it has less, or no TTL (a new hash): it lives as long as its longest slot. */
function lengthenTtl(keyspace: FakeKeyspace, key: string, ttlMs: number): void {
  const remainingMs = keyspace.pttl(key) ?? 0;
  if (remainingMs === Infinity || remainingMs < ttlMs) keyspace.pexpire(key, ttlMs);
}
