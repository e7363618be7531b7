import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { type ContenderDefinition, LOCK_TTL_MS, TUNED_RETRY } from './contender.js';

/** Compare-and-delete: the one script the floor needs, loaded on every node before timing. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * The least work a Redlock acquire+release can physically do, as the yardstick for everyone else:
 * SET NX PX on every node in parallel, then EVALSHA of a pre-loaded compare-and-delete on every node in
 * parallel, each deciding the moment a quorum answered (3 of 5), with ioredis. No validity check, no
 * timeouts, no error objects, no random token per call (a random per-process prefix and a counter).
 * Under contention it removes its partial keys and retries every 50 ms for up to 10 s, whatever the
 * retry policy: it has no defaults of its own to honour.
 */
export const floor: ContenderDefinition = {
  name: 'floor',
  kind: 'floor',
  packageName: 'ioredis SET NX PX + compare-and-delete',
  async create({ clients }) {
    const quorum = Math.floor(clients.length / 2) + 1;
    const releaseSha = await loadEverywhere(clients, RELEASE_SCRIPT, quorum);
    const tokenPrefix = randomBytes(8).toString('hex');
    let counter = 0;

    const release = (resource: string, token: string): Promise<boolean> =>
      decideAtQuorum(
        clients.map((client) => client.evalsha(releaseSha, 1, resource, token).then(() => true, () => false)),
        quorum,
      );

    return {
      async acquire(resource) {
        for (let retry = 0; ; retry += 1) {
          const token = `${tokenPrefix}:${(counter += 1)}`;
          const grants = clients.map((client) =>
            client.set(resource, token, 'PX', LOCK_TTL_MS, 'NX').then((reply) => reply === 'OK', () => false),
          );
          if (await decideAtQuorum(grants, quorum)) {
            return async () => {
              await release(resource, token);
            };
          }
          // Remove the keys we did set, node by node, before trying again.
          const granted = await Promise.all(grants);
          await Promise.all(
            clients.map((client, index) => granted[index] && client.evalsha(releaseSha, 1, resource, token).catch(() => 0)),
          );
          if (retry === TUNED_RETRY.retryCount) throw new Error(`floor: gave up on ${resource}`);
          await sleep(TUNED_RETRY.retryDelayMs);
        }
      },
    };
  },
};

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
function loadEverywhere(clients: readonly Redis[], source: string, quorum: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let loaded = 0;
    let failed = 0;
    for (const client of clients) {
      (client.script('LOAD', source) as Promise<string>).then(
        (sha) => {
          loaded += 1;
          if (loaded === quorum) resolve(sha);
        },
        (error: unknown) => {
          failed += 1;
          if (failed === clients.length - quorum + 1) reject(error);
        },
      );
    }
  });
}
