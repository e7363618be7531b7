import { deepStrictEqual, equal, match, ok } from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { LockAcquireError, type RedisAdapter, Redlock } from 'redlock-core';
import { isNoScriptError } from 'redlock-core/testing';
import type { AdapterFactory, AdapterHandle } from './adapter-factory.js';
import { callWithoutThrowing, equalReply, rejectionOf, serverErrorPattern, waitFor } from './assertions.js';
import { closeAll } from './close-handles.js';
import { type TestNodes, useTestCluster, useTestNodes } from './test-nodes.js';
import { HOOK_TIMEOUT_MS, TEST_TIMEOUT_MS, type TestFunctions } from './test-functions.js';

/** How long a client may take to notice that its node is gone, or to connect again once it is back. */
const RECONNECT_WITHIN_MS = 10_000;

/** Options of {@link describeAdapterContract}. */
export interface AdapterContractOptions {
  /** Names the suite in the runner's report, e.g. `'MyAdapter over a standalone client'`. */
  readonly name: string;
  /** Your runner's functions: see {@link TestFunctions}. */
  readonly test: TestFunctions;
  /** Makes the adapter under test for a node URL. */
  readonly connect: AdapterFactory;
  /**
   * Runs against a Redis Cluster: `connect` gets one master's URL and must make a cluster client, and the
   * suite adds the cluster's own checks (a lock over one hash tag, `CROSSSLOT` passed through).
   * @defaultValue `false`
   */
  readonly cluster?: boolean;
  /**
   * Nodes to run on, from {@link useTestNodes} or {@link useTestCluster} in the enclosing `describe`, to
   * share them between suites.
   * @defaultValue a node (or a 3-master cluster) of its own, started and stopped by the suite
   */
  readonly nodes?: TestNodes;
}

/**
 * Registers the adapter contract: what the core relies on from every adapter, checked on a real node.
 * Replies arrive unchanged (integer as `number`, bulk and status strings as `string`, nil as `null`,
 * nested arrays); EVALSHA of an unknown script rejects with an error the core recognises as `NOSCRIPT`;
 * keys and arguments arrive in order, keys first; concurrent calls each get their own reply; command and
 * script errors reject, never throw synchronously, with the server's message; the client stays usable;
 * when the adapter has `trySet`, it sends `SET key value NX PX ttl` and passes its reply through, and
 * likewise `setIfAbsent` with `SET key value NX PX ttl GET`;
 * when the adapter has `subscribe`, it delivers messages until the last listener unsubscribes; and, when it
 * has `connectionError`, that tells an error while the node is gone and none once it is back. All
 * keys share one hash tag, so the same checks run over a cluster client.
 *
 * @example
 * ```ts
 * import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from '@jest/globals'; // or 'vitest'
 * import { createClient } from 'redis';
 * import { describeAdapterContract } from 'redlock-adapter-test-kit';
 *
 * describeAdapterContract({
 *   name: 'MyAdapter',
 *   test: { describe, it, beforeAll, afterAll, beforeEach, afterEach },
 *   connect: async (url) => {
 *     const client = await createClient({ url }).connect();
 *     return { adapter: new MyAdapter(client), close: () => client.quit().then(() => undefined) };
 *   },
 * });
 * ```
 */
export function describeAdapterContract(options: AdapterContractOptions): void {
  const { test, connect, cluster = false } = options;
  test.describe(`${options.name}: adapter contract`, () => {
    const nodes = options.nodes ?? (cluster ? useTestCluster(test) : useTestNodes(test, 1));
    // One hash tag per run: one cluster slot, and no collision with keys left by another run.
    const hashTag = `{adapter-contract:${randomUUID()}}`;
    const key = (suffix: string): string => `${hashTag}:${suffix}`;
    const handles: AdapterHandle[] = [];
    let adapter: RedisAdapter;
    const open = async (): Promise<RedisAdapter> => {
      const handle = await connect(nodes.urls[0] as string);
      handles.push(handle);
      return handle.adapter;
    };

    test.beforeAll(async () => {
      adapter = await open();
    }, HOOK_TIMEOUT_MS);
    test.afterAll(() => closeAll(handles.splice(0)), HOOK_TIMEOUT_MS);

    const it = (name: string, body: () => Promise<void>): void => test.it(name, body, TEST_TIMEOUT_MS);

    const replies: readonly (readonly [string, string, unknown])[] = [
      ['an integer', 'return 42', 42],
      ['a negative integer', 'return -7', -7],
      ['a bulk string', "return 'hello'", 'hello'],
      // A fair lock's release and the releaser's hand-off asks answer '' for "nobody" (see redlock-core's scripts).
      ['an empty bulk string', "return ''", ''],
      ['an empty string in an array', "return {1, ''}", [1, '']],
      ['a status reply', "return redis.status_reply('OK')", 'OK'],
      ['nil as null', 'return nil', null],
      ['a nested array', "return {1, 'two', {3}}", [1, 'two', [3]]],
      ['an empty array', 'return {}', []],
    ];
    for (const [what, source, expected] of replies) {
      it(`resolves EVAL with ${what}, unchanged`, async () => {
        equalReply(await adapter.eval(source, [], []), expected);
      });
    }

    it('passes keys and arguments in order, keys first, with empty and non-ASCII strings intact', async () => {
      const keys = [key('first'), key('second'), key('third')];
      const args = ['a', '', 'zß水🙂', 'with space'];
      equalReply(await adapter.eval('return {KEYS, ARGV}', keys, args), [keys, args]);
    });

    it('passes an empty key list and an empty argument list as numkeys 0 and no arguments', async () => {
      equalReply(await adapter.eval('return {#KEYS, #ARGV}', [], []), [0, 0]);
    });

    it('rejects EVALSHA of a script the node has not cached with an error the core recognises as NOSCRIPT', async () => {
      const error = await rejectionOf(adapter.evalsha(sha1Of(uniqueScript()), [key('unknown-script')], []));
      ok(error instanceof Error, `Expected an Error, got ${String(error)}`);
      ok(isNoScriptError(error), `Expected a NOSCRIPT error, got ${JSON.stringify(error.message)}`);
    });

    it('runs a script by its SHA1 with EVALSHA once EVAL has cached it, passing keys and arguments alike', async () => {
      const source = uniqueScript('{KEYS, ARGV}');
      const keys = [key('cached-1'), key('cached-2')];
      const args = ['x', 'y'];
      ok(isNoScriptError(await rejectionOf(adapter.evalsha(sha1Of(source), keys, args))));
      equalReply(await adapter.eval(source, keys, args), [keys, args]);
      equalReply(await adapter.evalsha(sha1Of(source), keys, args), [keys, args]);
    });

    it('answers concurrent calls each with its own reply', async () => {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, index) => adapter.eval('return ARGV[1]', [key(`concurrent-${index}`)], [String(index)])),
      );
      equalReply(results, Array.from({ length: 50 }, (_, index) => String(index)));
    });

    const failures: readonly (readonly [string, string, RegExp])[] = [
      ['a command error (WRONGTYPE)', "redis.call('SET', KEYS[1], 'text'); return redis.call('LPUSH', KEYS[1], 'x')", serverErrorPattern('WRONGTYPE')],
      ['an error reply of the script', "return redis.error_reply('LOCKED by another owner')", serverErrorPattern('LOCKED', 'by another owner')],
      // GLIDE drops the ERR code of this one and keeps the text.
      ['a script that does not compile', 'return +', /ERR |Error compiling script/],
    ];
    for (const [what, source, message] of failures) {
      it(`rejects EVAL, never throwing, on ${what}, with the server's message`, async () => {
        const error = await rejectionOf(callWithoutThrowing(() => adapter.eval(source, [key('eval-error')], [])));
        ok(error instanceof Error, `Expected an Error, got ${String(error)}`);
        match(error.message, message);
        ok(!isNoScriptError(error), `A ${what} must not look like NOSCRIPT: ${error.message}`);
      });
    }

    it('rejects EVALSHA, never throwing, on a command error, with the server\'s message', async () => {
      const source = `-- ${randomUUID()}\nredis.call('SET', KEYS[1], 'text'); return redis.call('LPUSH', KEYS[1], 'x')`;
      const keys = [key('evalsha-error')];
      await rejectionOf(adapter.eval(source, keys, [])); // caches the script: it compiles, then fails when run
      const error = await rejectionOf(callWithoutThrowing(() => adapter.evalsha(sha1Of(source), keys, [])));
      ok(error instanceof Error);
      match(error.message, serverErrorPattern('WRONGTYPE'));
    });

    it('keeps the client usable after replies and errors', async () => {
      // With a key, so a cluster client sends every call to the same master, which caches the script.
      const keys = [key('usable')];
      await rejectionOf(adapter.eval("return redis.error_reply('ERR deliberate')", keys, []));
      await rejectionOf(adapter.evalsha(sha1Of(uniqueScript()), keys, []));
      equal(await adapter.eval('return 1', keys, []), 1);
      equal(await adapter.evalsha(sha1Of('return 1'), keys, []), 1);
    });

    it('has either a trySet method or none at all', async () => {
      ok(adapter.trySet === undefined || typeof adapter.trySet === 'function', `trySet is ${typeof adapter.trySet}`);
    });

    it('has either a setIfAbsent method or none at all', async () => {
      ok(adapter.setIfAbsent === undefined || typeof adapter.setIfAbsent === 'function', `setIfAbsent is ${typeof adapter.setIfAbsent}`);
    });

    // Reads a key's value and remaining TTL through the adapter, so a client's key prefix applies alike.
    const valueAndTtlOf = (name: string): Promise<unknown> =>
      adapter.eval("return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}", [name], []);

    it("sets a missing key with SET NX PX, resolving 'OK', with the value and the TTL (when it can trySet)", async () => {
      const { trySet } = adapter;
      if (trySet === undefined) return; // Checked above: the core then uses setIfAbsent, or the script.
      const name = key('try-set-missing');
      equal(await trySet.call(adapter, name, 'token-1', 60_000), 'OK');
      const [value, ttlMs] = (await valueAndTtlOf(name)) as [unknown, number];
      equal(value, 'token-1');
      ok(ttlMs > 59_000 && ttlMs <= 60_000, `Expected a TTL of about 60,000 ms, got ${ttlMs}`);
    });

    it('resolves null for a key that exists, of any type, leaving it and its TTL unchanged (when it can trySet)', async () => {
      const { trySet } = adapter;
      if (trySet === undefined) return;
      const name = key('try-set-existing');
      const list = key('try-set-list');
      await adapter.eval("return redis.call('SET', KEYS[1], ARGV[1], 'PX', 30000)", [name], ['owner-zß水']);
      await adapter.eval("return redis.call('RPUSH', KEYS[1], 'x')", [list], []);
      equal(await trySet.call(adapter, name, 'token-2', 60_000), null);
      equal(await trySet.call(adapter, list, 'token-2', 60_000), null);
      const [value, ttlMs] = (await valueAndTtlOf(name)) as [unknown, number];
      equal(value, 'owner-zß水');
      ok(ttlMs > 29_000 && ttlMs <= 30_000, `Expected the TTL of about 30,000 ms to be kept, got ${ttlMs}`);
      equal(await adapter.eval("return redis.call('TYPE', KEYS[1])['ok']", [list], []), 'list');
    });

    it('sets a missing key with SET NX PX GET, resolving null, with the value and the TTL (when it can set)', async () => {
      const { setIfAbsent } = adapter;
      if (setIfAbsent === undefined) return; // Checked above: the core then takes every lock by script.
      const name = key('set-missing');
      equal(await setIfAbsent.call(adapter, name, 'token-1', 60_000), null);
      const [value, ttlMs] = (await valueAndTtlOf(name)) as [unknown, number];
      equal(value, 'token-1');
      ok(ttlMs > 59_000 && ttlMs <= 60_000, `Expected a TTL of about 60,000 ms, got ${ttlMs}`);
    });

    it('resolves with the value of a key that exists, leaving the key and its TTL unchanged (when it can set)', async () => {
      const { setIfAbsent } = adapter;
      if (setIfAbsent === undefined) return;
      const name = key('set-existing');
      await adapter.eval("return redis.call('SET', KEYS[1], ARGV[1], 'PX', 30000)", [name], ['owner-zß水']);
      equal(await setIfAbsent.call(adapter, name, 'token-2', 60_000), 'owner-zß水');
      const [value, ttlMs] = (await valueAndTtlOf(name)) as [unknown, number];
      equal(value, 'owner-zß水');
      ok(ttlMs > 29_000 && ttlMs <= 30_000, `Expected the TTL of about 30,000 ms to be kept, got ${ttlMs}`);
    });

    it('rejects, never throwing, with the server\'s WRONGTYPE error on a key of another type (when it can set)', async () => {
      const { setIfAbsent } = adapter;
      if (setIfAbsent === undefined) return;
      const name = key('set-wrong-type');
      await adapter.eval("return redis.call('RPUSH', KEYS[1], 'x')", [name], []);
      const error = await rejectionOf(callWithoutThrowing(() => setIfAbsent.call(adapter, name, 'token-3', 60_000)));
      ok(error instanceof Error, `Expected an Error, got ${String(error)}`);
      match(error.message, serverErrorPattern('WRONGTYPE'));
    });

    it('has either a subscribe method or none at all', async () => {
      ok(adapter.subscribe === undefined || typeof adapter.subscribe === 'function', `subscribe is ${typeof adapter.subscribe}`);
    });

    it('delivers messages to every listener while subscribed, and stops after the last unsubscribes (when it can subscribe)', async () => {
      const { subscribe } = adapter;
      if (subscribe === undefined) return; // Checked by the test above: no subscribe capability at all.
      const channel = `redlock:wake:${key('channel')}`;
      const control = `redlock:wake:${key('control')}`;
      const publish = (name: string): Promise<unknown> => nodes.command(0, ['PUBLISH', name, '1']);
      const received: string[] = [];
      const controlled: string[] = [];
      const first = await subscribe.call(adapter, channel, () => received.push('first'));
      const second = await subscribe.call(adapter, channel, () => received.push('second'));
      const stopControl = await subscribe.call(adapter, control, () => controlled.push('control'));
      try {
        // Resolved means subscribed: a message published now is delivered, with no wait before it.
        await publish(channel);
        await waitFor(() => received.length === 2, 'both listeners to receive the message');
        deepStrictEqual(received.sort(), ['first', 'second']);

        await first();
        await first(); // a second call is a no-op
        await publish(channel);
        await waitFor(() => received.length === 3, 'the remaining listener to receive the message');
        equal(received[2], 'second');

        await second();
        // Messages arrive in order on one connection: once the control channel's arrives, one on the
        // unsubscribed channel would have arrived before it.
        await publish(channel);
        await publish(control);
        await waitFor(() => controlled.length === 1, 'the control message');
        equal(received.length, 3, 'a message arrived after the last listener unsubscribed');
      } finally {
        await stopControl();
      }
      equal(await adapter.eval('return 1', [], []), 1);
    });

    it('subscribes the same callback twice as two listeners, each ended by its own unsubscribe (when it can subscribe)', async () => {
      const { subscribe } = adapter;
      if (subscribe === undefined) return;
      const channel = `redlock:wake:${key('twice')}`;
      let count = 0;
      const onMessage = (): void => {
        count += 1;
      };
      const one = await subscribe.call(adapter, channel, onMessage);
      const two = await subscribe.call(adapter, channel, onMessage);
      await nodes.command(0, ['PUBLISH', channel, '1']);
      await waitFor(() => count === 2, 'two deliveries to the callback subscribed twice');
      await one();
      await nodes.command(0, ['PUBLISH', channel, '1']);
      await waitFor(() => count === 3, 'one delivery after one unsubscribe');
      await two();
    });

    it('leaves no connection of its own on the node once close() resolved, after subscribing (when it can subscribe)', async () => {
      // A cluster client subscribes on a connection it keeps itself, which is the user's to close.
      if (cluster) return;
      const fresh = await open();
      const { subscribe } = fresh;
      if (subscribe === undefined) return;
      const connectionCount = async (): Promise<number> => String(await nodes.command(0, ['CLIENT', 'LIST'])).trim().split('\n').length;
      // With the adapter's client connected, and this suite's own connections; the count itself is one of them.
      const before = await connectionCount();
      const unsubscribe = await subscribe.call(fresh, `redlock:wake:${key('close')}`, () => undefined);
      await unsubscribe();
      await fresh.close?.();
      // What the adapter opened for its subscriptions (a connection of its own) is closed once close() resolved;
      // the server may take a moment to drop it from CLIENT LIST.
      let count = await connectionCount();
      for (let tries = 0; tries < 100 && count > before; tries += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        count = await connectionCount();
      }
      ok(count <= before, `${count - before} connection(s) opened for notifications still open 2 s after close() resolved`);
      equal(await fresh.eval('return 1', [], []), 1, 'close() left the client usable: it is the user\'s');
    });

    it('has either a connectionError method or none at all', async () => {
      ok(adapter.connectionError === undefined || typeof adapter.connectionError === 'function');
    });

    it('tells no connection error while connected, one while its node is gone, and none once it is back (when it can tell)', async () => {
      const { connectionError } = adapter;
      if (connectionError === undefined) return;
      equal(connectionError.call(adapter), undefined);
      if (cluster || !nodes.canInjectFaults) return;
      const node = nodes.nodes[0];
      if (node === undefined) return;
      await node.kill();
      try {
        await waitFor(() => connectionError.call(adapter) !== undefined, 'a connection error once the node was killed', RECONNECT_WITHIN_MS);
        ok(connectionError.call(adapter) instanceof Error, 'a connection error is an Error');
      } finally {
        await node.start();
      }
      await waitFor(() => connectionError.call(adapter) === undefined, 'no connection error once the node was back', RECONNECT_WITHIN_MS);
      equal(await adapter.eval('return 1', [], []), 1);
    });

    if (cluster) {
      it('rejects a call over keys of two hash slots with the CROSSSLOT error of the server', async () => {
        const error = await rejectionOf(adapter.eval('return 1', ['{slot-a}:x', '{slot-b}:y'], []));
        ok(error instanceof Error);
        // GLIDE names the error by its kind: `- CrossSlot: Keys in request don't hash to the same slot`.
        match(error.message, /CROSSSLOT|CrossSlot/);
      });

      it('runs Redlock with the cluster as one node: acquire, refuse a second owner, extend, release', async () => {
        const redlock = new Redlock([adapter], { keyPrefix: `${hashTag}:`, retryCount: 0, nodeTimeoutMs: 2_000 });
        const other = new Redlock([await open()], { keyPrefix: `${hashTag}:`, retryCount: 0, nodeTimeoutMs: 2_000 });
        const lock = await redlock.acquire(['order:items', 'order:payment'], 10_000);
        const refusal = await rejectionOf(other.acquire('order:payment', 10_000));
        ok(refusal instanceof LockAcquireError, String(refusal));
        equal(refusal.reason, 'held-by-another-owner');
        await lock.extend(20_000);
        ok(lock.remainingValidityMs > 10_000);
        equal((await lock.release()).releasedCount, 1);
        const next = await other.acquire('order:payment', 10_000);
        await next.release();
      });
    }
  });
}

/** A script no node has seen yet, so its SHA1 is unknown everywhere. */
function uniqueScript(returned = "'ok'"): string {
  return `-- ${randomUUID()}\nreturn ${returned}`;
}

function sha1Of(source: string): string {
  return createHash('sha1').update(source).digest('hex');
}

