import { createHash, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { RedisAdapter } from 'redlock-core';

/** An adapter to check, over a client connected to a real node or cluster. */
export interface AdapterUnderTest {
  readonly adapter: RedisAdapter;
  /** Sends PING through the wrapped client itself, not the adapter, to show that the client is still open. */
  ping(): Promise<unknown>;
}

/**
 * Checks that an adapter maps EVALSHA and EVAL onto its client and adds nothing: replies and errors
 * arrive unchanged (NOSCRIPT included, which the core's fallback to EVAL depends on), keys and arguments
 * arrive in order, nothing throws synchronously, and the client stays open. Every key the suite uses
 * shares one hash tag, so it runs unchanged over a Redis Cluster client. Any new adapter runs it as is.
 *
 * @param makeAdapter - Called once, in `beforeAll`, after the nodes are started.
 */
export function describeAdapterContract(
  name: string,
  makeAdapter: () => AdapterUnderTest | Promise<AdapterUnderTest>,
): void {
  describe(`${name}: adapter contract`, () => {
    // One hash tag per run: one cluster slot, and no collision with keys left by another run.
    const hashTag = `{adapter-contract:${randomUUID()}}`;
    const key = (suffix: string): string => `${hashTag}:${suffix}`;
    let subject: AdapterUnderTest;
    let adapter: RedisAdapter;

    beforeAll(async () => {
      subject = await makeAdapter();
      adapter = subject.adapter;
    });

    it.each([
      ['an integer', 'return 42', 42],
      ['a negative integer', 'return -7', -7],
      ['a bulk string', "return 'hello'", 'hello'],
      ['a status reply', "return redis.status_reply('OK')", 'OK'],
      ['nil as null', 'return nil', null],
      ['Lua false as null', 'return false', null],
      ['a nested array', "return {1, 'two', {3}}", [1, 'two', [3]]],
      ['an empty array', 'return {}', []],
    ])('resolves EVAL with %s, unchanged', async (_, source, expected) => {
      await expect(adapter.eval(source, [], [])).resolves.toEqual(expected);
    });

    it('passes keys and arguments in order, keys first, with empty and non-ASCII strings intact', async () => {
      const keys = [key('first'), key('second'), key('third')];
      const args = ['a', '', 'zß水🙂', 'with space'];
      await expect(adapter.eval('return {KEYS, ARGV}', keys, args)).resolves.toEqual([keys, args]);
    });

    it('passes an empty key list and an empty argument list as numkeys 0 and no arguments', async () => {
      await expect(adapter.eval('return {#KEYS, #ARGV}', [], [])).resolves.toEqual([0, 0]);
    });

    it('rejects EVALSHA of a script the node has not cached with its NOSCRIPT error, unchanged', async () => {
      const error = await rejectionOf(adapter.evalsha(sha1Of(uniqueScript()), [key('unknown-script')], []));
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/^NOSCRIPT /);
    });

    it('runs a script by its SHA1 with EVALSHA once EVAL has cached it, passing keys and arguments alike', async () => {
      const source = uniqueScript('{KEYS, ARGV}');
      const keys = [key('cached-1'), key('cached-2')];
      const args = ['x', 'y'];
      await expect(adapter.evalsha(sha1Of(source), keys, args)).rejects.toThrow(/^NOSCRIPT /);
      await expect(adapter.eval(source, keys, args)).resolves.toEqual([keys, args]);
      await expect(adapter.evalsha(sha1Of(source), keys, args)).resolves.toEqual([keys, args]);
    });

    it('answers concurrent calls each with its own reply', async () => {
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, index) => adapter.eval('return ARGV[1]', [key(`concurrent-${index}`)], [String(index)])),
      );
      expect(replies).toEqual(Array.from({ length: 50 }, (_, index) => String(index)));
    });

    it.each([
      ['a command error (WRONGTYPE)', "redis.call('SET', KEYS[1], 'text'); return redis.call('LPUSH', KEYS[1], 'x')", /^WRONGTYPE /],
      ['an error reply of the script', "return redis.error_reply('LOCKED by another owner')", /^LOCKED by another owner$/],
      ['a script that does not compile', 'return +', /^ERR /],
    ])('rejects EVAL, never throwing, on %s, with the message unchanged', async (_, source, message) => {
      const error = await rejectionOf(callWithoutThrowing(() => adapter.eval(source, [key('eval-error')], [])));
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(message);
    });

    it('rejects EVALSHA, never throwing, on a command error, with the message unchanged', async () => {
      const source = `-- ${randomUUID()}\nredis.call('SET', KEYS[1], 'text'); return redis.call('LPUSH', KEYS[1], 'x')`;
      const keys = [key('evalsha-error')];
      await rejectionOf(adapter.eval(source, keys, [])); // caches the script: it compiles, then fails when run
      const error = await rejectionOf(callWithoutThrowing(() => adapter.evalsha(sha1Of(source), keys, [])));
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/^WRONGTYPE /);
    });

    it('leaves the client open after replies and errors', async () => {
      await rejectionOf(adapter.eval("return redis.error_reply('ERR deliberate')", [], []));
      await adapter.eval('return 1', [], []);
      await expect(subject.ping()).resolves.toBe('PONG');
    });
  });
}

/** A script no node has seen yet, so its SHA1 is unknown everywhere. */
function uniqueScript(returned = "'ok'"): string {
  return `-- ${randomUUID()}\nreturn ${returned}`;
}

function sha1Of(source: string): string {
  return createHash('sha1').update(source).digest('hex');
}

/** Calls `call`, failing the test if it throws synchronously instead of returning a promise. */
function callWithoutThrowing(call: () => Promise<unknown>): Promise<unknown> {
  let pending: Promise<unknown> | undefined;
  expect(() => {
    pending = call();
  }).not.toThrow();
  return pending ?? Promise.resolve();
}

/** Resolves with the rejection reason of `promise`; fails the test if it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected the call to reject, but it resolved');
}
