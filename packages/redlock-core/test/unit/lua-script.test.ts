import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import type { RedisAdapter } from '../../src/index.js';
import { acquireScript, parseAcquireReply } from '../../src/scripts/acquire.js';
import { extendScript, parseExtendReply } from '../../src/scripts/extend.js';
import { parseFenceReply } from '../../src/scripts/fence.js';
import { parseInspectReply } from '../../src/scripts/inspect.js';
import { definedScripts, runScript, unexpectedReply } from '../../src/scripts/lua-script.js';
import { parseReleaseReply, releaseScript } from '../../src/scripts/release.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeNode } from '../../src/testing/fake-adapter.js';
import { grantingNode, keysOf } from '../../src/testing/fake-nodes.js';

describe('defineScript', () => {
  it('gives every script the SHA1 of its source, as SCRIPT LOAD answers', async () => {
    // Every module of src/scripts, so that a script no other test loads is checked too.
    const files = readdirSync(new URL('../../src/scripts/', import.meta.url)).filter((file) => file.endsWith('.ts'));
    for (const file of files) await import(`../../src/scripts/${file.replace(/\.ts$/, '.js')}`);
    const written = definedScripts.map(({ name, sha1 }) => `${name} ${sha1}`);
    // On a failure, the SHA1 to write beside the script's source is the one this side shows.
    const hashed = definedScripts.map(({ name, source }) => `${name} ${createHash('sha1').update(source).digest('hex')}`);
    expect(written).toEqual(hashed);
    expect(written.length).toBeGreaterThanOrEqual(14);
  });

  it('gives every script a distinct SHA1', () => {
    const scripts = definedScripts;
    expect(new Set(scripts.map((script) => script.sha1)).size).toBe(scripts.length);
  });
});

describe('runScript', () => {
  it('sends EVAL, with the source, to a node not known to have the script, and EVALSHA from then on', async () => {
    const node = grantingNode(new FakeClock());
    expect(await runScript(node, acquireScript, ['k'], ['token', '1000'])).toBe(1);
    expect(await runScript(node, releaseScript, ['k'], ['token'])).toBe(1);
    expect(await runScript(node, acquireScript, ['k'], ['token', '1000'])).toBe(1);
    expect(node.calls.map((call) => `${call.method} ${call.script}`)).toEqual(['eval acquire', 'eval release', 'evalsha acquire']);
  });

  it('caches what it learnt per node: another node starts with EVAL again', async () => {
    const clock = new FakeClock();
    const [first, second] = [grantingNode(clock), grantingNode(clock)];
    await runScript(first, acquireScript, ['k'], ['token', '1000']);
    await runScript(second, acquireScript, ['k'], ['token', '1000']);
    expect([first, second].map((node) => node.calls.map((call) => call.method))).toEqual([['eval'], ['eval']]);
  });

  it('after NOSCRIPT, runs the script by EVAL, tells onNoScript, and sends every other script there by EVAL at once', async () => {
    const node = grantingNode(new FakeClock());
    await runScript(node, acquireScript, ['k'], ['token', '1000']);
    await runScript(node, releaseScript, ['k'], ['token']);
    node.keyspace.flushScripts();
    let noScripts = 0;
    expect(await runScript(node, acquireScript, ['k'], ['token', '1000'], () => (noScripts += 1))).toBe(1);
    expect(noScripts).toBe(1);
    // The node lost its whole cache: the release does not try EVALSHA first.
    expect(await runScript(node, releaseScript, ['k'], ['token'])).toBe(1);
    expect(await runScript(node, acquireScript, ['k'], ['token', '1000'])).toBe(1);
    expect(node.calls.slice(2).map((call) => `${call.method} ${call.script}`)).toEqual([
      'evalsha acquire',
      'eval acquire',
      'eval release',
      'evalsha acquire',
    ]);
  });

  it('sends EVAL with the full source and the same keys and arguments', async () => {
    const sent: unknown[][] = [];
    const adapter: RedisAdapter = {
      evalsha: async () => {
        throw new Error('NOSCRIPT No matching script. Please use EVAL.');
      },
      eval: async (...args) => {
        sent.push(args);
        return 1;
      },
    };
    await runScript(adapter, extendScript, ['a', 'b'], ['token', '500']);
    expect(sent).toEqual([[extendScript.source, ['a', 'b'], ['token', '500']]]);
  });

  it('rethrows any other error unchanged, without sending EVAL', async () => {
    const node = grantingNode(new FakeClock());
    await runScript(node, acquireScript, ['warm'], ['token', '1000']);
    const error = new Error('ERR something else');
    node.errorReply = error;
    await expect(runScript(node, acquireScript, ['k'], ['token', '1000'])).rejects.toBe(error);
    expect(node.calls.map((call) => call.method)).toEqual(['eval', 'evalsha']);
  });

  it('does not count a script as cached when its EVAL failed', async () => {
    const node = grantingNode(new FakeClock());
    node.failNext('acquire', new Error('ERR first call failed'));
    await expect(runScript(node, acquireScript, ['k'], ['token', '1000'])).rejects.toThrow('ERR first call failed');
    await runScript(node, acquireScript, ['k'], ['token', '1000']);
    expect(node.calls.map((call) => call.method)).toEqual(['eval', 'eval']);
  });

  /** A fake node whose client reports NOSCRIPT the way `wrap` says, as other clients do. */
  const rewordingNoScript = (wrap: (message: string) => unknown): { node: FakeNode; adapter: RedisAdapter } => {
    const node = new FakeNode(new FakeClock());
    return {
      node,
      adapter: {
        evalsha: (sha1, keys, args) => node.evalsha(sha1, keys, args).catch((error: Error) => Promise.reject(wrap(error.message))),
        eval: (source, keys, args) => node.eval(source, keys, args),
      },
    };
  };

  it.each([
    ['as the server says it', (message: string) => new Error(message)],
    ['after a prefix (ReplyError: …)', (message: string) => new Error(`ReplyError: ${message}`)],
    ['in brackets after a prefix', (message: string) => new Error(`[ErrorReply] (${message})`)],
    ['as Valkey GLIDE reports it (NoScriptError)', () => new Error('An error was signalled by the server: - NoScriptError: No matching script. Please use EVAL.')],
    ['in an object with a message that is no Error', (message: string) => ({ message })],
  ])('recognises NOSCRIPT %s, and falls back to EVAL', async (_, wrap) => {
    const { node, adapter } = rewordingNoScript(wrap);
    await runScript(adapter, acquireScript, ['first'], ['token', '1000']);
    node.keyspace.flushScripts();
    expect(await runScript(adapter, acquireScript, ['second'], ['token', '1000'])).toBe(1);
    expect(node.calls.map((call) => call.method)).toEqual(['eval', 'evalsha', 'eval']);
    expect(keysOf(node).sort()).toEqual(['first', 'second']);
  });

  it.each([
    ['a word that only contains it (NOSCRIPTS)', new Error('ERR NOSCRIPTS is not a command')],
    ['a word that ends in it (MYNOSCRIPT)', new Error('MYNOSCRIPT No matching script')],
    ['lower case', new Error('noscript No matching script')],
    ['a bare string', 'NOSCRIPT as a string'],
    ['null', null],
    ['a message that is not a string', { message: 42 }],
  ])('does not take %s for NOSCRIPT: rethrows it without EVAL', async (_, rejection) => {
    let evalCalls = 0;
    const adapter: RedisAdapter = {
      evalsha: () => Promise.reject(rejection),
      eval: async () => {
        evalCalls += 1;
        return 1;
      },
    };
    await runScript(adapter, acquireScript, ['k'], ['t', '1']);
    await expect(runScript(adapter, acquireScript, ['k'], ['t', '1'])).rejects.toBe(rejection);
    // One EVAL at first contact; none after the error.
    expect(evalCalls).toBe(1);
  });

  it('rejects with the EVAL error when the fallback fails too', async () => {
    const node = grantingNode(new FakeClock());
    await runScript(node, acquireScript, ['warm'], ['token', '1000']);
    node.keyspace.flushScripts();
    node.failNext('acquire', new Error('ERR after fallback'));
    await expect(runScript(node, acquireScript, ['k'], ['token', '1000'])).rejects.toThrow('ERR after fallback');
    expect(keysOf(node)).toEqual(['warm']);
  });
});

describe('reply parsers', () => {
  it('parses the acquire reply: 1 acquired, 0 held, -1 restarting, -2 foreign', () => {
    expect(parseAcquireReply(1)).toBe('acquired');
    expect(parseAcquireReply(0)).toBe('held');
    expect(parseAcquireReply(-1)).toBe('restarting');
    expect(parseAcquireReply(-2)).toBe('foreign');
  });

  it('parses the extend reply: 1 extended, 2 missing, 0 not held', () => {
    expect(parseExtendReply(1)).toBe('extended');
    expect(parseExtendReply(2)).toBe('missing');
    expect(parseExtendReply(0)).toBe('not-held');
  });

  it('parses the fence reply: 1 fenced, -2 foreign, anything else unexpected', () => {
    expect(parseFenceReply(1)).toBe('fenced');
    expect(parseFenceReply(-2)).toBe('foreign');
    for (const reply of [0, -1, 2, '1', null]) expect(() => parseFenceReply(reply)).toThrow(/^Unexpected reply to the fence script: /);
  });

  it('parses the inspect reply: milliseconds left, the label and its fencing token, -2 free, -1 foreign, anything else unexpected', () => {
    expect(parseInspectReply([1500, 'host-a', ''])).toEqual({ remaining: 1500, label: 'host-a', fencingToken: undefined });
    expect(parseInspectReply([1500, '{"term":7}', '7'])).toEqual({ remaining: 1500, label: '{"term":7}', fencingToken: 7 });
    expect(parseInspectReply([0, '', ''])).toEqual({ remaining: 0, label: '', fencingToken: undefined });
    expect(parseInspectReply([-2, '', ''])).toEqual({ remaining: 'free', label: '', fencingToken: undefined });
    expect(parseInspectReply([-1, '', ''])).toEqual({ remaining: 'foreign', label: '', fencingToken: undefined });
    for (const reply of [1500, [-3, '', ''], [1.5, '', ''], ['10', '', ''], [10, null, ''], [10, '', '07'], [10, '', 7], [10, ''], [10], null]) {
      expect(() => parseInspectReply(reply)).toThrow(/^Unexpected reply to the inspect script: /);
    }
  });

  it('parses the release reply: any deleted key is released, none is not held', () => {
    expect(parseReleaseReply(0, 2)).toBe('not-held');
    expect(parseReleaseReply(1, 2)).toBe('released');
    expect(parseReleaseReply(2, 2)).toBe('released');
  });

  it.each([['1'], [null], [true], [3], [-3], [[1]], ['OK'], [undefined]])(
    'rejects the unexpected acquire and extend reply %j with a TypeError naming the script',
    (reply) => {
      expect(() => parseAcquireReply(reply)).toThrow(TypeError);
      expect(() => parseAcquireReply(reply)).toThrow(/^Unexpected reply to the acquire script: /);
      expect(() => parseExtendReply(reply)).toThrow(/^Unexpected reply to the extend script: /);
    },
  );

  it.each([[3], [-1], [1.5], ['1'], [null], [Number.NaN]])('rejects the unexpected release reply %j for 2 keys', (reply) => {
    expect(() => parseReleaseReply(reply, 2)).toThrow(/^Unexpected reply to the release script: /);
  });

  it('shows the reply in the message, cut to 100 characters, even when JSON cannot encode it', () => {
    expect(unexpectedReply('acquire', 'OK').message).toBe('Unexpected reply to the acquire script: "OK"');
    expect(unexpectedReply('acquire', undefined).message).toBe('Unexpected reply to the acquire script: undefined');
    expect(unexpectedReply('acquire', 10n).message).toBe('Unexpected reply to the acquire script: 10');
    expect(unexpectedReply('acquire', 'x'.repeat(500)).message.length).toBe('Unexpected reply to the acquire script: '.length + 100);
  });
});
