import type { Redis } from 'ioredis';
import { eventually } from './eventually.js';

/** The names of the connections a node lists in `CLIENT LIST`, read through `admin`. */
export async function connectionNamesOn(admin: Redis): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list
    .split('\n')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name !== '');
}

/** How many connections of the node `admin` reaches are subscribed to `channel`. */
export async function subscriberCountOf(admin: Redis, channel: string): Promise<number> {
  const reply = (await admin.pubsub('NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

/** Waits until `count` connections are subscribed to `channel` (at most `limitMs`), and resolves with the last count read. */
export function subscribersOf(admin: Redis, channel: string, count: number, limitMs = 10_000): Promise<number> {
  return eventually(() => subscriberCountOf(admin, channel), (read) => read === count, limitMs);
}

/** Resolves like `promise`, or rejects with `message` if it takes longer than `timeoutMs`. */
export async function within<T>(timeoutMs: number, promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
