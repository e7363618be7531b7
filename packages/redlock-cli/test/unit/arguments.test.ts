import { hostname } from 'node:os';
import { describe, expect, it } from '@jest/globals';
import { MAX_TTL_MS } from 'redlock-core';
import { parseCliArguments, type RunRequest } from '../../src/arguments.js';
import { DEFAULT_KILL_AFTER_MS, DEFAULT_TTL_MS } from '../../src/defaults.js';
import { informationalRequestOf } from '../../src/help.js';
import { EXIT_CODES } from '../../src/exit-codes.js';
import { ConfigurationError, UsageError } from '../../src/input-errors.js';

const NODES = 'redis://a:6379,redis://b:6379,redis://c:6379';
const ENV = { REDLOCK_NODES: NODES };

function run(argv: readonly string[], env: Record<string, string | undefined> = ENV): RunRequest {
  const request = parseCliArguments(argv, env);
  if (request.kind !== 'run') throw new Error(`Expected a run request, got ${request.kind}`);
  return request;
}

describe('parseCliArguments', () => {
  it('reads a resource and a command with the defaults', () => {
    expect(run(['backup', 'pg_dump', 'shop'])).toEqual({
      kind: 'run',
      resource: 'backup',
      command: { kind: 'exec', file: 'pg_dump', args: ['shop'] },
      ttlMs: DEFAULT_TTL_MS,
      waitMs: undefined,
      conflictExitCode: EXIT_CODES.conflict,
      fencing: false,
      fair: false,
      permits: undefined,
      readWrite: undefined,
      election: undefined,
      killAfterMs: DEFAULT_KILL_AFTER_MS,
      verbosity: 'normal',
      nodeUrls: NODES.split(','),
      keyPrefix: '',
      restartGraceMs: 0,
    });
  });

  it('passes everything after the resource to the command untouched, options included', () => {
    const argv = ['-n', 'res', 'ls', '-la', '--ttl', '5s', '-n', '--', '-c', '--help'];
    expect(run(argv).command).toEqual({ kind: 'exec', file: 'ls', args: ['-la', '--ttl', '5s', '-n', '--', '-c', '--help'] });
    expect(run(argv).ttlMs).toBe(DEFAULT_TTL_MS);
  });

  it('drops one `--` right after the resource, and takes the resource after a leading `--`', () => {
    expect(run(['res', '--', 'rm', '--', '-f']).command).toEqual({ kind: 'exec', file: 'rm', args: ['--', '-f'] });
    expect(run(['--', '-odd-resource', 'true']).resource).toBe('-odd-resource');
  });

  it('reads -c and --command right after the resource as a shell script', () => {
    expect(run(['res', '-c', 'echo a | wc -c']).command).toEqual({ kind: 'shell', script: 'echo a | wc -c' });
    expect(run(['res', '--command', 'exit 3']).command).toEqual({ kind: 'shell', script: 'exit 3' });
  });

  it('reads every option, long and short, including values glued to short options', () => {
    const request = run([
      '--nodes', 'redis://x:1,redis://y:2', '--prefix', 'lock:', '--ttl', '2m', '-w1.5s', '-E', '3', '--fencing', '-k', '500ms', '-v', 'res', 'true',
    ]);
    expect(request).toMatchObject({
      nodeUrls: ['redis://x:1', 'redis://y:2'],
      keyPrefix: 'lock:',
      ttlMs: 120_000,
      waitMs: 1_500,
      conflictExitCode: 3,
      fencing: true,
      killAfterMs: 500,
      verbosity: 'verbose',
    });
    expect(run(['--timeout=0', '-q', 'res', 'true'])).toMatchObject({ waitMs: 0, verbosity: 'quiet' });
    expect(run(['-nq', 'res', 'true'])).toMatchObject({ waitMs: 0, verbosity: 'quiet' });
    expect(run(['--fair', '-w', '5s', 'res', 'true'])).toMatchObject({ fair: true, waitMs: 5_000 });
    expect(run(['--conflict-exit-code=0', '--kill-after', '0', 'res', 'true'])).toMatchObject({ conflictExitCode: 0, killAfterMs: 0 });
  });

  it('reads --restart-grace as the restart grace every node is given, with a run and with --inspect', () => {
    expect(run(['--restart-grace', '2m', 'res', 'true']).restartGraceMs).toBe(120_000);
    expect(run(['--restart-grace=0', 'res', 'true']).restartGraceMs).toBe(0);
    expect(parseCliArguments(['--inspect', '--restart-grace', '30s', 'res'], ENV)).toMatchObject({ kind: 'inspect', restartGraceMs: 30_000 });
    expect(() => run(['--restart-grace', '30000', 'res', 'true'])).toThrow(new UsageError('Expected `--restart-grace` to be a duration in whole milliseconds such as 500ms, 30s or 2m, got `30000`: a number needs a unit, `30000s` for seconds or `30000ms` for milliseconds'));
  });

  it('takes --nodes over REDLOCK_NODES, and joins a repeated --nodes', () => {
    expect(run(['--nodes', 'redis://x', 'res', 'true']).nodeUrls).toEqual(['redis://x']);
    expect(run(['--nodes', 'redis://x', '--nodes', 'redis://y,redis://z', 'res', 'true'], {}).nodeUrls).toEqual([
      'redis://x',
      'redis://y',
      'redis://z',
    ]);
  });

  it('reads --permits as the limit of a semaphore to hold one permit of, alone or with --inspect', () => {
    expect(run(['--permits', '3', 'imports', 'run-import']).permits).toBe(3);
    expect(parseCliArguments(['--inspect', '--permits', '3', 'imports'], ENV)).toMatchObject({ kind: 'inspect', permits: 3 });
    for (const bad of ['0', '-1', '2.5', 'three', '1001', '']) {
      expect(() => run([`--permits=${bad}`, 'imports', 'true'])).toThrow(new UsageError(`Expected \`--permits\` to be an integer from 1 to 1000, got \`${bad}\``));
    }
    expect(() => run(['--permits', '3', '--fencing', 'imports', 'true'])).toThrow(/`--fencing` and `--permits` cannot be used together/);
  });

  it('reads --read and --write as the mode of the read-write lock to hold, alone or with --inspect', () => {
    expect(run(['--read', 'catalog', 'render']).readWrite).toBe('read');
    expect(run(['--write', '-n', '--ttl', '5s', 'catalog', 'rebuild'])).toMatchObject({ readWrite: 'write', waitMs: 0, ttlMs: 5_000, permits: undefined });
    expect(run(['catalog', 'render', '--write']).readWrite).toBeUndefined(); // after the resource: the command's
    expect(parseCliArguments(['--inspect', '--read', 'catalog'], ENV)).toMatchObject({ kind: 'inspect', readWrite: 'read', permits: undefined });
    expect(parseCliArguments(['--inspect', '--write', 'catalog'], ENV)).toMatchObject({ kind: 'inspect', readWrite: 'write' });
  });

  it('reads --elect as leading the election named by the resource, as --value or this host and process, alone or with --inspect', () => {
    expect(run(['--elect', '--value', 'host-a', 'scheduler', 'run-jobs'])).toMatchObject({ election: { value: 'host-a' }, waitMs: undefined, resource: 'scheduler' });
    expect(run(['--elect', '-w', '1m', 'scheduler', 'run-jobs'])).toMatchObject({ election: { value: `${hostname()}:${process.pid}` }, waitMs: 60_000 });
    expect(parseCliArguments(['--inspect', '--elect', 'scheduler'], ENV)).toMatchObject({ kind: 'inspect', isElection: true });
  });

  it.each([
    [['--elect', '--permits', '2', 'e', 'true'], '`--elect` and `--permits` cannot be used together'],
    [['--elect', '--read', 'e', 'true'], '`--elect` and `--read` cannot be used together'],
    [['--elect', '-n', 'e', 'true'], '`--elect` and `--nonblock` cannot be used together'],
    [['--elect', '-w', '0', 'e', 'true'], '`--elect` takes a `--timeout` above 0'],
    [['--value', 'host-a', 'e', 'true'], '`--value` goes with `--elect`'],
    [['--elect', '--value', '', 'e', 'true'], 'Expected `--value` to be from 1 to 200 characters, got 0'],
    [['--inspect', '--elect', '--value', 'host-a', 'e'], '`--value` does not go with `--inspect`'],
  ])('refuses %j with a usage error', (argv, message) => {
    expect(() => parseCliArguments(argv, ENV)).toThrow(UsageError);
    expect(() => parseCliArguments(argv, ENV)).toThrow(message);
  });

  it('reads --inspect with a resource and no command', () => {
    expect(parseCliArguments(['--inspect', '--prefix', 'p:', 'res'], ENV)).toEqual({
      kind: 'inspect',
      resource: 'res',
      permits: undefined,
      readWrite: undefined,
      isElection: false,
      verbosity: 'normal',
      nodeUrls: NODES.split(','),
      keyPrefix: 'p:',
      restartGraceMs: 0,
    });
  });

  it('answers --help and --version before looking at anything else, nodes included', () => {
    expect(parseCliArguments(['--help'], {})).toEqual({ kind: 'help' });
    expect(parseCliArguments(['-h', '--ttl', 'bad', 'res'], {})).toEqual({ kind: 'help' });
    expect(parseCliArguments(['-V'], {})).toEqual({ kind: 'version' });
    // After the resource, --help is the command's.
    expect(run(['res', 'git', '--help']).command).toEqual({ kind: 'exec', file: 'git', args: ['--help'] });
  });

  it.each([
    [[], 'Expected a resource to lock, got none'],
    [['res'], 'Expected a command to run after the resource, got none'],
    [['res', '--'], 'Expected a command to run after the resource, got none'],
    [['', 'true'], 'Expected a resource to lock, got an empty string'],
    [['--bogus', 'res', 'true'], "Unknown option '--bogus'"],
    [['-x', 'res', 'true'], "Unknown option '-x'"],
    [['--ttl'], "Option '--ttl <value>' argument missing"],
    [['--ttl', 'res', 'true'], 'Expected a command to run after the resource'], // `res` is the TTL, `true` the resource
    [['--ttl', '30000', 'res', 'true'], 'Expected `--ttl` to be a duration'],
    [['--ttl', '60', 'res', 'true'], 'got `60`: a number needs a unit, `60s` for seconds or `60ms` for milliseconds'],
    [['--ttl', '60ms', 'res', 'true'], 'Expected `--ttl` to be from 1 s'],
    [['--ttl', '0', 'res', 'true'], 'Expected `--ttl` to be from 1 s'],
    [['--ttl', '999ms', 'res', 'true'], 'Expected `--ttl` to be from 1 s'],
    [['--ttl', '25d', 'res', 'true'], 'Expected `--ttl` to be a duration'],
    [['--ttl', `${MAX_TTL_MS + 1}ms`, 'res', 'true'], 'Expected `--ttl` to be from 1 s'],
    [['-w', 'soon', 'res', 'true'], 'Expected `--timeout` to be a duration'],
    [['-w', '--', 'res', 'true'], "Option '-w' argument is ambiguous. Did you forget to specify the option argument for '-w'?"],
    [['-k', '-1s', 'res', 'true'], "Option '-k' argument is ambiguous"],
    [['-k-1s', 'res', 'true'], 'Expected `--kill-after` to be a duration'],
    [['-E', '256', 'res', 'true'], 'Expected `--conflict-exit-code` to be an integer from 0 to 255, got `256`'],
    [['-E', '1.5', 'res', 'true'], 'Expected `--conflict-exit-code` to be an integer from 0 to 255'],
    [['-n', '-w', '1s', 'res', 'true'], '`--nonblock` and `--timeout` cannot be used together'],
    [['-v', '-q', 'res', 'true'], '`--verbose` and `--quiet` cannot be used together'],
    [['--fencing=yes', 'res', 'true'], "Option '--fencing' does not take an argument"],
    [['res', '-c'], 'Expected a shell command after `-c`, got none'],
    [['res', '-c', 'echo', 'a'], '`-c` takes one shell command, got `a` after it'],
    [['--inspect', 'res', 'true'], '`--inspect` takes a resource and no command'],
    [['--inspect', '--ttl', '1s', 'res'], '`--ttl` does not go with `--inspect`'],
    [['--inspect', '-n', 'res'], '`--nonblock` does not go with `--inspect`'],
    [['--read', '--write', 'res', 'true'], '`--read` and `--write` cannot be used together'],
    [['--inspect', '--read', '--write', 'res'], '`--read` and `--write` cannot be used together'],
    [['--read', '--permits', '3', 'res', 'true'], '`--read` and `--permits` cannot be used together'],
    [['--permits', '3', '--write', 'res', 'true'], '`--write` and `--permits` cannot be used together'],
    [['--inspect', '--permits', '3', '--read', 'res'], '`--read` and `--permits` cannot be used together'],
    [['--read', '--fencing', 'res', 'true'], '`--fencing` and `--read` cannot be used together: a read-write lock hands out no fencing token'],
    [['--write', '--fencing', 'res', 'true'], '`--fencing` and `--write` cannot be used together'],
    [['--read=yes', 'res', 'true'], "Option '--read' does not take an argument"],
    [['--fair', '--permits', '3', 'res', 'true'], '`--fair` and `--permits` cannot be used together: `--fair` takes the lock in turn'],
    [['--write', '--fair', 'res', 'true'], '`--fair` and `--write` cannot be used together'],
    [['--elect', '--fair', 'res', 'true'], '`--fair` and `--elect` cannot be used together'],
    [['--inspect', '--fair', 'res'], '`--fair` does not go with `--inspect`'],
  ])('refuses %j with a UsageError: %s', (argv, message) => {
    const parse = (): unknown => parseCliArguments(argv, ENV);
    expect(parse).toThrow(UsageError);
    expect(parse).toThrow(message);
  });

  it('checks the command line before the nodes, so a usage error wins', () => {
    expect(() => parseCliArguments(['--bogus', 'res', 'true'], {})).toThrow(UsageError);
    expect(() => parseCliArguments(['res'], {})).toThrow(UsageError);
  });

  it.each([
    [['res', 'true'], {}, 'No Redis nodes: pass --nodes redis://host:port,... or set REDLOCK_NODES'],
    [['res', 'true'], { REDLOCK_NODES: '  ' }, 'No Redis nodes'],
    [['--nodes', '', 'res', 'true'], ENV, 'Expected `--nodes` to list Redis nodes'],
    [['--nodes', 'redis://a,localhost:6379', 'res', 'true'], ENV, 'Expected `--nodes` to list redis:// or rediss:// URLs'],
    [['res', 'true'], { REDLOCK_NODES: 'redis://a,redis://a' }, 'Expected `REDLOCK_NODES` to list each Redis node once'],
    [['--inspect', 'res'], {}, 'No Redis nodes'],
    [['--write', 'res', 'true'], {}, 'No Redis nodes'],
  ])('refuses %j with %j with a ConfigurationError: %s', (argv, env, message) => {
    const parse = (): unknown => parseCliArguments(argv, env);
    expect(parse).toThrow(ConfigurationError);
    expect(parse).toThrow(message);
  });
});

describe('informationalRequestOf', () => {
  it('answers --help and --version alone as parseCliArguments does, and leaves every other command line to it', () => {
    for (const argv of [['--help'], ['-h'], ['--version'], ['-V']]) {
      expect(informationalRequestOf(argv)).toEqual(parseCliArguments(argv, {}));
    }
    for (const argv of [[], ['--help', 'jobs'], ['-hV'], ['jobs', '--help'], ['--ttl', '10s', '--help'], ['--helpx']]) {
      expect(informationalRequestOf(argv)).toBeUndefined();
    }
  });
});
