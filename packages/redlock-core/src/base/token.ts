/** The length of a lock token, in characters: 21 of base64url's 64, 126 random bits. */
export const TOKEN_LENGTH = 21;

/**
 * Random bytes drawn at a time: 3,072 bytes make 4,096 base64url characters without padding, 195 tokens.
 * Drawing and encoding them in bulk costs each token a slice of a string, where a token built a character
 * at a time (nanoid) cost some 3,000 CPU instructions, 6% of the core's work per acquire+release
 * (bench/RESULTS.md).
 */
const POOL_BYTES = 3 * 1_024;

const pool = Buffer.allocUnsafe(POOL_BYTES);
/** Random base64url characters, of which those from {@link offset} on are not handed out yet. */
let characters = '';
let offset = 0;
/** Fills the pool with random bytes: the operating system's cryptographic source unless {@link setTokenSource} replaced it. */
let fillPool = (bytes: Buffer): void => {
  // Web Crypto's global rather than node:crypto's randomFillSync (the same source): Node loads it at the
  // first token, where importing node:crypto cost every process that loads the package some 3 ms.
  globalThis.crypto.getRandomValues(bytes);
};
const cryptographicFill = fillPool;

/**
 * Creates the random value that identifies one owner on every node: 21 URL-safe characters (`A-Z`,
 * `a-z`, `0-9`, `-`, `_`) from the operating system's cryptographic source, 126 bits, so no two
 * attempts anywhere ever share a token. No character is handed out twice.
 */
export function createLockToken(): string {
  if (offset + TOKEN_LENGTH > characters.length) {
    fillPool(pool);
    characters = pool.toString('base64url');
    offset = 0;
  }
  const token = characters.slice(offset, offset + TOKEN_LENGTH);
  offset += TOKEN_LENGTH;
  return token;
}

/**
 * Makes every later token from `fill` (none: the cryptographic source again), with nothing left over from
 * before: for a seeded simulation, whose tokens and wake ids must replay with its seed. Never for locks that
 * protect anything: a guessable token lets anyone release or extend the lock. Not exported from the package.
 */
export function setTokenSource(fill?: (bytes: Uint8Array) => void): void {
  fillPool = fill ?? cryptographicFill;
  characters = '';
  offset = 0;
}
