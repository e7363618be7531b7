import { DEFAULT_KILL_AFTER_MS, DEFAULT_TTL_MS, NODES_VARIABLE } from './defaults.js';
import { formatDurationMs } from './duration.js';
import { EXIT_CODES } from './exit-codes.js';

/** What `redlock --help` prints: the forms, every option with its default, and every exit status. */
export const HELP_TEXT = `Usage: redlock [options] <resource> <command> [args...]
       redlock [options] <resource> -c '<shell command>'
       redlock [options] --inspect <resource>

Runs a command while holding a distributed lock on <resource> over independent Redis nodes (Redlock):
waits for the lock, keeps it extended while the command runs, releases it when the command exits. If the
lock is lost while the command runs, the command is stopped and redlock exits ${EXIT_CODES.lockLost}.

Options (before the resource; everything after it goes to the command untouched):
  --nodes <urls>             the Redis nodes: redis:// or rediss:// URLs separated by commas
                             (default: $${NODES_VARIABLE}); list them in the same order everywhere
  --prefix <text>            put before the resource to make the key (default: none)
  --restart-grace <duration> a node that restarted less than this long ago grants nothing: set it, in
                             every client of the nodes, to the longest TTL when they restart without
                             persistence (default: 0, none)
  --ttl <duration>           how long the nodes keep the lock unless extended; it is extended while
                             the command runs (at least 1s; default: ${formatDurationMs(DEFAULT_TTL_MS).replace(' ', '')})
  -n, --nonblock             try once: if the lock is held, exit ${EXIT_CODES.conflict} at once
  -w, --timeout <duration>   wait at most this long for the lock, then exit ${EXIT_CODES.conflict} (0: like -n;
                             default: wait as long as it takes)
  -E, --conflict-exit-code <status>
                             exit with this status instead of ${EXIT_CODES.conflict} when the lock is held or
                             the wait timed out
  --fencing                  also take a fencing token, passed to the command in REDLOCK_FENCING_TOKEN
  --fair                     take the lock in turn: while others wait, it goes to them in the order they
                             asked, across machines, and this command waits behind them (with -n, runs
                             only if nobody waits); other commands without --fair may still take it
                             first. Not with --permits, --read, --write or --elect
  --permits <N>              run while holding one of N permits of <resource> instead of its lock: at
                             most N such commands at once across machines (1 to 1000; every client of
                             <resource> must give the same N); with --inspect, count the permits in use
  --read                     run while holding the read lock of <resource> instead of its lock: any
                             number of --read commands at once, none while a --write one runs or waits
  --write                    run while holding the write lock of <resource>: alone, no --read or other
                             --write command meanwhile; with --inspect, --read or --write prints whether
                             it is write-locked, by how many readers, and whether a writer waits
  --elect                    run while leading the election <resource> instead of holding its lock:
                             one machine runs the command, the others wait as standbys and take over
                             when it ends or its leader dies (after --ttl); the term is passed in
                             REDLOCK_FENCING_TOKEN; with --inspect, print who leads and the term
  --value <text>             with --elect: who leads, for --inspect (default: <hostname>:<pid>)
  -k, --kill-after <duration>
                             time between SIGTERM and SIGKILL for the command's process group when the
                             lock is lost (cut short to the validity the lock had left), and for what the
                             command left running in its group when it exits (the lock is held until
                             then) (default: ${formatDurationMs(DEFAULT_KILL_AFTER_MS).replace(' ', '')})
  -c, --command <script>     (right after the resource) run the script with /bin/sh -c
  --inspect                  print whether <resource> is locked and for how long, then exit (see
                             --permits, --read, --write and --elect for the other kinds of lock)
  -v, --verbose              say what happens, on stderr
  -q, --quiet                print only usage and configuration errors (the status still tells)
  -h, --help                 print this help
  -V, --version              print the version

Durations are a number and a unit: 500ms, 30s, 1.5s, 2m, 1h (0 needs none).

The command gets redlock's stdin, stdout, stderr and environment, plus REDLOCK_RESOURCE (and
REDLOCK_FENCING_TOKEN with --fencing); never the lock's token. It runs in a process group and session of
its own (no controlling terminal). SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed once to every process of
that group (then SIGCONT); redlock then waits for the command, releases the lock and exits with its status;
SIGTSTP, SIGTTIN and SIGTTOU are ignored. If the lock is lost, the whole group is stopped. If redlock
itself is killed, a watcher kills the group at once. While redlock waits for the lock, any of these
signals stops the wait and leaves no key of its own on the nodes.

Exit status:
  <status>  the command's own status (128+N if signal N killed it)
  ${EXIT_CODES.usage}        usage error: unknown option, missing resource or command, bad value
  ${EXIT_CODES.unavailable}        no quorum of Redis nodes reachable (or fast enough for the TTL, or up longer
            than --restart-grace)
  ${EXIT_CODES.internal}        internal error
  ${EXIT_CODES.conflict}        the lock is held by another owner, or all N permits are, or the read-write
            lock is (by a writer, holding or waiting, for --read; by anyone for --write)
            (-n), or --timeout passed (see -E)
  ${EXIT_CODES.lockLost}        the lock was lost while the command ran; the command was stopped
  ${EXIT_CODES.configuration}        bad configuration: no nodes, a bad node URL, one server listed twice, a key
            at the lock's place that is not a lock (nor a semaphore with --permits, nor a
            read-write lock with --read/--write), a semaphore held with another --permits,
            found by --inspect too; a node whose ACL forbids the scripts (NOPERM)
  ${EXIT_CODES.cannotExecute}       the command could not be executed
  ${EXIT_CODES.notFound}       the command was not found
  128+N     interrupted by signal N while waiting for the lock (130 SIGINT, 143 SIGTERM)
`;

/**
 * `--help` (`-h`) or `--version` (`-V`) when it is the only argument, which needs no parsing: the same
 * request `parseCliArguments` makes of it, answered without loading the lock library.
 */
export function informationalRequestOf(argv: readonly string[]): { readonly kind: 'help' | 'version' } | undefined {
  if (argv.length !== 1) return undefined;
  const [flag] = argv;
  if (flag === '--help' || flag === '-h') return { kind: 'help' };
  if (flag === '--version' || flag === '-V') return { kind: 'version' };
  return undefined;
}
