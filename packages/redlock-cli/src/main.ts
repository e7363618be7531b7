#!/usr/bin/env node
// The `redlock` command: `redlock [options] <resource> <command> [args...]`; see `redlock --help`.
import { EXIT_CODES } from './exit-codes.js';
import { runCli } from './run-cli.js';

/**
 * How long the process may take to end by itself once everything is closed, in milliseconds. Nothing
 * should hold it; if a socket or timer still does, it exits anyway rather than keep a cron slot busy.
 */
const EXIT_GRACE_MS = 2_000;

// A reader that went away (EPIPE) or a terminal that hung up must not crash redlock before it released
// the lock: what it writes then is lost, and it goes on.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

// A promise chain, not a top-level await: the published command is one CommonJS file, in which the
// library is required only when a lock is taken (`--help` never loads it).
void runCli({ argv: process.argv.slice(2), env: process.env, stdout: process.stdout, stderr: process.stderr })
  .catch((error: unknown) => {
    process.stderr.write(`redlock: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_CODES.internal;
  })
  .then((exitCode) => {
    process.exitCode = exitCode;
    setTimeout(() => process.exit(exitCode), EXIT_GRACE_MS).unref();
  });
