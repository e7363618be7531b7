// Where a Redis Cluster puts a key: its hash slot, for the keys that must share their lock key's slot (a
// label key), when no hash tag can say it.

/** How many hash slots a Redis Cluster has. */
const SLOT_COUNT = 16_384;

/** The CRC16 (XMODEM: polynomial 0x1021, initial value 0) of each byte value, as Redis Cluster computes it. */
const CRC16_TABLE = Array.from({ length: 256 }, (_, byte) => {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit += 1) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  return crc;
});

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (CRC16_TABLE[((crc >> 8) ^ byte) & 0xff] as number);
  return crc;
}

/**
 * The hash tag of `key`: what lies between its first `{` and the first `}` after it, when that is not empty
 * (Redis Cluster then hashes only that), else `undefined` (the whole key is hashed).
 */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/** The hash slot of `key` in a Redis Cluster: the CRC16 of its hash tag (or of the whole key) modulo 16,384. */
export function clusterSlotOf(key: string): number {
  return crc16(new TextEncoder().encode(hashTagOf(key) ?? key)) % SLOT_COUNT;
}

/** The tag found for each slot so far (see {@link slotTagOf}). */
const slotTags = new Map<number, string>();

/**
 * The smallest decimal number whose hash slot is `slot`: a hash tag that puts a key in that slot, for a
 * key that must share the slot of one that no tag can name (a key hashed whole that contains a `}`). The
 * same everywhere, so every client finds the same key. A search of some 16,000 short hashes on first use
 * of a slot (about a millisecond), remembered for the next.
 */
export function slotTagOf(slot: number): string {
  const known = slotTags.get(slot);
  if (known !== undefined) return known;
  const encoder = new TextEncoder();
  for (let candidate = 0; ; candidate += 1) {
    const tag = String(candidate);
    if (crc16(encoder.encode(tag)) % SLOT_COUNT === slot) {
      slotTags.set(slot, tag);
      return tag;
    }
  }
}
