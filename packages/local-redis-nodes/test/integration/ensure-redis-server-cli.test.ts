import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findRedisServer } from 'local-redis-nodes';

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built command, as npm links it: package.json's `bin`. */
const BIN_PATH = join(
  PACKAGE_DIR,
  (JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin['ensure-redis-server'] ?? '',
);

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node <bin> ...args` to completion, killed after 20 s. */
function runCli(args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN_PATH, ...args], { encoding: 'utf8', timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

describe('ensure-redis-server', () => {
  it('is a Node.js script npm can link as a command', () => {
    expect(readFileSync(BIN_PATH, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('prints the path and version of redis-server and exits with 0 when it is installed', async () => {
    const path = findRedisServer();
    expect(path).toBeDefined(); // the integration tests need it anyway
    const result = await runCli([]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(new RegExp(`^ensure-redis-server: using ${path} \\(Redis \\d+\\.\\d+\\.\\d+\\)$`, 'm'));
  });

  it('accepts --install, which changes nothing when redis-server is already there', async () => {
    const result = await runCli(['--install']);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(/apt-get/);
  });

  it('prints the usage and exits with 0 for --help', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: ensure-redis-server \[--install\]/);
  });

  it('rejects an unknown argument with exit code 2 and the usage on stderr', async () => {
    const result = await runCli(['--instal']);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/^ensure-redis-server: unknown argument "--instal"\n\nUsage:/);
  });
});
