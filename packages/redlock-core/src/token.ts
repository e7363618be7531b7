import { nanoid } from 'nanoid';

/**
 * Creates the random value that identifies one owner on every node: 21 URL-safe characters from a
 * cryptographic source, 126 bits, so no two attempts anywhere ever share a token.
 */
export function createLockToken(): string {
  return nanoid();
}
