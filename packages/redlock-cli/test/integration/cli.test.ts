import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { type Lock, Redlock } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import { eventually } from '../../../redlock-ioredis-adapter/test/support/eventually.js';
import { itWithFaults, useRedisNodes } from '../../../redlock-ioredis-adapter/test/support/redis-servers.js';
import { CLI_PATH, type CliProcess, type CliResult, ensureCliBuilt, runCli, startCli } from '../support/cli-process.js';
import { CONNECT_TIMEOUT_MS } from '../../src/lock-session.js';

// The built `redlock` runs as a child process against 3 real redis-server nodes. Each test has a key
// prefix of its own, and afterEach checks that no lock key under it is left on any node.

const servers = useRedisNodes(3);
let clients: Redis[] = [];
let directory = '';
let prefix = '';
let testNumber = 0;

beforeAll(async () => {
  await ensureCliBuilt();
  clients = servers.urls.map((_, index) => servers.createClient(index));
  directory = await mkdtemp(join(tmpdir(), 'redlock-cli-'));
}, 180_000);
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});
beforeEach(() => {
  testNumber += 1;
  prefix = `cli-test-${testNumber}:`;
});
afterEach(async () => {
  // A release may still be on its way to the last node when the CLI exits; give it a bounded moment.
  expect(await eventually(lockKeys, (keys) => keys.length === 0, 5_000)).toEqual([]);
});

/** The lock keys (not fencing counters, which are meant to stay) under this test's prefix on every node. */
async function lockKeys(): Promise<string[]> {
  const perNode = await Promise.all(clients.map((client) => client.keys(`${prefix}*`)));
  return perNode.flatMap((keys, index) => keys.filter((key) => !key.endsWith(':fencing-counter')).map((key) => `node ${index}: ${key}`));
}

function nodesEnv(): Record<string, string> {
  return { REDLOCK_NODES: servers.urls.join(',') };
}

/** Runs `redlock --prefix <this test's prefix> ...args` on the test nodes. */
function redlock(args: readonly string[], options?: Parameters<typeof runCli>[2]): Promise<CliResult> {
  return runCli(['--prefix', prefix, ...args], nodesEnv(), options);
}

function startRedlock(args: readonly string[]): CliProcess {
  return startCli(['--prefix', prefix, ...args], nodesEnv());
}

/** Holds `resource` with the library, as another owner would, on the same nodes and prefix. */
async function holdWithLibrary(resource: string, ttlMs = 10_000): Promise<Lock> {
  const redlock = new Redlock(
    clients.map((client) => new IoredisAdapter(client)),
    { keyPrefix: prefix },
  );
  return redlock.acquire(resource, ttlMs, { retryCount: 0 });
}

/** A path in this file's temporary directory, unique to the test. */
function tempPath(name: string): string {
  return join(directory, `${testNumber}-${name}`);
}

async function fileExists(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}

/** Waits (bounded) until the command under the lock wrote `path`, i.e. until it runs. */
async function untilWritten(path: string): Promise<void> {
  expect(await eventually(() => fileExists(path), Boolean, 15_000)).toBe(true);
}

/** Waits (bounded) until the CLI said it connected (`-v`): its signal handlers are in place by then. */
async function untilConnected(cli: CliProcess): Promise<void> {
  expect(await eventually(() => cli.stderr(), (text) => text.includes('connected to'), 15_000)).toContain('connected to');
}

/**
 * `count` distinct loopback ports nothing listens on: nodes that are down. Picked below the ephemeral
 * ranges (Linux 32768-60999, macOS 49152-65535), so that no server another test starts on a port the
 * system picks (as local-redis-nodes does) can take one while the CLI runs; a port is kept once a
 * connection to it is refused.
 */
async function closedPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!ports.has(port) && (await isRefused(port))) ports.add(port);
  }
  return [...ports];
}

/** Whether a connection to `port` on 127.0.0.1 is refused. */
function isRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/** A loopback port nothing listens on: a node that is down. */
async function closedPort(): Promise<number> {
  return (await closedPorts(1))[0] as number;
}

/**
 * The PIDs of the running processes with `argument` among their arguments (read from /proc: Linux only). A
 * process that is dead but not yet reaped has an empty command line, so it is not listed.
 */
function pidsWithArgument(argument: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(argument);
      } catch {
        return false; // it ended while we read the list
      }
    })
    .map(Number);
}

/** Waits (bounded) until one process with `argument` runs. */
async function untilRunning(argument: string): Promise<void> {
  expect(await eventually(() => pidsWithArgument(argument), (pids) => pids.length === 1, 15_000)).toHaveLength(1);
}

/**
 * A `sleep` duration no other test uses, in this process or another one running this file at the same time:
 * its processes are found by it, and killed by PID if a test fails. The test's number, then the process's
 * ID after the point: `41.${pid}${testNumber}` read the same for PID 221 in test 24 as for PID 2212 in test 4.
 */
function uniqueSleepSeconds(): string {
  return `${40 + testNumber}.${process.pid}`;
}

/** Kills by PID any process a failed test left running with `argument`. */
function killLeftovers(argument: string): void {
  for (const pid of pidsWithArgument(argument)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}

describe('running a command under the lock', () => {
  it('runs the command, exits with its status and leaves no key', async () => {
    // Five whole runs (start-up, connect, acquire, run, release, exit), each silent and leaving no key.
    for (let run = 0; run < 5; run += 1) {
      expect(await redlock(['-n', 'res', 'true'])).toMatchObject({ code: 0, stderr: '' });
    }
  });

  it('passes the exit status, death by signal, stdin, stdout and stderr through', async () => {
    expect((await redlock(['res', '-c', 'exit 3'])).code).toBe(3);
    expect((await redlock(['res', 'sh', '-c', 'exit "$1"', 'sh', '42'])).code).toBe(42);
    expect((await redlock(['res', '-c', 'kill -TERM $$'])).code).toBe(143);
    expect(await redlock(['res', 'cat'], { input: 'through stdin\n' })).toMatchObject({ code: 0, stdout: 'through stdin\n' });
    const noisy = await redlock(['res', '-c', 'echo to-stderr >&2; exit 2']);
    expect(noisy).toMatchObject({ code: 2, stderr: 'to-stderr\n' });
  });

  it('exits 127 for a command not found and 126 for one that cannot be executed, releasing the lock', async () => {
    const missing = await redlock(['res', 'redlock-test-no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toBe('redlock: redlock-test-no-such-command: command not found\n');
    // An option after the resource is the command's first word: the message says where options go.
    expect(await redlock(['res', '-n', 'echo', 'hi'])).toMatchObject({ code: 127, stdout: '', stderr: "redlock: -n: command not found (redlock's options go before the resource)\n" });
    const script = tempPath('not-executable.sh');
    await writeFile(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    expect((await redlock(['res', script])).code).toBe(126);
    expect((await redlock(['res', '-c', 'redlock-test-no-such-command'])).code).toBe(127);
  });

  it('gives the command REDLOCK_RESOURCE and the environment, never the lock token', async () => {
    const envFile = tempPath('env');
    const go = tempPath('go');
    const cli = startCli(['--prefix', prefix, 'orders:42', '-c', `env > "${envFile}"; while [ ! -e "${go}" ]; do sleep 0.05; done`], {
      ...nodesEnv(),
      INHERITED: 'yes',
      REDLOCK_FENCING_TOKEN: '999', // an outer redlock's: not this lock's
    });
    await untilWritten(envFile);
    const token = await clients[0]?.get(`${prefix}orders:42`);
    await writeFile(go, '');
    expect((await cli.result).code).toBe(0);
    const env = await readFile(envFile, 'utf8');
    expect(env).toContain('REDLOCK_RESOURCE=orders:42\n');
    expect(env).toContain('INHERITED=yes\n');
    expect(env).toContain(`REDLOCK_NODES=${servers.urls.join(',')}\n`);
    expect(env).not.toContain('REDLOCK_FENCING_TOKEN');
    expect(token).toEqual(expect.any(String));
    expect(env).not.toContain(token as string);
  });

  it("goes on, releases the lock and exits with the command's status when nobody reads its stderr any more", async () => {
    const child = spawn(process.execPath, [CLI_PATH, '-v', '--prefix', prefix, 'res', 'sh', '-c', 'sleep 0.3; exit 3'], {
      env: { ...nodesEnv(), PATH: process.env['PATH'] ?? '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // The reader goes away at once: each line redlock writes from then on fails with EPIPE.
    child.stderr.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(3);
    // afterEach: no key left on any node.
  });

  it('with --fencing, passes a fencing token that grows with each acquisition', async () => {
    const first = await redlock(['--fencing', 'res', '-c', 'echo "$REDLOCK_FENCING_TOKEN"']);
    const second = await redlock(['--fencing', 'res', '-c', 'echo "$REDLOCK_FENCING_TOKEN"']);
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    expect(Number(second.stdout)).toBeGreaterThan(Number(first.stdout));
    expect(Number(first.stdout)).toBeGreaterThan(0);
  });

  it('with --restart-grace, takes no grant from a node that restarted within it, and runs nothing', async () => {
    const ran = tempPath('ran');
    // This file's nodes started moments ago: with an hour's grace, every one of them counts as restarted.
    const refused = await redlock(['-n', '--restart-grace', '1h', 'res', '-c', `touch "${ran}"`]);
    expect(refused.code).toBe(69);
    expect(refused.stderr).toContain('3 restarted recently');
    expect(await fileExists(ran)).toBe(false);
    expect((await redlock(['-n', 'res', '-c', `touch "${ran}"`])).code).toBe(0);
    expect(await fileExists(ran)).toBe(true);
  });

  it('3 concurrent CLIs around a shell command that appends to a file never overlap', async () => {
    const log = tempPath('log');
    const section = `echo "start $$" >> "${log}"; sleep 0.2; echo "end $$" >> "${log}"`;
    const rounds = 2;
    const results = await Promise.all(
      [0, 1, 2].map(async () => {
        const codes: (number | null)[] = [];
        for (let round = 0; round < rounds; round += 1) codes.push((await redlock(['res', '-c', section])).code);
        return codes;
      }),
    );
    expect(results.flat()).toEqual(Array(3 * rounds).fill(0));
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2 * 3 * rounds);
    for (let index = 0; index < lines.length; index += 2) {
      const pid = lines[index]?.replace('start ', '');
      expect([lines[index], lines[index + 1]]).toEqual([`start ${pid}`, `end ${pid}`]);
    }
  });
});

describe('--permits N: one of N permits of a counting semaphore instead of the lock', () => {
  it('runs at most 2 of 4 concurrent commands at once, each of them, and leaves no key', async () => {
    const log = tempPath('log');
    // Each command notes when it starts and ends; 4 at once under --permits 2 must take turns in pairs.
    const section = `echo "start $$" >> "${log}"; sleep 0.3; echo "end $$" >> "${log}"`;
    const results = await Promise.all([0, 1, 2, 3].map(() => redlock(['--permits', '2', 'pool', '-c', section])));
    expect(results.map((result) => result.code)).toEqual([0, 0, 0, 0]);
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(8);
    let running = 0;
    let mostAtOnce = 0;
    for (const line of lines) {
      running += line.startsWith('start ') ? 1 : -1;
      mostAtOnce = Math.max(mostAtOnce, running);
    }
    expect(mostAtOnce).toBe(2);
  });

  it('-n exits 75 when every permit is held, --inspect --permits counts them, and another N is refused with 78', async () => {
    // It holds the permit until the finally below stops it: the checks take seconds on a loaded machine.
    const holder = startRedlock(['--permits', '1', 'pool', 'sleep', '60']);
    try {
      await eventually(() => redlock(['--inspect', '--permits', '1', 'pool']), (result) => result.stdout.startsWith('pool: 1 of 1 permits in use'), 10_000);
      expect(await redlock(['--inspect', '--permits', '1', 'pool'])).toMatchObject({ code: 0, stdout: 'pool: 1 of 1 permits in use by 1 holder\n' });
      expect(await redlock(['-n', '--permits', '1', 'pool', 'echo', 'must not run'])).toMatchObject({
        code: 75,
        stdout: '',
        stderr: 'redlock: "pool" is at its limit: all 1 permits held\n',
      });
      // -q keeps configuration errors, as the help says.
      const mismatch = await redlock(['-n', '-q', '--permits', '3', 'pool', 'echo', 'must not run']);
      expect(mismatch).toMatchObject({ code: 78, stdout: '' });
      expect(mismatch.stderr).toContain('held with limit 1, and every client of a semaphore must give the same limit');
      expect(await redlock(['--inspect', '--permits', '3', 'pool'])).toMatchObject({
        code: 78,
        stdout: 'pool: 1 of 1 permits in use by 1 holder\n',
        stderr: expect.stringContaining('as a semaphore of 1 permits, not 3'),
      });
    } finally {
      holder.child.kill('SIGTERM');
      await holder.result;
    }
  });
});

describe('--read and --write: the read-write lock instead of the lock', () => {
  /** Non-empty lines of `path`, or none while it does not exist. */
  const linesOf = (path: string): Promise<string[]> => readFile(path, 'utf8').then((text) => text.split('\n').filter(Boolean), () => []);

  it('runs 2 --read commands at once and a --write command alone, after them, refusing new readers while it waits', async () => {
    const log = tempPath('log');
    const go = tempPath('go');
    // Each command notes its start and end; the readers hold the read lock until the test says go.
    const read = `echo "start read $$" >> "${log}"; while [ ! -e "${go}" ]; do sleep 0.05; done; echo "end read $$" >> "${log}"`;
    const write = `echo "start write $$" >> "${log}"; sleep 0.2; echo "end write $$" >> "${log}"`;
    const readers = [startRedlock(['--read', 'catalog', '-c', read]), startRedlock(['--read', 'catalog', '-c', read])];
    try {
      expect(await eventually(() => linesOf(log), (lines) => lines.length === 2, 15_000)).toHaveLength(2);
      const writer = startRedlock(['--write', 'catalog', '-c', write]);
      // Its intent shows once the writer tried while the readers held the lock: from then on it waits.
      const waiting = await eventually(() => redlock(['--inspect', '--read', 'catalog']), (result) => result.stdout.includes('writer waiting'), 15_000);
      expect(waiting).toMatchObject({ code: 0, stdout: 'catalog: read-locked by 2 readers, a writer waiting\n', stderr: '' });
      expect(await redlock(['-n', '--read', 'catalog', 'echo', 'must not run'])).toMatchObject({
        code: 75,
        stdout: '',
        stderr: 'redlock: "catalog" is locked by a writer (holding or waiting)\n',
      });
      await writeFile(go, '');
      expect((await Promise.all([...readers, writer].map((cli) => cli.result))).map((result) => result.code)).toEqual([0, 0, 0]);
      // Both readers ran at once; the writer started after both ended, and nothing else ran meanwhile.
      const events = (await linesOf(log)).map((line) => line.replace(/ \d+$/, ''));
      expect(events).toEqual(['start read', 'start read', 'end read', 'end read', 'start write', 'end write']);
    } finally {
      await writeFile(go, '');
    }
  });

  it('-n exits 75 while the lock is taken for the mode asked, a writer that gives up lets readers in, a lock\'s key exits 78', async () => {
    const catalog = new Redlock(clients.map((client) => new IoredisAdapter(client)), { keyPrefix: prefix }).readWriteLock('catalog');
    const writing = await catalog.acquireWrite(10_000, { retryCount: 0 });
    const lock = await holdWithLibrary('res');
    try {
      // At once: none of these writes anything that stays on a node.
      const [inspected, write, foreign, inspectedForeign] = await Promise.all([
        redlock(['--inspect', '--write', 'catalog']),
        redlock(['-n', '--write', 'catalog', 'echo', 'must not run']),
        redlock(['-n', '--read', 'res', 'echo', 'must not run']),
        redlock(['--inspect', '--read', 'res']),
      ]);
      expect(inspected).toMatchObject({ code: 0, stdout: 'catalog: write-locked\n', stderr: '' });
      expect(write).toMatchObject({ code: 75, stdout: '', stderr: 'redlock: "catalog" is locked by readers or a writer\n' });
      expect(foreign).toMatchObject({ code: 78, stdout: '' });
      expect(foreign.stderr).toContain('foreign key');
      // As acquiring does: a script that inspects first learns that no read or write lock can be taken.
      expect(inspectedForeign).toMatchObject({ code: 78, stdout: 'res: not locked\n' });
      expect(inspectedForeign.stderr).toContain('on 3 of 3 nodes the key of "res" holds something that is not a read-write lock');
    } finally {
      await writing.release();
      await lock.release();
    }
    const reading = await catalog.acquireRead(10_000, { retryCount: 0 });
    try {
      const gaveUp = await redlock(['-w', '300ms', '--write', 'catalog', 'echo', 'must not run']);
      expect(gaveUp).toMatchObject({ code: 75, stdout: '', stderr: 'redlock: "catalog" was still locked by readers or a writer after 300 ms\n' });
      // Its intent, which refused new readers while it waited, was withdrawn before it exited.
      expect(await redlock(['-n', '--read', 'catalog', 'echo', 'read'])).toMatchObject({ code: 0, stdout: 'read\n', stderr: '' });
    } finally {
      await reading.release();
    }
  });
});

describe('--elect: run the command while leading an election', () => {
  it('runs it on one machine, hands over to a waiting standby when it ends, and --inspect --elect tells who leads', async () => {
    const termFile = join(directory, `term-${testNumber}`);
    const go = join(directory, `go-${testNumber}`);
    const leader = startRedlock(['--elect', '--value', 'machine-a', 'scheduler', '-c', `echo "$REDLOCK_FENCING_TOKEN" > "${termFile}"; while [ ! -e "${go}" ]; do sleep 0.05; done`]);
    const leaderTerm = Number(await eventually(() => readFile(termFile, 'utf8').catch(() => ''), (text) => text.endsWith('\n'), 15_000));
    expect(await redlock(['--inspect', '--elect', 'scheduler'])).toMatchObject({ code: 0, stdout: `scheduler: led by machine-a, term ${leaderTerm}\n` });
    // With -v, each node's view of the leader's lock, as `--inspect` gives for a lock.
    const verbose = await redlock(['-v', '--inspect', '--elect', 'scheduler']);
    expect(verbose).toMatchObject({ code: 0, stdout: `scheduler: led by machine-a, term ${leaderTerm}\n` });
    expect(verbose.stderr.split('\n').filter((line) => /^redlock: node \d+ \(redis:\/\/127\.0\.0\.1:\d+\): locked, /.test(line))).toHaveLength(servers.urls.length);
    const standby = startRedlock(['-v', '--elect', 'scheduler', '-c', 'echo "$REDLOCK_FENCING_TOKEN"']);
    await untilConnected(standby);
    await delay(300);
    expect(standby.child.exitCode).toBeNull();
    await writeFile(go, '');
    expect(await leader.result).toMatchObject({ code: 0, stderr: '' });
    const result = await standby.result;
    expect(result.code).toBe(0);
    expect(Number(result.stdout)).toBeGreaterThan(leaderTerm);
    expect(result.stderr).toMatch(/won the leadership of "scheduler" as "[^"]+:\d+" in \d+ ms in term \d+/);
    expect(await redlock(['--inspect', '--elect', 'scheduler'])).toMatchObject({ code: 0, stdout: 'scheduler: no leader\n' });
  });

  it("takes over in the standby once a killed leader's lease runs out, within --ttl and a retry", async () => {
    const termFile = join(directory, `term-${testNumber}`);
    const leader = startRedlock(['--elect', '--ttl', '1s', 'scheduler', '-c', `echo "$REDLOCK_FENCING_TOKEN" > "${termFile}"; sleep 30`]);
    const leaderTerm = Number(await eventually(() => readFile(termFile, 'utf8').catch(() => ''), (text) => text.endsWith('\n'), 15_000));
    const standby = startRedlock(['-v', '--elect', '--ttl', '1s', 'scheduler', '-c', 'echo "$REDLOCK_FENCING_TOKEN"']);
    await untilConnected(standby);
    leader.child.kill('SIGKILL');
    const killedAt = performance.now();
    // Its watcher kills the command at once; the lease ends at most --ttl after the leader's last extension.
    expect(await leader.result).toMatchObject({ signal: 'SIGKILL' });
    const result = await standby.result;
    expect(result.code).toBe(0);
    expect(Number(result.stdout)).toBeGreaterThan(leaderTerm);
    // 1 s of lease and a 200 ms retry pause, with room for a busy machine.
    expect(performance.now() - killedAt).toBeLessThan(1_000 + 200 + 2_000);
  });
});

describe('--elect with -w while another leads', () => {
  it('exits 75, still led by another, once the wait ran out', async () => {
    const library = new Redlock(clients.map((client) => new IoredisAdapter(client)), { keyPrefix: prefix });
    const leadership = await library.election('scheduler').campaign('machine-a');
    try {
      const result = await redlock(['--elect', '-w', '1s', 'scheduler', 'echo', 'must not run']);
      expect(result).toMatchObject({ code: 75, stdout: '', stderr: 'redlock: "scheduler" was still led by another after 1 s\n' });
    } finally {
      await leadership.resign();
      await library.close();
    }
  });
});

describe('processes the command leaves in its group', () => {
  it('are stopped before the lock is released, and redlock exits with the command\'s status', async () => {
    const sleep = uniqueSleepSeconds();
    try {
      // The background sleep ignores SIGTERM, so it outlives the command by the 5 s of -k: a window wide
      // enough for a second redlock to try the lock while it runs.
      const cli = startRedlock(['-k', '5s', 'res', '-c', `trap '' TERM; sleep ${sleep} & echo started; exit 3`]);
      await untilRunning(sleep);
      expect(await redlock(['-n', '-q', 'res', 'echo', 'must not run'])).toMatchObject({ code: 75, stdout: '' });
      // The refusal counts only if the sleep still ran when it came.
      expect(pidsWithArgument(sleep)).toHaveLength(1);
      expect(await cli.result).toMatchObject({ code: 3, stdout: 'started\n' });
      // Not "eventually": redlock releases the lock and exits only once its group is empty.
      expect(pidsWithArgument(sleep)).toEqual([]);
    } finally {
      killLeftovers(sleep);
    }
  });

  it('get SIGTERM, which ends a background job at once', async () => {
    const sleep = uniqueSleepSeconds();
    try {
      const result = await redlock(['res', '-c', `sleep ${sleep} & echo started`]);
      expect(result).toMatchObject({ code: 0, stdout: 'started\n' });
      expect(pidsWithArgument(sleep)).toEqual([]);
      // The bound only tells the SIGTERM (at once) from the SIGKILL (after the default -k of 10 s).
      expect(result.wallMs).toBeLessThan(8_000);
    } finally {
      killLeftovers(sleep);
    }
  });

  it('get SIGTERM, then SIGKILL after --kill-after when they ignore it', async () => {
    const sleep = uniqueSleepSeconds();
    try {
      const cli = startRedlock(['-v', '-k', '300ms', 'res', '-c', `trap '' TERM; sleep ${sleep} & echo started`]);
      const result = await cli.result;
      expect(result).toMatchObject({ code: 0, stdout: 'started\n' });
      expect(pidsWithArgument(sleep)).toEqual([]);
      expect(result.stderr).toMatch(/stopping the processes it left in its group \(SIGTERM, then SIGKILL after 300 ms\)/);
    } finally {
      killLeftovers(sleep);
    }
  });

  it('get SIGKILL before the validity ends if the lock is lost while they are stopped, and redlock exits 76', async () => {
    const sleep = uniqueSleepSeconds();
    try {
      const cli = startRedlock(['--ttl', '2s', '-k', '1h', 'res', '-c', `trap '' TERM; sleep ${sleep} & exit 0`]);
      await untilRunning(sleep);
      await Promise.all(clients.map((client) => client.del(`${prefix}res`)));
      // Without the cut to the validity left it would wait an hour; the run limit of the helper is 30 s.
      const result = await cli.result;
      expect(result.code).toBe(76);
      expect(result.stderr).toContain('was lost while the processes the command left in its group were stopped');
      expect(pidsWithArgument(sleep)).toEqual([]);
    } finally {
      killLeftovers(sleep);
    }
  });
});

describe('when another owner holds the lock', () => {
  it('-n exits 75 at once, or the status -E gives, and says so unless -q', async () => {
    const lock = await holdWithLibrary('res');
    try {
      const result = await redlock(['-n', 'res', 'echo', 'must not run']);
      expect(result).toMatchObject({ code: 75, stdout: '', stderr: 'redlock: "res" is locked by another owner\n' });
      expect(await redlock(['-n', '-E', '9', 'res', 'true'])).toMatchObject({ code: 9 });
      expect(await redlock(['-w', '0', '-q', 'res', 'true'])).toMatchObject({ code: 75, stderr: '' });
      expect(lock.state).toBe('held');
    } finally {
      await lock.release();
    }
  });

  it('-w 1s waits, then exits 75', async () => {
    const lock = await holdWithLibrary('res');
    try {
      const result = await redlock(['-w', '1s', 'res', 'echo', 'must not run']);
      expect(result).toMatchObject({ code: 75, stdout: '' });
      expect(result.stderr).toBe('redlock: "res" was still locked by another owner after 1 s\n');
      expect(result.wallMs).toBeGreaterThanOrEqual(1_000);
    } finally {
      await lock.release();
    }
  });

  itWithFaults('a signal while connecting to a node that does not answer stops at once, not after the connect timeout', async () => {
    const [, second] = servers.nodes;
    second?.pause();
    try {
      const cli = startRedlock(['-v', 'res', 'echo', 'must not run']);
      await eventually(() => cli.stderr(), (text) => text.includes('connecting to 3 nodes'), 15_000);
      const signalledAt = performance.now();
      cli.child.kill('SIGINT');
      const result = await cli.result;
      expect(result).toMatchObject({ code: 130, stdout: '' });
      // Before, it waited for the paused node's connect timeout (2 s) before it looked at the signal.
      expect(performance.now() - signalledAt).toBeLessThan(CONNECT_TIMEOUT_MS * 0.75);
    } finally {
      second?.resume();
    }
  });

  itWithFaults('-v names a node that accepted the connection and never answered, and runs the command on the others', async () => {
    const [, second] = servers.nodes;
    second?.pause();
    try {
      const result = await redlock(['-v', '-n', 'res', 'echo', 'ran']);
      expect(result).toMatchObject({ code: 0, stdout: 'ran\n' });
      expect(result.stderr).toContain('connected to 2 of 3 nodes (quorum 2)');
      expect(result.stderr).toContain(`node 1 (${servers.urls[1]}): no connection ready within 2 s`);
      expect(result.stderr).not.toContain('node 0 (');
    } finally {
      second?.resume();
    }
  });

  it('with --fair, waits its turn behind a fair waiter that asked before, and runs the command after it', async () => {
    const lock = await holdWithLibrary('res');
    const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)), { keyPrefix: prefix });
    const first = redlock.acquire('res', 10_000, { fair: true, retryCount: 1_000 });
    // Queued on every node before the command's turn is asked for.
    for (const deadline = Date.now() + 5_000; (await Promise.all(clients.map((client) => client.zcard(`{${prefix}res}:w`)))).some((count) => count < 1); await delay(10)) {
      if (Date.now() > deadline) throw new Error('The first waiter did not queue within 5 s');
    }
    const cli = startRedlock(['-v', '--fair', '-w', '20s', 'res', 'sh', '-c', 'echo "ran at $(date +%s%3N)"']);
    await untilConnected(cli);
    await delay(300);
    await lock.release();
    const firstLock = await first;
    const firstGrantedAt = Date.now();
    await delay(200);
    await firstLock.release();
    const result = await cli.result;
    expect(result).toMatchObject({ code: 0 });
    expect(Number(/ran at (\d+)/.exec(result.stdout)?.[1])).toBeGreaterThan(firstGrantedAt + 150);
    await redlock.close();
  });

  it('waits for the lock and runs the command once the owner releases it', async () => {
    const lock = await holdWithLibrary('res');
    const cli = startRedlock(['-v', '-w', '20s', 'res', 'echo', 'ran']);
    await untilConnected(cli);
    await delay(300);
    await lock.release();
    expect(await cli.result).toMatchObject({ code: 0, stdout: 'ran\n' });
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s while waiting stops the wait, exits %d and leaves nothing of its own on any node', async (signal, exitCode) => {
    const lock = await holdWithLibrary('res');
    try {
      const cli = startRedlock(['-v', 'res', 'echo', 'must not run']);
      await untilConnected(cli);
      await delay(300);
      cli.child.kill(signal);
      const result = await cli.result;
      expect(result).toMatchObject({ code: exitCode, stdout: '' });
      expect(result.stderr).toContain(`stopped waiting for "res": ${signal}`);
      // The owner's key is untouched on every node: the waiter wrote nothing, or removed it.
      const held = await Promise.all(clients.map((client) => client.get(`${prefix}res`)));
      expect(held).toEqual(Array(3).fill(lock.token));
    } finally {
      await lock.release();
    }
  });

  it('--inspect prints whether the resource is locked and for how long', async () => {
    expect(await redlock(['--inspect', 'res'])).toMatchObject({ code: 0, stdout: 'res: not locked\n', stderr: '' });
    const lock = await holdWithLibrary('res', 20_000);
    try {
      const result = await redlock(['--inspect', 'res']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^res: locked, 1\d(\.\d)? s left\n$/);
    } finally {
      await lock.release();
    }
  });
});

describe('when nodes are down', () => {
  it.each([[[]], [['-n']], [['-w', '30s']], [['--fair']], [['--fair', '-w', '30s']]])(
    'exits 69 with %j when a majority of nodes cannot be reached',
    async (options) => {
      const urls = [servers.urls[0] ?? '', ...(await closedPorts(2)).map((port) => `redis://127.0.0.1:${port}`)];
      const result = await runCli(['--prefix', prefix, ...options, 'res', 'echo', 'must not run'], { REDLOCK_NODES: urls.join(',') });
      expect(result).toMatchObject({ code: 69, stdout: '' });
      expect(result.stderr).toMatch(/^redlock: Could not acquire "res".*\n$/);
      expect(result.wallMs).toBeLessThan(25_000); // it gave up: -w 30s does not wait for nodes that are down
    },
  );

  it('names the wait that ran out as the user gave it, -w, not the library option', async () => {
    const urls = [servers.urls[0] ?? '', ...(await closedPorts(2)).map((port) => `redis://127.0.0.1:${port}`)];
    const result = await runCli(['--prefix', prefix, '-w', '1s', 'res', 'echo', 'must not run'], { REDLOCK_NODES: urls.join(',') });
    expect(result).toMatchObject({ code: 69, stdout: '' });
    expect(result.stderr).toMatch(/^redlock: Could not acquire "res" within 1 s \(-w\), after \d+ attempts?: nodes unreachable .*\n$/);
    expect(result.stderr).not.toContain('waitMs');
  });

  it.each([[['--elect']], [['--elect', '-w', '5s']]])(
    'exits 69 with %j when a majority of nodes cannot be reached, as the lock does, naming each node',
    async (options) => {
      const urls = [servers.urls[0] ?? '', ...(await closedPorts(2)).map((port) => `redis://127.0.0.1:${port}`)];
      const result = await runCli(['--prefix', prefix, ...options, 'res', 'echo', 'must not run'], { REDLOCK_NODES: urls.join(',') }, { limitMs: 30_000 });
      expect(result).toMatchObject({ code: 69, stdout: '' });
      expect(result.stderr).toMatch(/^redlock: Could not acquire "res" .*: nodes unreachable .*2 failed, 1 acquired, quorum is 2.*\n$/);
      expect(result.wallMs).toBeLessThan(25_000); // it gave up: no quorum, whatever the wait
    },
  );

  it('still runs the command with one node of three down', async () => {
    const urls = [servers.urls[0] ?? '', servers.urls[1] ?? '', `redis://127.0.0.1:${await closedPort()}`];
    const result = await runCli(['--prefix', prefix, 'res', 'echo', 'ran'], { REDLOCK_NODES: urls.join(',') });
    expect(result).toMatchObject({ code: 0, stdout: 'ran\n' });
  });
});

describe('when the lock is lost while the command runs', () => {
  it('stops the command with SIGTERM and exits 76 even though the command exited 0', async () => {
    const ready = tempPath('ready');
    const log = tempPath('log');
    const script = `trap 'kill $!; echo terminated >> "${log}"; exit 0' TERM; echo > "${ready}"; sleep 60 & wait`;
    const cli = startRedlock(['--ttl', '2s', 'res', '-c', script]);
    await untilWritten(ready);
    await Promise.all(clients.map((client) => client.del(`${prefix}res`)));
    const result = await cli.result;
    expect(result.code).toBe(76);
    expect(result.stderr).toContain('redlock: Lost the lock on "res": a quorum of nodes no longer holds our token: stopping the command');
    expect(await readFile(log, 'utf8')).toBe('terminated\n');
  });

  it('kills a command that ignores SIGTERM within the validity left, however long -k is', async () => {
    const ready = tempPath('ready');
    const cli = startRedlock(['--ttl', '2s', '-k', '1h', 'res', '-c', `trap '' TERM; echo > "${ready}"; exec sleep 60`]);
    await untilWritten(ready);
    await Promise.all(clients.map((client) => client.del(`${prefix}res`)));
    const result = await cli.result;
    expect(result.code).toBe(76);
    // Without the cap it would wait an hour; the run limit of the helper is 30 s.
    expect(result.stderr).toMatch(/SIGKILL after \d+ ms\)/);
  });

  it.each([
    ['a script running a program', (sleep: string, ready: string) => `echo > "${ready}"; sleep ${sleep}; echo after`],
    ['a script and its program ignoring SIGTERM', (sleep: string, ready: string) => `trap '' TERM; echo > "${ready}"; sleep ${sleep}; echo after`],
    ['a job in the background', (sleep: string, ready: string) => `echo > "${ready}"; sh -c 'sleep ${sleep} & wait'`],
  ])('stops every process the command started before it exits 76: %s', async (_, scriptOf) => {
    const ready = tempPath('ready');
    const sleep = uniqueSleepSeconds();
    try {
      const cli = startRedlock(['--ttl', '2s', '-k', '500ms', 'res', '-c', scriptOf(sleep, ready)]);
      await untilWritten(ready);
      await untilRunning(sleep);
      await Promise.all(clients.map((client) => client.del(`${prefix}res`)));
      const result = await cli.result;
      expect(result.code).toBe(76);
      // Not "eventually": redlock waits for the whole group to be gone before it exits, so that nothing of
      // the job runs on while another machine takes the lock.
      expect(pidsWithArgument(sleep)).toEqual([]);
    } finally {
      killLeftovers(sleep);
    }
  });

  itWithFaults('stops the command within the validity and exits 76 when a majority of nodes stops answering', async () => {
    const ready = tempPath('ready');
    // Only SIGKILL stops it, so the SIGKILL must come while the lock is still ours.
    const cli = startRedlock(['--ttl', '2s', '-k', '1h', 'res', '-c', `trap '' TERM; echo > "${ready}"; exec sleep 60`]);
    await untilWritten(ready);
    const [, second, third] = servers.nodes;
    try {
      second?.pause();
      third?.pause();
      const result = await cli.result;
      expect(result.code).toBe(76);
      // Not at the end of the validity, when the library gives up, but before it, by redlock's own deadline.
      const stopping = /redlock: Lost the lock on "res": no extension succeeded, and \d+ ms of its validity are left: stopping the command \(SIGTERM, then SIGKILL after (\d+) ms\)/.exec(result.stderr);
      expect(stopping).not.toBeNull();
      expect(Number(stopping?.[1])).toBeLessThanOrEqual(100);
    } finally {
      second?.resume();
      third?.resume();
    }
  });
});

describe('when redlock itself is killed', () => {
  it('the processes of the command die with it, while its lock still holds', async () => {
    const ready = tempPath('ready');
    const sleep = uniqueSleepSeconds();
    try {
      const cli = startRedlock(['--ttl', '5s', 'res', '-c', `echo > "${ready}"; sh -c 'sleep ${sleep} & wait'`]);
      await untilWritten(ready);
      await untilRunning(sleep);
      cli.child.kill('SIGKILL');
      expect(await cli.result).toMatchObject({ signal: 'SIGKILL' });
      // The bound only tells the watcher (milliseconds) from nothing (the sleep runs 41 s or more).
      expect(await eventually(() => pidsWithArgument(sleep), (pids) => pids.length === 0, 5_000)).toEqual([]);
      // Gone before the lock of the dead redlock expired: no other machine could have held it meanwhile.
      const keptMs = await Promise.all(clients.map((client) => client.pttl(`${prefix}res`)));
      expect(keptMs.filter((ms) => ms > 0).length).toBeGreaterThanOrEqual(2);
    } finally {
      killLeftovers(sleep);
      await Promise.all(clients.map((client) => client.del(`${prefix}res`)));
    }
  });
});

describe('signals while the command runs', () => {
  it.each([
    ['SIGINT', 4],
    ['SIGTERM', 5],
    ['SIGHUP', 6],
    ['SIGQUIT', 7],
  ] as const)('passes %s to the process group of the command once (a Ctrl-C too), waits for it and exits with its status', async (signal, status) => {
    const ready = tempPath('ready');
    const log = tempPath('log');
    const name = signal.replace('SIG', '');
    const script = `trap 'kill $!; echo got >> "${log}"; exit ${status}' ${name}; echo > "${ready}"; sleep 60 & wait`;
    const cli = startRedlock(['res', '-c', script]);
    await untilWritten(ready);
    cli.child.kill(signal);
    expect((await cli.result).code).toBe(status);
    expect(await readFile(log, 'utf8')).toBe('got\n');
  });

  it('is not stopped by SIGTSTP (a Ctrl-Z), SIGTTIN or SIGTTOU, which would stop the extensions while the command runs on', async () => {
    const ready = tempPath('ready');
    const cli = startCli(['--prefix', prefix, 'res', '-c', `trap 'kill $!; exit 5' TERM; echo > "${ready}"; sleep 60 & wait`], nodesEnv(), { limitMs: 10_000 });
    await untilWritten(ready);
    for (const signal of ['SIGTSTP', 'SIGTTIN', 'SIGTTOU'] as const) cli.child.kill(signal);
    await delay(200);
    // A stopped redlock would hold this SIGTERM until the run limit kills it.
    cli.child.kill('SIGTERM');
    expect((await cli.result).code).toBe(5);
  });

  it('continues a command that stopped itself after passing it SIGTERM, as timeout(1) does, so that it gets it', async () => {
    const ready = tempPath('ready');
    const cli = startCli(['--prefix', prefix, 'res', '-c', `echo > "${ready}"; kill -STOP $$; exec sleep 60`], nodesEnv(), { limitMs: 10_000 });
    await untilWritten(ready);
    await delay(200);
    cli.child.kill('SIGTERM');
    expect((await cli.result).code).toBe(143);
  });

  it('exits 143 when the command dies of the SIGTERM passed to it', async () => {
    const ready = tempPath('ready');
    const cli = startRedlock(['res', '-c', `echo > "${ready}"; exec sleep 60`]);
    await untilWritten(ready);
    cli.child.kill('SIGTERM');
    expect((await cli.result).code).toBe(143);
  });
});

describe('bad configuration found on the nodes', () => {
  it('exits 78 when two URLs reach one server', async () => {
    const [first = ''] = servers.urls;
    // Another database of the same server is refused before connecting.
    const otherDatabase = await runCli(['--prefix', prefix, 'res', 'echo', 'must not run'], { REDLOCK_NODES: [first, `${first}/1`, 'redis://127.0.0.1:1'].join(',') });
    expect(otherDatabase).toMatchObject({ code: 78, stdout: '' });
    expect(otherDatabase.stderr).toContain('one server would count as two nodes');
    // Another spelling of its address (127.1 is 127.0.0.1) is found by the library's probe: the same run_id.
    // The third node refuses connections, so only the server's double vote could make a quorum: the probes
    // that find it answer before the acquire script on those two connections. (With a third node that
    // answers, a quorum of two distinct servers may be reached before the second probe is read.)
    const alias = first.replace('127.0.0.1', '127.1');
    const result = await runCli(['--prefix', prefix, 'res', 'echo', 'must not run'], { REDLOCK_NODES: [first, alias, 'redis://127.0.0.1:1'].join(',') });
    expect(result).toMatchObject({ code: 78, stdout: '' });
    expect(result.stderr).toContain('are the same Redis server');
  });

  it('exits 78 when the key of the lock holds something that is not a lock, and so does --inspect, saying why', async () => {
    await Promise.all(clients.map((client) => client.hset(`${prefix}res`, 'field', 'value')));
    try {
      const result = await redlock(['res', 'echo', 'must not run']);
      expect(result).toMatchObject({ code: 78, stdout: '' });
      expect(result.stderr).toContain('foreign key');
      expect(await redlock(['--inspect', 'res'])).toMatchObject({
        code: 78,
        stdout: 'res: not locked\n',
        stderr: 'redlock: on 3 of 3 nodes the key of "res" holds something that is not a lock: it cannot be acquired (see --prefix)\n',
      });
      // Even with -q: a configuration error is always said.
      expect(await redlock(['-q', '--inspect', '--permits', '2', 'res'])).toMatchObject({ code: 78, stderr: expect.stringContaining('is not a semaphore') });
      // On one node of three, a quorum can do without it: acquiring succeeds there, so --inspect only warns.
      await Promise.all(clients.slice(1).map((client) => client.del(`${prefix}res`)));
      expect(await redlock(['--inspect', 'res'])).toMatchObject({
        code: 0,
        stderr: 'redlock: on 1 of 3 nodes the key of "res" holds something that is not a lock: acquisitions go on without that node (see --prefix)\n',
      });
      expect(await redlock(['-n', 'res', 'echo', 'ran'])).toMatchObject({ code: 0, stdout: 'ran\n' });

    } finally {
      await Promise.all(clients.map((client) => client.del(`${prefix}res`)));
    }
  });
});

describe('passwords in node URLs', () => {
  const secret = 'hunter2-in-a-url';
  /** The test nodes, which need no password: ioredis sends AUTH and goes on when the server needs none. */
  const live = (index: number): string => `${servers.urls[index] ?? ''}?password=${secret}`;
  /** A node that is down, with a password in every form a user may give. */
  const downAt = (port: number): string => `redis://user:${secret}@127.0.0.1:${port}/0?password=${secret}&pass=${secret}&sentinelPassword=${secret}`;
  const down = async (): Promise<string> => downAt(await closedPort());

  it.each([
    ['-v with one node down', async () => [live(0), live(1), await down()], ['-v', '-n', 'res', 'true'], 0],
    ['-v with a majority down', async () => [live(0), ...(await closedPorts(2)).map(downAt)], ['-v', '-n', 'res', 'true'], 69],
    ['--inspect -v with one node down', async () => [live(0), live(1), await down()], ['-v', '--inspect', 'res'], 0],
    ['one node listed twice', async () => [live(0), live(0), live(1)], ['-n', 'res', 'true'], 78],
  ])('are never printed: %s', async (_, urlsOf, args, exitCode) => {
    const result = await runCli(['--prefix', prefix, ...args], { REDLOCK_NODES: (await urlsOf()).join(',') });
    expect(result.code).toBe(exitCode);
    // The URL is printed (redacted), so the test would see a password that leaked.
    expect(result.stderr).toContain('password=***');
    expect(`${result.stdout}${result.stderr}`).not.toContain(secret);
  });
});

/** The line after a usage error's (exit 64). */
const TRY_HELP = "Try 'redlock --help' for more information.\n";

describe('bad input', () => {
  it.each([
    [['res', 'true'], {}, 78, 'redlock: No Redis nodes: pass --nodes redis://host:port,... or set REDLOCK_NODES\n'],
    [['res', 'true'], { REDLOCK_NODES: 'localhost:6379' }, 78, 'redlock: Expected `REDLOCK_NODES` to list redis:// or rediss:// URLs, got `localhost:6379`: the scheme is localhost\n'],
    [['--ttl', '30000', 'res', 'true'], { REDLOCK_NODES: 'redis://10.255.255.1:6379' }, 64, `redlock: Expected \`--ttl\` to be a duration in whole milliseconds such as 500ms, 30s or 2m, got \`30000\`: a number needs a unit, \`30000s\` for seconds or \`30000ms\` for milliseconds\n${TRY_HELP}`],
    [['--frobnicate', 'res', 'true'], { REDLOCK_NODES: 'redis://10.255.255.1:6379' }, 64, `redlock: Unknown option '--frobnicate'\n${TRY_HELP}`],
    [[], {}, 64, `redlock: Expected a resource to lock, got none\n${TRY_HELP}`],
  ])('%j with %j exits %d with one line on stderr (and, for a usage error, where to read the usage), connecting nowhere', async (args, env, code, stderr) => {
    // 10.255.255.1 does not answer: a CLI that tried to connect would take its connect timeout.
    expect(await runCli(args, env)).toMatchObject({ code, stdout: '', stderr });
  });

  it('--help documents the options and every exit status', async () => {
    const result = await runCli(['--help'], {});
    expect(result.code).toBe(0);
    for (const text of ['--nodes', '--ttl', '--nonblock', '--timeout', '--conflict-exit-code', '--fencing', '--permits', '--read', '--write', '--kill-after', '--inspect']) {
      expect(result.stdout).toContain(text);
    }
    for (const code of ['64', '69', '75', '76', '78', '126', '127', '128+N']) expect(result.stdout).toMatch(new RegExp(`^  ${code.replace('+', '\\+')} `, 'm'));
  });
});
