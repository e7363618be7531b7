import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Contender, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/** Compare-and-delete: the one script the floor needs, loaded on every node before timing. */
export const FLOOR_RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** The three commands the floor sends to one node, through whichever client reaches it. */
export interface FloorNode {
  /** `SCRIPT LOAD source`, resolving with the SHA1. */
  loadScript(source: string): Promise<string>;
  /** `SET resource token PX ttlMs NX`, resolving `true` when the node granted it. */
  setIfAbsent(resource: string, token: string, ttlMs: number): Promise<boolean>;
  /** `EVALSHA sha1 1 resource token`. */
  evalsha(sha1: string, resource: string, token: string): Promise<unknown>;
}

/**
 * The least work a Redlock acquire+release can physically do, over any client: SET NX PX on every node in
 * parallel, then EVALSHA of a pre-loaded compare-and-delete on every node in parallel, each deciding the
 * moment a quorum answered (3 of 5). No validity check, no timeouts, no error objects, no random token
 * per call (a random per-process prefix and a counter). Under contention it removes its partial keys and
 * retries every 50 ms for up to 10 s, whatever the retry policy: it has no defaults of its own to honour.
 */
export async function floorLock(nodes: readonly FloorNode[]): Promise<Contender> {
  const quorum = Math.floor(nodes.length / 2) + 1;
  const releaseSha = await loadEverywhere(nodes, FLOOR_RELEASE_SCRIPT, quorum);
  const tokenPrefix = randomBytes(8).toString('hex');
  let counter = 0;

  const release = (resource: string, token: string): Promise<boolean> =>
    decideAtQuorum(
      nodes.map((node) => node.evalsha(releaseSha, resource, token).then(() => true, () => false)),
      quorum,
    );

  return {
    async acquire(resource) {
      for (let retry = 0; ; retry += 1) {
        const token = `${tokenPrefix}:${(counter += 1)}`;
        const grants = nodes.map((node) => node.setIfAbsent(resource, token, LOCK_TTL_MS).catch(() => false));
        if (await decideAtQuorum(grants, quorum)) {
          return async () => {
            await release(resource, token);
          };
        }
        // Remove the keys we did set, node by node, before trying again.
        const granted = await Promise.all(grants);
        await Promise.all(nodes.map((node, index) => granted[index] && node.evalsha(releaseSha, resource, token).catch(() => 0)));
        if (retry === TUNED_RETRY.retryCount) throw new Error(`floor: gave up on ${resource}`);
        await sleep(TUNED_RETRY.retryDelayMs);
      }
    },
  };
}

/** Resolves `true` once `quorum` answers are `true`, `false` once that has become impossible. */
function decideAtQuorum(answers: readonly Promise<boolean>[], quorum: number): Promise<boolean> {
  return new Promise((resolve) => {
    let yes = 0;
    let no = 0;
    for (const answer of answers) {
      void answer.then((isYes) => {
        if (isYes) yes += 1;
        else no += 1;
        if (yes === quorum) resolve(true);
        else if (no === answers.length - quorum + 1) resolve(false);
      });
    }
  });
}

/**
 * Loads `source` on every node and resolves with its SHA1 once a quorum has it: a node that never answers
 * (S6's black-holed nodes) must not hold up the floor, which never needs its vote either. Each node's
 * later EVALSHA goes out on the connection that carried its SCRIPT LOAD, so it finds the script there.
 */
function loadEverywhere(nodes: readonly FloorNode[], source: string, quorum: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let loaded = 0;
    let failed = 0;
    for (const node of nodes) {
      node.loadScript(source).then(
        (sha) => {
          loaded += 1;
          if (loaded === quorum) resolve(sha);
        },
        (error: unknown) => {
          failed += 1;
          if (failed === nodes.length - quorum + 1) reject(error);
        },
      );
    }
  });
}

/**
 * One node of the floor over a client that sends raw commands (`['SET', …]`), as our node-redis and GLIDE
 * adapters send theirs: the least a command costs through such a client.
 */
export function rawCommandFloorNode(send: (args: string[]) => Promise<unknown>): FloorNode {
  return {
    loadScript: async (source) => String(await send(['SCRIPT', 'LOAD', source])),
    setIfAbsent: async (resource, token, ttlMs) => String(await send(['SET', resource, token, 'PX', String(ttlMs), 'NX'])) === 'OK',
    evalsha: (sha1, resource, token) => send(['EVALSHA', sha1, '1', resource, token]),
  };
}
